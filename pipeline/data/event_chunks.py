"""A long event log, validated chunk by chunk and sorted out of core: the prepare stage at 10M customers.

At 300M events the log does not fit in pandas (validate_events held about 8 GiB per 30M events). Here each
chunk of `data.event_chunk_rows` rows runs the in-memory path's own per-row checks
(`clean_event_rows`), drops events of unknown customers and events at/after the cutoff, and is written as
a Parquet part; what needs the whole log (the unknown-customer share, a column empty in every row, every
event after the cutoff) is counted across chunks and decided once, with the in-memory path's messages.
DuckDB then sorts the parts by (customer, time, file row) into one file, spilling to disk past its memory
limit, so ties keep their file order as the in-memory mergesort keeps them. The result equals
`validate_events` + `apply_cutoff` row for row (tests/data/test_event_chunks.py).
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import InputError
from pipeline.core.io import read_table
from pipeline.core.params import DataParams
from pipeline.core.schema import EVENT_TYPE, ID, TIMESTAMP
from pipeline.data.validate_customers import Report
from pipeline.data.validate_events import (
    clean_event_rows,
    drop_empty_column,
    settle_cutoff,
    settle_unknown,
)

ROW = "_file_row"               # the event's row in the file: the sort's last key, dropped from the output
SORT_MEMORY_SHARE = 0.35        # of the machine's memory for DuckDB's sort (the customers table is in pandas beside it)


@dataclass
class EventChunks:
    """A raw event log too long for one chunk: its header and its chunks, each indexed by file row."""
    columns: list[str]
    chunks: Iterator[pd.DataFrame]


@dataclass(frozen=True)
class ChunkedEvents:
    """The validated, cut-off, sorted log as one Parquet file (the in-memory path's CleanEvents, on disk)."""
    path: Path
    numeric: list[str]
    has_event_type: bool
    n_events: int
    latest: pd.Timestamp | None
    event_types: list[str] = field(default_factory=list)


def read_events(path: str | Path, id_column: str, rows: int) -> pd.DataFrame | EventChunks:
    """The event log whole (read_table) when it holds at most `rows` rows, else its chunks of `rows` rows,
    parsed as read_table parses the whole file (ids as text)."""
    if rows < 1:
        raise InputError(f"params: data.event_chunk_rows must be at least 1, got {rows}.")
    path = Path(path)
    if path.suffix.lower() != ".csv" and path.is_file() and path.stat().st_size > 0:
        try:
            n_rows = pq.ParquetFile(path).metadata.num_rows
        except (pa.ArrowException, OSError):
            n_rows = 0        # not Parquet after all: read_table says so
        if n_rows > rows:
            return EventChunks(list(pq.ParquetFile(path).schema_arrow.names), _parquet_chunks(path, id_column, rows))
        return read_table(path, "events", string_columns=(id_column,))
    if path.suffix.lower() == ".csv" and path.is_file() and path.stat().st_size > 0:
        chunks = _csv_chunks(path, id_column, rows)
        first = next(chunks, None)
        second = next(chunks, None)
        if first is not None and second is not None:
            return EventChunks([str(c) for c in first.columns], itertools.chain([first, second], chunks))
    return read_table(path, "events", string_columns=(id_column,))


def _as_text(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    if column in frame.columns:   # read_table's rule: ids are compared as text, whatever the file stored
        frame[column] = frame[column].astype("string").astype(object).where(frame[column].notna(), None)
    return frame


def _parquet_chunks(path: Path, id_column: str, rows: int) -> Iterator[pd.DataFrame]:
    start = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        yield _as_text(batch.to_pandas().set_axis(pd.RangeIndex(start, start + batch.num_rows)), id_column)
        start += batch.num_rows


def _csv_chunks(path: Path, id_column: str, rows: int) -> Iterator[pd.DataFrame]:
    try:   # pandas continues the RangeIndex across chunks: file rows
        for chunk in pd.read_csv(path, dtype={id_column: str}, keep_default_na=True, chunksize=rows):
            yield _as_text(chunk, id_column)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: cannot read events file: {str(err).splitlines()[0]}") from err


@dataclass
class _Tally:
    """What the decisions over the whole log need, summed over the chunks."""
    total: int = 0
    unknown: dict[str, int] = field(default_factory=dict)      # id -> events, in order of first appearance
    n_unknown: int = 0
    n_late: int = 0
    earliest: pd.Timestamp | None = None                        # of the known customers' events
    latest: pd.Timestamp | None = None                          # of the kept events
    filled: set[str] = field(default_factory=set)               # value columns with a value somewhere
    types: set[str] = field(default_factory=set)
    parts: list[Path] = field(default_factory=list)


def validate_event_chunks(events: EventChunks, p: DataParams, file_label: str, customer_ids: pd.Series, *,
                          customers_label: str, cutoff: pd.Timestamp | None, report: Report,
                          scratch: Path) -> ChunkedEvents:
    """validate_events + apply_cutoff over `events` chunk by chunk; the sorted log is written under `scratch`."""
    known = pd.Index(pd.Series(customer_ids, dtype=object).to_numpy())
    tally, values, has_type = _Tally(), [], False
    for i, chunk in enumerate(events.chunks):
        # Only the first chunk reports a missing type column, as the whole file would once.
        out, values, has_type = clean_event_rows(chunk, p, file_label, report if i == 0 else Report(),
                                                 drop_empty=False)
        _tally_chunk(out, values, known, cutoff, tally, scratch / f"part-{i:05d}.parquet")
    if tally.total == 0:
        raise InputError(f"{file_label}: events file has a header but no rows.")
    for name in values:
        if name not in tally.filled:
            drop_empty_column(name, file_label, report)
    kept_values = [c for c in values if c in tally.filled]
    if tally.n_unknown:
        ids = pd.Series(list(tally.unknown), dtype=object).repeat(list(tally.unknown.values())).reset_index(drop=True)
        settle_unknown(ids, tally.total, pd.Series(customer_ids, dtype=object), p, file_label, customers_label, report)
    if cutoff is not None:
        settle_cutoff(tally.n_late, tally.total - tally.n_unknown, tally.earliest, cutoff, file_label, report)
    columns = [ID, TIMESTAMP, *([EVENT_TYPE] if has_type else []), *kept_values]
    path = scratch / "events.parquet"
    _sort(tally.parts, columns, path, scratch)
    n_events = tally.total - tally.n_unknown - tally.n_late
    return ChunkedEvents(path, kept_values, has_type, n_events, tally.latest, sorted(tally.types))


def _tally_chunk(out: pd.DataFrame, values: list[str], known: pd.Index, cutoff: pd.Timestamp | None,
                 tally: _Tally, part: Path) -> None:
    """Count one cleaned chunk into `tally` and write its kept rows (with their file row) to `part`."""
    tally.total += len(out)
    tally.filled.update(c for c in values if out[c].notna().any())
    unknown = known.get_indexer(out[ID].to_numpy()) < 0
    if unknown.any():
        tally.n_unknown += int(unknown.sum())
        for name, n in out.loc[unknown, ID].value_counts(sort=False).items():
            tally.unknown[name] = tally.unknown.get(name, 0) + int(n)
        out = out[~unknown]
    if len(out):
        first = out[TIMESTAMP].min()
        tally.earliest = first if tally.earliest is None else min(tally.earliest, first)
    if cutoff is not None:
        late = (out[TIMESTAMP] >= cutoff).to_numpy()
        tally.n_late += int(late.sum())
        out = out[~late]
    if len(out):
        last = out[TIMESTAMP].max()
        tally.latest = last if tally.latest is None else max(tally.latest, last)
        if EVENT_TYPE in out.columns:
            tally.types.update(out[EVENT_TYPE].dropna().unique().tolist())
    schema = pa.schema([(ID, pa.string()), (TIMESTAMP, pa.timestamp("ns")),
                        *([(EVENT_TYPE, pa.string())] if EVENT_TYPE in out.columns else []),
                        *[(c, pa.float64()) for c in values], (ROW, pa.int64())])
    table = pa.Table.from_pandas(out.assign(**{ROW: out.index.to_numpy(dtype="int64")}), schema=schema,
                                 preserve_index=False)
    pq.write_table(table, part)
    tally.parts.append(part)


def _sort(parts: list[Path], columns: list[str], out: Path, scratch: Path) -> None:
    """One Parquet file of the parts' rows in (customer, time, file row) order: the in-memory mergesort's order."""
    import duckdb   # here, not at the top: prepare on a log that fits one chunk never needs it
    import psutil

    limit = f"{int(psutil.virtual_memory().total * SORT_MEMORY_SHARE) // 2**20}MB"
    files = ", ".join("'" + p.as_posix().replace("'", "''") + "'" for p in parts)
    names = ", ".join(f'"{c}"' for c in columns)
    with duckdb.connect(config={"memory_limit": limit, "temp_directory": str(scratch / "duckdb"),
                                "preserve_insertion_order": "false"}) as con:
        con.execute(f"COPY (SELECT {names} FROM read_parquet([{files}]) ORDER BY \"{ID}\", \"{TIMESTAMP}\", \"{ROW}\") "
                    "TO '" + out.as_posix().replace("'", "''") + "' (FORMAT parquet)")
    for part in parts:
        part.unlink()
