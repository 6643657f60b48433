"""A long event log validated chunk by chunk and sorted on disk gives what the in-memory path gives."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_customers, make_events

from pipeline.core.errors import InputError
from pipeline.core.io import read_json, read_table
from pipeline.core.params import load_params
from pipeline.core.schema import ID
from pipeline.data.event_chunks import EventChunks, read_events
from pipeline.data.preparation import prepare
from pipeline.data.prepared import write_prepared


def messy_log(ids: list[str]) -> pd.DataFrame:
    """Ties in time (file order must survive the sort), unknown customers, events after the cutoff, a value column
    empty in every row, blank types and a value column with blanks."""
    events = make_events(ids, per_customer=4, seed=3)
    events.loc[events.index % 4 < 3, "timestamp"] = "2025-03-01 10:00:00"   # 3 same-time events per customer
    events = events.iloc[::-1].reset_index(drop=True)               # later file rows first: ties keep file order
    events.loc[::11, "event_type"] = None
    events.loc[::5, "amount"] = np.nan
    events["note"] = np.nan                                          # empty in every row: dropped, warned once
    events.loc[3, "customer_id"] = "99999"                           # unknown customers: dropped and counted
    events.loc[50, "customer_id"] = "99998"
    events.loc[[8, 9, 90], "timestamp"] = "2025-09-01 00:00:00"      # after the cutoff
    return events


@pytest.fixture
def prepared(tmp_path, write_table, write_params):
    """prepare() on the same files, whole and in chunks of `rows` rows: (meta, events) of each."""
    customers = make_customers(40)
    events = messy_log(customers["customer_id"].tolist())

    def run(rows: int, suffix: str) -> tuple[dict, pd.DataFrame]:
        cust, ev = write_table(customers, f"customers{suffix}"), write_table(events, f"events{suffix}")
        params = write_params(f"params{rows}{suffix}.yaml", seed=1, data={
            "source": "files", "customers": str(cust), "events": str(ev), "cutoff": "2025-08-01",
            "event_chunk_rows": rows})
        scratch = tmp_path / f"scratch{rows}{suffix}"
        scratch.mkdir()
        out = tmp_path / f"out{rows}{suffix}"
        write_prepared(prepare(load_params(params), scratch), out)
        return read_json(out / "meta.json"), read_table(out / "events.parquet", "prepared events", (ID,))
    return run


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunked_log_equals_the_whole_log(prepared, suffix):
    whole_meta, whole = prepared(10_000, suffix)
    chunked_meta, chunked = prepared(17, suffix)            # 160 events in 10 chunks
    pd.testing.assert_frame_equal(chunked, whole)
    assert whole_meta["dropped"]["events_unknown_customer"] == 2 and whole_meta["dropped"]["events_after_cutoff"] == 3
    assert whole_meta["dropped"]["columns_all_missing"] == ["note (events)"]
    assert chunked_meta == whole_meta                       # counts, warnings, types, as_of, event_numeric


def test_only_a_log_longer_than_one_chunk_is_chunked(tmp_path):
    events = make_events([f"{i:05d}" for i in range(10)], per_customer=3)
    path = tmp_path / "events.parquet"
    events.to_parquet(path, index=False)
    assert isinstance(read_events(path, "customer_id", 30), pd.DataFrame)
    chunks = read_events(path, "customer_id", 7)
    assert isinstance(chunks, EventChunks) and chunks.columns == list(events.columns)
    frames = list(chunks.chunks)
    assert [len(f) for f in frames] == [7, 7, 7, 7, 2]
    assert frames[2].index.tolist() == list(range(14, 21))   # file rows: messages name them
    with pytest.raises(InputError, match="event_chunk_rows must be at least 1"):
        read_events(path, "customer_id", 0)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_bad_row_in_a_later_chunk_is_named_by_its_file_row(suffix, tmp_path, write_table, write_params):
    customers = make_customers(20)
    events = make_events(customers["customer_id"].tolist(), per_customer=3)
    events.loc[46, "timestamp"] = "someday"                  # file row 47, in the 5th chunk of 10
    cust, ev = write_table(customers, f"customers{suffix}"), write_table(events, f"events{suffix}")
    params = write_params(data={"source": "files", "customers": str(cust), "events": str(ev), "event_chunk_rows": 10})
    with pytest.raises(InputError, match=r"'timestamp' has missing or unparsable timestamps at rows \[47\]"):
        prepare(load_params(params), tmp_path)


def test_decisions_over_the_whole_log_are_taken_once(tmp_path, write_table, write_params):
    customers = make_customers(20)
    events = make_events(customers["customer_id"].tolist(), per_customer=3)
    cust = write_table(customers, "customers.csv")

    def run(frame: pd.DataFrame, **data) -> None:
        ev = write_table(frame, "events.csv")
        params = write_params(data={"source": "files", "customers": str(cust), "events": str(ev),
                                    "event_chunk_rows": 8, **data})
        prepare(load_params(params), tmp_path)

    mismatched = events.assign(customer_id="x" + events["customer_id"])      # every chunk alone would be all-unknown
    mismatched.loc[:40, "customer_id"] = events.loc[:40, "customer_id"]      # 31 % of the whole log unknown
    with pytest.raises(InputError, match=r"19 of 60 events \(32%\) have a 'customer_id' that matches no customer"):
        run(mismatched)
    with pytest.raises(InputError, match="all 60 events are at/after the cutoff"):
        run(events, cutoff="2024-01-01")


def run_both(tmp_path, write_table, write_params, events: pd.DataFrame, suffix: str, **data):
    """prepare() on the same log whole and in chunks of 17 rows: [(meta, events)] of each."""
    customers = make_customers(60)
    out = []
    for rows in (10_000, 17):
        cust, ev = write_table(customers, f"customers{suffix}"), write_table(events, f"events{suffix}")
        params = write_params(f"params{rows}.yaml", seed=1, data={
            "source": "files", "customers": str(cust), "events": str(ev), "event_chunk_rows": rows, **data})
        (tmp_path / f"scratch{rows}").mkdir(exist_ok=True)
        write_prepared(prepare(load_params(params), tmp_path / f"scratch{rows}"), tmp_path / f"out{rows}")
        out.append((read_json(tmp_path / f"out{rows}" / "meta.json"),
                    read_table(tmp_path / f"out{rows}" / "events.parquet", "prepared events", (ID,))))
    return out


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_implausible_times_offsets_and_duplicates_in_chunks_equal_the_whole_log(suffix, tmp_path, write_table,
                                                                                 write_params):
    events = make_events(make_customers(60)["customer_id"].tolist(), per_customer=5, seed=4)   # 300 events
    events.loc[10, "timestamp"] = "1899-12-30"             # Excel's day zero (chunk 1)
    events.loc[200, "timestamp"] = "2099-01-01 00:00:00"   # the future (chunk 12)
    events.loc[250, "timestamp"] = "1952-06-01 00:00:00"   # far before the bulk: only the whole log tells
    events.loc[100:119, "timestamp"] = events.loc[100:119, "timestamp"] + "Z"   # offsets in some chunks only
    events.loc[61] = events.loc[60]                        # one exact duplicate: kept, counted
    (whole_meta, whole), (chunked_meta, chunked) = run_both(tmp_path, write_table, write_params, events, suffix)
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked_meta == whole_meta
    assert whole_meta["dropped"]["events_implausible_time"] == 3 and len(whole) == 297
    assert whole_meta["dropped"]["duplicate_event_rows"] == 1 and whole_meta["dropped"]["events_duplicate_dropped"] == 0
    assert whole_meta["timestamp_format"] == "ISO8601"
    warnings = " ".join(whole_meta["warnings"])
    assert "at rows [11]: ['1899-12-30 00:00:00']" in warnings
    assert "at rows [201]: ['2099-01-01 00:00:00']" in warnings and "at rows [251]: ['1952-06-01 00:00:00']" in warnings
    assert "mixes times with a UTC offset (20, rows [101, 102, 103, 104, 105] (+15 more))" in warnings
    assert "1 event rows repeat an earlier row in every column (rows [62])" in warnings


def test_a_log_exported_twice_is_deduplicated_in_chunks_as_in_memory(tmp_path, write_table, write_params):
    events = make_events(make_customers(60)["customer_id"].tolist(), per_customer=2, seed=4)
    twice = pd.concat([events, events], ignore_index=True)
    (whole_meta, whole), (chunked_meta, chunked) = run_both(tmp_path, write_table, write_params, twice, ".csv")
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked_meta == whole_meta and len(whole) == 120
    assert whole_meta["dropped"]["duplicate_event_rows"] == 120 == whole_meta["dropped"]["events_duplicate_dropped"]


def test_the_first_chunk_decides_the_format_and_later_chunks_hold_it(tmp_path, write_table, write_params):
    events = make_events(make_customers(60)["customer_id"].tolist(), per_customer=2, seed=4)
    events["timestamp"] = pd.to_datetime(events["timestamp"]).dt.strftime("%d/%m/%Y %H:%M")
    events.loc[0, "timestamp"] = "20/01/2025 10:00"       # a day > 12 in the first chunk: day-first
    (whole_meta, whole), (chunked_meta, chunked) = run_both(tmp_path, write_table, write_params, events, ".csv")
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked_meta == whole_meta and whole_meta["timestamp_format"] == "day-first"
    events.loc[45, "timestamp"] = "04/13/2025 10:00"      # file row 46, in the third chunk: month-first
    with pytest.raises(InputError, match=r"column 'timestamp' is day-first \(decided on rows 1-17\) but rows \[46\] "
                                         r"hold month-first dates: \['04/13/2025 10:00'\]"):
        run_both(tmp_path, write_table, write_params, events, ".csv", event_chunk_rows=17)
