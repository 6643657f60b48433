"""Bounded-memory reading for batch scoring: customers in chunks, events partitioned to match them.

A customers file is read `size` rows at a time (pandas chunks for CSV, pyarrow batches for Parquet).
The event log is read once in batches and each event is appended to the temp file of the chunk its
customer is in (CSV events stay text, so each part is parsed exactly as the whole file would be;
Parquet parts keep the file's types); events of customers not being scored are ignored and counted by the
rule of the whole-file path (pipeline/serving/ids.py). Scoring chunk i then reads customers chunk i and event
part i: memory is bounded by the chunk size, not by the file size. Every read goes through the one reader
(pipeline/core/reader.py), which raises InputError, never a pandas/pyarrow traceback.
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
from pipeline.core.reader import header, iter_table, read_columns, read_table
from pipeline.data.validate_customers import clean_ids, columns_hint, distinct, rows_where
from pipeline.serving.ids import IdMatch

log = logging.getLogger(__name__)

EVENT_BATCH = 1_000_000


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def columns_of(path: Path, role: str) -> list[str]:
    """The header, read without the rows (the reader's checks for a missing, empty or odd file first)."""
    return header(path, role)


def has_rows(path: Path, role: str) -> bool:
    """False for a file with a header and no rows (an events file saying "no events yet")."""
    return any(len(chunk) for chunk in iter_table(path, role, EVENT_BATCH))


def read_id_column(path: Path, column: str, role: str) -> pd.Series:
    """The file's id column alone, as stripped text, checked blank-free (an event log repeats ids)."""
    if column not in (names := columns_of(path, role)):
        raise InputError(f"{path}: id column '{column}' not found (params data.id_column); columns are {columns_hint(names)}.")
    return clean_ids(read_columns(path, role, [column], (column,))[column], str(path), column)


def read_ids(path: Path, column: str, role: str) -> pd.Series:
    """Every id of the customers file, as stripped text, checked blank-free and unique."""
    ids = read_id_column(path, column, role)
    if (dup := ids.duplicated(keep=False)).any():
        raise InputError(f"{path}: column '{column}' has duplicate customer ids {show_values(distinct(ids[dup]))} at "
                         f"rows {rows_where(dup)[:5]}; each customer must appear once.")
    return ids


def iter_customers(path: Path, column: str, size: int) -> Iterator[pd.DataFrame]:
    """The customers file `size` rows at a time, read as the whole file is read (pipeline/core/reader.py: CSV cells
    as text, so a chunk of digit-only codes keeps '007'); each chunk's index holds its rows' file positions."""
    yield from iter_table(path, "customers", size, (column,))


@dataclass
class EventParts:
    paths: list[Path]           # one file per customers chunk (may hold no rows)
    n_events: int               # rows of the log (0: a header only)
    notes: list[str]            # events of customers not scored (ignored), as IdMatch.settle says


def _batches(path: Path) -> Iterator[pd.DataFrame]:
    """The event log in batches, each indexed by its rows' positions in the file (CSV cells stay text, so each
    part is parsed exactly like the whole file)."""
    yield from iter_table(path, "events", EVENT_BATCH)


def partition_events(path: Path, ids: pd.Series, size: int, workdir: Path, id_column: str,
                     customers_label: str) -> EventParts:
    """Split the event log by the customers chunk of each event's id; events of other customers are ignored
    and an id-format mismatch is refused, by the rule of the whole-file path (IdMatch)."""
    header = columns_of(path, "events")
    if id_column not in header:
        raise InputError(f"{path}: id column '{id_column}' not found (params data.id_column); columns are {columns_hint(header)}.")
    matcher = IdMatch(pd.Index(ids.to_numpy()))   # ids: unique (read_ids), in file order
    n_parts = max(1, -(-len(ids) // size))
    suffix = ".csv" if _is_csv(path) else ".parquet"
    paths = [workdir / f"events_{i:05d}{suffix}" for i in range(n_parts)]
    writers: dict[int, object] = {}
    start = 0
    try:
        for batch in _batches(path):
            label = f"{path} (rows {start + 1:,}-{start + len(batch):,})"
            part = matcher.add(clean_ids(batch[id_column], label, id_column))
            part = np.where(part >= 0, part // size, -1)
            for i in np.unique(part[part >= 0]):
                _append(writers, i, paths[i], batch[part == i])
            start += len(batch)
    finally:
        for writer in writers.values():
            writer.close()
    notes = matcher.settle(str(path), customers_label, id_column)
    for i, p in enumerate(paths):
        if i not in writers:   # a chunk with no events: an empty part with the header only
            _append({}, i, p, pd.DataFrame(columns=header), close=True)
    return EventParts(paths, matcher.n_events, notes)


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
    """One chunk's events (possibly no rows), read by the one reader, ids as text."""
    return read_table(path, "events", (id_column,), allow_empty=True)
