"""duckdb_aggregates: the same ev_* table as EventAggregator.transform, from a frame or a Parquet scan."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import hand_event_log as hand_log

from pipeline.core.errors import InputError
from pipeline.events.aggregates import EventAggregator
from pipeline.events.aggregates_sql import duckdb_aggregates, duckdb_fit


AS_OF = pd.Timestamp("2024-01-31")


def messy_log(seed: int = 0, customers: int = 300) -> pd.DataFrame:
    """Shuffled events with timestamp ties, events at/after as_of, NaN/inf amounts, missing and rare types."""
    rng = np.random.default_rng(seed)
    n = customers * 12
    ids = np.array([f"c{i:04d}" for i in range(customers)])[rng.integers(0, customers, n)]
    ts = AS_OF - pd.to_timedelta(rng.integers(-20, 400, n), unit="D") + pd.to_timedelta(rng.integers(0, 3, n), unit="h")
    types = rng.choice(["visit", "purchase", "support", "refund", "rare_one", None], n, p=[.4, .25, .15, .1, .05, .05])
    amount = np.round(rng.lognormal(3, 1, n), 2)
    amount[rng.random(n) < 0.3] = np.nan
    amount[rng.random(n) < 0.01] = np.inf
    frame = pd.DataFrame({"customer_id": ids, "timestamp": ts, "event_type": types, "amount": amount,
                          "quantity": rng.integers(1, 5, n).astype(np.int64)})
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def both(events: pd.DataFrame, fit_ids, ids, as_of=AS_OF, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    agg = EventAggregator(**kwargs).fit(events, as_of, customer_ids=fit_ids)
    return agg.transform(events, ids, as_of), duckdb_aggregates(agg, events, ids, as_of)


def assert_same(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert list(got.index) == list(expected.index) and got.index.name == expected.index.name
    assert (got.dtypes == np.float64).all()
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-9)


def test_hand_log_matches_pandas() -> None:
    expected, got = both(hand_log(), None, ["a", "b", "c", "d"])
    assert_same(expected, got)


def test_messy_log_matches_pandas_for_unseen_customers_and_types() -> None:
    events = messy_log()
    train = [f"c{i:04d}" for i in range(0, 300, 2)]
    # test customers in a scrambled order, one never seen in the log, vocabulary cut to 3 types (+ other)
    ids = [f"c{i:04d}" for i in range(299, 0, -2)] + ["nobody"]
    expected, got = both(events, train, ids, windows_days=(7, 30, 90), max_event_types=3)
    assert expected["ev_count__other"].sum() > 0 and expected.loc["nobody", "ev_has_events"] == 0
    assert_same(expected, got)


def test_log_without_types_or_values_matches_pandas() -> None:
    events = messy_log(seed=1)[["customer_id", "timestamp"]]
    ids = [f"c{i:04d}" for i in range(300)]
    assert_same(*both(events, None, ids))


def test_parquet_file_and_folder_match_the_frame(tmp_path) -> None:
    events = messy_log(seed=2)
    ids = [f"c{i:04d}" for i in range(300)]
    agg = EventAggregator(windows_days=(30,)).fit(events, AS_OF)
    expected = agg.transform(events, ids, AS_OF)
    events.to_parquet(tmp_path / "events.parquet", index=False)
    folder = tmp_path / "parts"
    folder.mkdir()
    for k, start in enumerate(range(0, len(events), 1300)):
        events.iloc[start:start + 1300].to_parquet(folder / f"part{k}.parquet", index=False)
    assert_same(expected, duckdb_aggregates(agg, tmp_path / "events.parquet", ids, AS_OF, memory_limit="256MB"))
    assert_same(expected, duckdb_aggregates(agg, folder, ids, AS_OF, threads=1))


def test_events_at_or_after_as_of_change_nothing() -> None:
    events = messy_log(seed=3)
    ids = [f"c{i:04d}" for i in range(300)]
    agg = EventAggregator().fit(events, AS_OF)
    before = duckdb_aggregates(agg, events[events["timestamp"] < AS_OF], ids, AS_OF)
    pd.testing.assert_frame_equal(duckdb_aggregates(agg, events, ids, AS_OF), before)


def test_missing_columns_and_files_are_clear_errors(tmp_path) -> None:
    events = messy_log(seed=4)
    agg = EventAggregator().fit(events, AS_OF)
    with pytest.raises(InputError, match="quantity"):
        duckdb_aggregates(agg, events.drop(columns="quantity"), ["c0001"], AS_OF)
    with pytest.raises(InputError, match="no such event file"):
        duckdb_aggregates(agg, tmp_path / "missing.parquet", ["c0001"], AS_OF)
    with pytest.raises(InputError, match="unique"):
        duckdb_aggregates(agg, events, ["c0001", "c0001"], AS_OF)


@pytest.mark.parametrize("columns", [None, ["customer_id", "timestamp", "amount"]])
def test_fit_out_of_core_learns_the_same_state(tmp_path, columns) -> None:
    events = messy_log(seed=5)
    events = events if columns is None else events[columns]
    train = [f"c{i:04d}" for i in range(0, 300, 3)]
    events.to_parquet(tmp_path / "events.parquet", index=False)
    expected = EventAggregator(max_event_types=3).fit(events, AS_OF, customer_ids=train)
    got = duckdb_fit(EventAggregator(max_event_types=3), tmp_path / "events.parquet", AS_OF, customer_ids=train)
    state = {k: v for k, v in vars(expected).items() if k.endswith("_")}
    assert state and {k: v for k, v in vars(got).items() if k.endswith("_")} == state
    whole = duckdb_fit(EventAggregator(), events, AS_OF)
    assert whole.history_start_ns_ == EventAggregator().fit(events, AS_OF).history_start_ns_


def test_fit_on_no_kept_events_starts_the_history_at_as_of() -> None:
    events = messy_log(seed=6)
    late = events[events["timestamp"] >= AS_OF]
    expected = EventAggregator().fit(late, AS_OF)
    got = duckdb_fit(EventAggregator(), late, AS_OF)
    assert got.history_start_ns_ == expected.history_start_ns_ and got.vocabulary_ == expected.vocabulary_ == []
