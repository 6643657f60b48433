"""Who is scored at a cutoff: customers with qualifying history before it, whatever the customers table lists.

A hand-written purchase log and customers table, run through prepare as a user would (label.from_events, a
customers table, split.method time): a customer whose first purchase falls inside a label window is left out
of that period, counted in meta.json and warned, never labelled by his first purchase."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.params import DataParams, LabelParams, Params, SplitParams
from pipeline.core.schema import ID, TARGET
from pipeline.data.preparation import prepare

# Test cutoff T = 2026-03-01, horizon 30 days: training cutoff 2026-01-30 (window [01-30, 03-01)), test window
# [03-01, 03-31); the log's last event (2026-03-30) covers the test window.
CUTOFF, TRAIN_CUTOFF = "2026-03-01", "2026-01-30"
PURCHASES = [
    ("p1", "2025-12-01"), ("p1", "2026-02-10"), ("p1", "2026-03-30"),   # repeats in both periods
    ("p2", "2025-12-05"),                                               # never again
    ("p3", "2025-12-10"), ("p3", "2026-02-15"),                         # repeats in the training period only
    ("p4", "2025-12-20"), ("p4", "2026-03-20"),                         # in the test period only
    ("n1", "2026-02-05"), ("n1", "2026-03-05"),   # first purchase inside the training window
    ("n2", "2026-03-15"),                         # first purchase inside the test window
]
TABLE = ["p1", "p2", "p3", "p4", "n1", "n2", "z"]   # z: in the table, no event at all


def run(tmp_path: Path, events: list[tuple[str, str]] = PURCHASES, **label) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"customer_id": TABLE, "plan": ["a", "b", "a", "b", "a", "b", "a"]}).to_csv(
        tmp_path / "customers.csv", index=False)
    pd.DataFrame(events, columns=["customer_id", "timestamp"]).assign(amount=10.0).to_csv(
        tmp_path / "events.csv", index=False)
    params = Params(data=DataParams(source="files", customers=str(tmp_path / "customers.csv"),
                                    events=str(tmp_path / "events.csv"), event_type_column=None),
                    label=LabelParams(**{"from_events": True, "kind": "repeat", "horizon_days": 30,
                                         "cutoff": CUTOFF, **label}),
                    split=SplitParams(method="time"))
    data = prepare(params)
    return {"train": data.train, "test": data.test, "events": data.events, "meta": data.meta}


def labels(frame: pd.DataFrame) -> dict[str, int]:
    return dict(zip(frame[ID], frame[TARGET].astype(int)))


def test_a_first_purchase_inside_the_window_is_not_a_repeat_in_either_period(tmp_path):
    got = run(tmp_path)
    # Today n1 is a "repeat" at the training cutoff and n2 at the test cutoff, by their first purchase.
    assert labels(got["train"]) == {"p1": 1, "p2": 0, "p3": 1, "p4": 0}
    assert labels(got["test"]) == {"p1": 1, "p2": 0, "p3": 0, "p4": 1, "n1": 1}   # n1 has history by then
    label = got["meta"]["label"]
    assert label["left_out_no_history"] == {"train": 3, "test": 2}   # n1, n2, z; then n2, z
    assert label["left_out_short_history"] == {"train": 0, "test": 0}
    warned = [w for w in got["meta"]["warnings"] if "without qualifying history" in w]
    assert len(warned) == 2 and all("a repeat presupposes a first event before the cutoff" in w for w in warned)
    assert f"train cutoff {TRAIN_CUTOFF}" in warned[0] and f"test cutoff {CUTOFF}" in warned[1]


def test_churn_needs_the_watched_activity_before_the_cutoff(tmp_path):
    """churn of purchases: a customer who only logged in before the cutoff has no purchases to stop."""
    typed = [(c, t, "purchase") for c, t in PURCHASES] + [("z", "2025-11-01", "login"), ("z", "2026-03-02", "login")]
    root = tmp_path / "typed"
    root.mkdir()
    pd.DataFrame(typed, columns=["customer_id", "timestamp", "event_type"]).to_csv(root / "events.csv", index=False)
    pd.DataFrame({"customer_id": TABLE, "plan": ["a", "b", "a", "b", "a", "b", "a"]}).to_csv(
        root / "customers.csv", index=False)
    params = Params(data=DataParams(source="files", customers=str(root / "customers.csv"),
                                    events=str(root / "events.csv")),
                    label=LabelParams(from_events=True, kind="churn", horizon_days=30, cutoff=CUTOFF,
                                      event_types=["purchase"]),
                    split=SplitParams(method="time"))
    data = prepare(params)
    # Today z is a churner at both cutoffs (no purchase in either window), though he never purchased.
    assert "z" not in set(data.train[ID]) | set(data.test[ID])
    assert labels(data.test) == {"p1": 0, "p2": 1, "p3": 1, "p4": 0, "n1": 0}
    assert data.meta["label"]["left_out_no_history"] == {"train": 3, "test": 2}
    assert any("churn presupposes activity (purchase event) before the cutoff" in w for w in data.meta["warnings"])


def test_min_history_days_still_leaves_out_young_customers_with_its_own_warning(tmp_path):
    # p1..p4 have 41+ days of history before the training cutoff and 71+ before the test one; n1 has 24 there.
    got = run(tmp_path, min_history_days=30)
    assert set(got["test"][ID]) == {"p1", "p2", "p3", "p4"}
    label = got["meta"]["label"]
    assert label["left_out_short_history"] == {"train": 0, "test": 1}
    assert label["left_out_no_history"] == {"train": 3, "test": 2}
    assert any("1 customers with less than 30 days of history before the test cutoff" in w
               and "label.min_history_days" in w for w in got["meta"]["warnings"])


def changed(drop: set[tuple[str, str]], add: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [e for e in PURCHASES if e not in drop] + add


# Per change: events at or after the test cutoff (late) and inside the training window [T - horizon, T) (early).
# Each may change labels, never who is scored at the cutoff it follows.
CHANGES = {
    "add": (changed(set(), [("z", CUTOFF), ("n2", "2026-03-01 00:00:00"), ("p2", "2026-03-29")]),
            changed(set(), [("z", TRAIN_CUTOFF), ("n2", "2026-02-20"), ("p4", "2026-02-01")])),
    "alter": (changed({("n2", "2026-03-15"), ("p4", "2026-03-20")}, [("n2", "2026-03-03"), ("p4", CUTOFF)]),
              changed({("n1", "2026-02-05"), ("p3", "2026-02-15")}, [("n1", TRAIN_CUTOFF), ("p3", "2026-02-28")])),
    "remove": (changed({("n2", "2026-03-15"), ("p4", "2026-03-20")}, []),
               changed({("n1", "2026-02-05"), ("p3", "2026-02-15")}, [])),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_events_at_or_after_a_cutoff_never_change_who_is_scored_there(tmp_path, change):
    """Leakage rule 5 for membership: the customers scored at a cutoff, their static columns, the kept events
    before that cutoff and the counts left out move with nothing at or after it; only labels may."""
    late, early = CHANGES[change]
    base = run(tmp_path / "base")
    got = run(tmp_path / "late", late)
    for split in ("train", "test"):
        pd.testing.assert_frame_equal(got[split].drop(columns=TARGET), base[split].drop(columns=TARGET))
    pd.testing.assert_frame_equal(got["events"], base["events"])
    assert got["meta"]["label"]["left_out_no_history"] == base["meta"]["label"]["left_out_no_history"]
    got = run(tmp_path / "early", early)
    pd.testing.assert_frame_equal(got["train"].drop(columns=TARGET), base["train"].drop(columns=TARGET))
    before = {name: d["events"][d["events"]["timestamp"] < TRAIN_CUTOFF].reset_index(drop=True)
              for name, d in (("got", got), ("base", base))}
    pd.testing.assert_frame_equal(before["got"], before["base"])
    assert got["meta"]["label"]["left_out_no_history"]["train"] == base["meta"]["label"]["left_out_no_history"]["train"]
