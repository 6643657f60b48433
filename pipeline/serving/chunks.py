"""Bounded-memory reading for batch scoring: customers in chunks, events partitioned to match them.

A customers file is read `size` rows at a time (pandas chunks for CSV, pyarrow batches for Parquet).
The event log is read once in batches and each event is appended to the temp file of the chunk its
customer is in (CSV events stay text, so each part is parsed exactly as the whole file would be;
Parquet parts keep the file's types). Scoring chunk i then reads customers chunk i and event part i:
memory is bounded by the chunk size, not by the file size.
"""
from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import InputError, show_values
from pipeline.core.io import read_table
from pipeline.data.validate_customers import clean_ids, columns_hint, distinct, rows_where
from pipeline.data.validate_events import parse_timestamps

log = logging.getLogger(__name__)

EVENT_BATCH = 1_000_000


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def columns_of(path: Path, role: str) -> list[str]:
    """The header, read without the rows (read_table's checks for a missing/empty/odd file first)."""
    if not path.is_file() or path.stat().st_size == 0 or path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        read_table(path, role)    # raises its one-line InputError
    if _is_csv(path):
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    return list(pq.ParquetFile(path).schema_arrow.names)


def read_id_column(path: Path, column: str, role: str) -> pd.Series:
    """The file's id column alone, as stripped text, checked blank-free (an event log repeats ids)."""
    if column not in (names := columns_of(path, role)):
        raise InputError(f"{path}: id column '{column}' not found (params data.id_column); columns are {columns_hint(names)}.")
    if _is_csv(path):
        raw = pd.read_csv(path, usecols=[column], dtype={column: str})[column]
    else:
        raw = pq.read_table(path, columns=[column]).column(0).to_pandas().astype("string")
    return clean_ids(raw, str(path), column)


def read_ids(path: Path, column: str, role: str) -> pd.Series:
    """Every id of the customers file, as stripped text, checked blank-free and unique."""
    ids = read_id_column(path, column, role)
    if (dup := ids.duplicated(keep=False)).any():
        raise InputError(f"{path}: column '{column}' has duplicate customer ids {show_values(distinct(ids[dup]))} at "
                         f"rows {rows_where(dup)[:5]}; each customer must appear once.")
    return ids


def iter_customers(path: Path, column: str, size: int) -> Iterator[pd.DataFrame]:
    """The customers file `size` rows at a time, ids as text (like read_table); each chunk's RangeIndex starts at
    its first row's position in the file, so messages name file rows."""
    if _is_csv(path):
        yield from pd.read_csv(path, dtype={column: str}, chunksize=size)   # pandas continues the index
        return
    start = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=size):
        frame = batch.to_pandas().set_axis(pd.RangeIndex(start, start + batch.num_rows))
        frame[column] = frame[column].astype("string").astype(object).where(frame[column].notna(), None)
        start += len(frame)
        yield frame


@dataclass
class EventParts:
    paths: list[Path]           # one file per customers chunk (may hold no rows)
    n_events: int
    n_unknown: int              # events whose id matches no customer
    latest: pd.Timestamp | None  # latest parsed timestamp (only when asked for)


def _batches(path: Path) -> Iterator[pd.DataFrame]:
    """The event log in batches, each indexed by its rows' positions in the file."""
    if _is_csv(path):   # text in, text out: the parts parse exactly like the whole file
        yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=EVENT_BATCH)
        return
    start = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=EVENT_BATCH):
        yield batch.to_pandas().set_axis(pd.RangeIndex(start, start + batch.num_rows))
        start += batch.num_rows


def partition_events(path: Path, ids: pd.Series, size: int, workdir: Path, id_column: str,
                     timestamp_column: str | None = None) -> EventParts:
    """Split the event log by the customers chunk of each event's id (unknown ids are counted, not kept)."""
    header = columns_of(path, "events")
    if id_column not in header:
        raise InputError(f"{path}: id column '{id_column}' not found (params data.id_column); columns are {columns_hint(header)}.")
    position = pd.Index(ids.to_numpy())
    n_parts = max(1, -(-len(ids) // size))
    suffix = ".csv" if _is_csv(path) else ".parquet"
    paths = [workdir / f"events_{i:05d}{suffix}" for i in range(n_parts)]
    writers: dict[int, object] = {}
    n_events = n_unknown = start = 0
    latest = None
    try:
        for batch in _batches(path):
            label = f"{path} (rows {start + 1:,}-{start + len(batch):,})"
            batch_ids = clean_ids(batch[id_column], label, id_column)
            part = position.get_indexer(batch_ids.to_numpy())
            n_unknown += int((part < 0).sum())
            if timestamp_column is not None and timestamp_column in batch.columns:
                stamps = parse_timestamps(batch[timestamp_column], label, timestamp_column)
                latest = stamps.max() if latest is None else max(latest, stamps.max())
            part = np.where(part >= 0, part // size, -1)
            for i in np.unique(part[part >= 0]):
                _append(writers, i, paths[i], batch[part == i])
            n_events, start = n_events + len(batch), start + len(batch)
    finally:
        for writer in writers.values():
            writer.close()
    for i, p in enumerate(paths):
        if i not in writers:   # a chunk with no events: an empty part with the header only
            _append({}, i, p, pd.DataFrame(columns=header), close=True)
    return EventParts(paths, n_events, n_unknown, latest)


def check_unknown(parts: EventParts, limit: float, id_column: str, path: Path, customers: Path) -> None:
    """The rule of validate_events: a few events of unknown customers are dropped (warned), many are an error."""
    if not parts.n_unknown:
        return
    share = parts.n_unknown / parts.n_events
    if share > limit or parts.n_unknown == parts.n_events:
        raise InputError(f"{path}: {parts.n_unknown:,} of {parts.n_events:,} events ({share:.0%}) have a "
                         f"'{id_column}' that matches no customer in {customers} (allowed: "
                         f"data.max_unmatched_event_share={limit}); check that both files use the same id format.")
    log.warning("%s: dropped %s events (%.1f%%) of customers not in %s.", path, f"{parts.n_unknown:,}",
                100 * share, customers)


def _append(writers: dict, i: int, path: Path, rows: pd.DataFrame, close: bool = False) -> None:
    if _is_csv(path):
        if i not in writers:
            writers[i] = open(path, "w", newline="", encoding="utf-8")
            csv.writer(writers[i]).writerow(rows.columns)
        rows.to_csv(writers[i], header=False, index=False)
    else:
        table = pa.Table.from_pandas(rows, preserve_index=False)
        if i not in writers:
            writers[i] = pq.ParquetWriter(path, table.schema)
        writers[i].write_table(table.cast(writers[i].schema))
    if close:
        writers.pop(i).close()


def read_part(path: Path, id_column: str) -> pd.DataFrame:
    """One chunk's events (possibly no rows), ids as text."""
    if _is_csv(path):
        return pd.read_csv(path, dtype={id_column: str})
    frame = pd.read_parquet(path)
    frame[id_column] = frame[id_column].astype("string").astype(object).where(frame[id_column].notna(), None)
    return frame

