"""Labels built from the event log: hand-checked windows, boundaries, customers, and the one-line errors."""
from __future__ import annotations

import pandas as pd
import pytest

from pipeline.core.errors import InputError
from pipeline.core.params import LabelParams
from pipeline.core.schema import EVENT_TYPE, ID, TARGET, TIMESTAMP
from pipeline.labels import outcome, window

CUTOFF = pd.Timestamp("2026-01-01")
HORIZON = pd.Timedelta(days=30)


def log(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame({ID: [r[0] for r in rows], TIMESTAMP: pd.to_datetime([r[1] for r in rows], format="ISO8601"),
                         EVENT_TYPE: [r[2] for r in rows]})


# a: an event exactly AT the cutoff (inside the window); b: only one exactly at cutoff + horizon (outside);
# c: a purchase inside; d: only a login inside; e: history only; f: events only after the cutoff (no history);
# g: a purchase before and one inside.
EVENTS = log([
    ("a", "2025-12-01", "login"), ("a", "2026-01-01 00:00:00", "login"),
    ("b", "2025-11-15", "purchase"), ("b", "2026-01-31 00:00:00", "purchase"),
    ("c", "2025-12-20", "login"), ("c", "2026-01-30 23:59:59", "purchase"),
    ("d", "2025-06-01", "purchase"), ("d", "2026-01-10", "login"),
    ("e", "2025-12-31 23:59:59", "login"),
    ("f", "2026-01-05", "purchase"),
    ("g", "2025-12-15", "purchase"), ("g", "2026-01-15", "purchase"),
])


def labels_of(p: LabelParams, ids=None) -> dict[str, int]:
    got = outcome.label_at(EVENTS, CUTOFF, HORIZON, p, ids).frame
    return dict(zip(got[ID], got[TARGET].astype(int)))


def test_churn_counts_an_event_at_the_cutoff_and_not_one_at_the_window_end():
    assert labels_of(LabelParams(kind="churn")) == {"a": 0, "b": 1, "c": 0, "d": 0, "e": 1, "g": 0}


def test_repeat_with_event_types_counts_only_the_qualifying_events_and_needs_one_before_the_cutoff():
    # a, c and e bought nothing before the cutoff: c's first purchase, inside the window, is no repeat.
    got = outcome.label_at(EVENTS, CUTOFF, HORIZON, LabelParams(kind="repeat", event_types=["purchase"]))
    assert dict(zip(got.frame[ID], got.frame[TARGET])) == {"b": 0, "d": 0, "g": 1} and got.no_history == 3
    # churn of purchases likewise presupposes purchases; an event label (a first upgrade, say) needs any event.
    assert labels_of(LabelParams(kind="churn", event_types=["purchase"])) == {"b": 1, "d": 1, "g": 0}
    assert labels_of(LabelParams(kind="event", event_types=["login"])) == \
        {"a": 1, "b": 0, "c": 0, "d": 1, "e": 0, "g": 0}


def test_customers_are_those_with_history_among_the_tables_rows():
    # f has no event before the cutoff, so it is not a customer of the log at the cutoff ...
    assert "f" not in labels_of(LabelParams())
    # ... nor of a customers table (nor z, who has no event at all): the table restricts, never adds.
    got = outcome.label_at(EVENTS, CUTOFF, HORIZON, LabelParams(), pd.Series(["f", "z", "a"]))
    assert dict(zip(got.frame[ID], got.frame[TARGET])) == {"a": 0} and got.no_history == 2
    for kind, types in (("repeat", None), ("event", ["purchase"])):
        got = outcome.label_at(EVENTS, CUTOFF, HORIZON, LabelParams(kind=kind, event_types=types),
                               pd.Series(["f", "z", "a"]))
        assert list(got.frame[ID]) == ["a"] and got.no_history == 2


def test_min_history_days_leaves_out_young_customers():
    got = outcome.label_at(EVENTS, CUTOFF, HORIZON, LabelParams(min_history_days=31))
    # first events: a 2025-12-01 (31 days), b 47, c 12, d 214, e 1, g 17 days before the cutoff
    assert sorted(got.frame[ID]) == ["a", "b", "d"] and got.short_history == 3 and got.no_history == 0


def test_the_cutoff_defaults_to_the_latest_the_log_covers_and_time_splits_go_one_horizon_back():
    w = window.resolve(LabelParams(horizon_days=30), EVENTS[TIMESTAMP], "random", "events.csv")
    assert w.test == pd.Timestamp("2026-02-01") - HORIZON == w.train     # the log's last day is 2026-01-31
    w = window.resolve(LabelParams(horizon_days=30, cutoff="2026-01-01"), EVENTS[TIMESTAMP], "time", "events.csv")
    assert (w.train, w.test, w.out_of_time) == (pd.Timestamp("2025-12-02"), CUTOFF, True)


@pytest.mark.parametrize("params, method, message", [
    (LabelParams(horizon_days=40, cutoff="2026-01-01"), "random", "runs past the end of the log"),
    (LabelParams(cutoff="2025-06-01"), "random", "is not after the log's first event"),
    (LabelParams(horizon_days=100, cutoff="2025-09-01"), "time", "training cutoff"),
])
def test_windows_outside_the_log_are_one_line_errors(params, method, message):
    with pytest.raises(InputError, match=message) as err:
        window.resolve(params, EVENTS[TIMESTAMP], method, "events.csv")
    assert "events.csv" in str(err.value) and "\n" not in str(err.value)


def test_unknown_event_types_kinds_and_one_class_labels_are_errors():
    with pytest.raises(InputError, match=r"\['purchases'\] do not occur"):
        window.check_event_types(LabelParams(event_types=["purchases"]), EVENTS, True, "events.csv")
    with pytest.raises(InputError, match="needs label.event_types"):
        window.check_params(LabelParams(kind="event"), "random")
    with pytest.raises(InputError, match="label.kind"):
        window.check_params(LabelParams(kind="churned"), "random")
    with pytest.raises(InputError, match="split.method"):
        window.check_params(LabelParams(), "future")
    active = outcome.label_at(EVENTS, CUTOFF, HORIZON, LabelParams(), pd.Series(["a", "c", "d"]))
    with pytest.raises(InputError, match="has no positives among 3 customers"):
        outcome.check_classes(active, CUTOFF, LabelParams(), "events.csv", "train")


@pytest.mark.parametrize("label, split, data, message", [
    ({}, {"method": "time"}, {}, "split.method 'time' needs a label built from the event log"),
    ({"from_events": True}, {}, {"cutoff": "2026-01-01"}, "the cutoff is label.cutoff; set data.cutoff to null"),
    ({"from_events": True}, {"column": "fold"}, {}, "split.column cannot be combined with label.from_events"),
    ({"from_events": True, "event_types": ["refund"]}, {}, {}, r"label.event_types \['refund'\] do not occur"),
])
def test_prepare_refuses_labels_it_cannot_build_honestly(label, split, data, message):
    from pipeline.core.params import DataParams, Params, SplitParams, SyntheticParams
    from pipeline.data.preparation import prepare

    params = Params(data=DataParams(synthetic=SyntheticParams(n_customers=200), **data),
                    label=LabelParams(**label), split=SplitParams(**split))
    with pytest.raises(InputError, match=message):
        prepare(params)


def test_a_files_run_without_customers_or_events_says_what_is_missing(tmp_path):
    from pipeline.core.params import DataParams, Params
    from pipeline.data.preparation import prepare

    with pytest.raises(InputError, match="data.customers is null; a customers table is needed unless"):
        prepare(Params(data=DataParams(source="files", customers=None, events=None)))
    with pytest.raises(InputError, match="there is none"):
        prepare(Params(data=DataParams(source="files", customers=None, events=None), label=LabelParams(from_events=True)))
