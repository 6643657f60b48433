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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import InputError
from pipeline.core.reader import iter_table, read_table
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
SORT_MEMORY_SHARE = 0.3         # of the machine's memory for DuckDB (the customers table is in pandas beside it)


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


def read_events(path: str | Path, id_column: str, rows: int, warn: Callable[[str], None] | None = None
                ) -> pd.DataFrame | EventChunks:
    """The event log whole (read_table) when it holds at most `rows` rows, else its chunks of `rows` rows,
    read by the same reader (pipeline/core/reader.py), so every chunk is typed as the whole file would be."""
    if rows < 1:
        raise InputError(f"params: data.event_chunk_rows must be at least 1, got {rows}.")
    said: set[str] = set()
    once = None if warn is None else (lambda m: None if m in said else (said.add(m), warn(m)))  # peeked, then read
    chunks = iter_table(path, "events", rows, (id_column,), once)
    first = next(chunks, None)
    second = next(chunks, None)
    if first is None or second is None:
        return read_table(path, "events", (id_column,), once)
    return EventChunks([str(c) for c in first.columns], itertools.chain([first, second], chunks))


def validate_event_chunks(events: EventChunks, p: DataParams, file_label: str, customer_ids: pd.Series, *,
                          customers_label: str, cutoff: pd.Timestamp | None, report: Report,
                          scratch: Path) -> ChunkedEvents:
    """validate_events + apply_cutoff over `events` chunk by chunk; the sorted log is written under `scratch`."""
    parts, values, has_type, total, filled = [], [], False, 0, set()
    for i, chunk in enumerate(events.chunks):
        # Only the first chunk reports a missing type column, as the whole file would once.
        out, values, has_type = clean_event_rows(chunk, p, file_label, report if i == 0 else Report(),
                                                 drop_empty=False)
        total += len(out)
        filled.update(c for c in values if out[c].notna().any())
        parts.append(_write_part(out, values, scratch / f"part-{i:05d}.parquet"))
    if total == 0:
        raise InputError(f"{file_label}: events file has a header but no rows.")
    for name in values:
        if name not in filled:
            drop_empty_column(name, file_label, report)
    kept_values = [c for c in values if c in filled]
    columns = [ID, TIMESTAMP, *([EVENT_TYPE] if has_type else []), *kept_values]
    with _log_database(parts, customer_ids, scratch) as con:
        # Unknown customers, then the cutoff, decided over the whole log with the in-memory path's rules.
        unknown = con.sql(f"SELECT {_q(ID)}, count(*), min({_q(ROW)}) AS first FROM log ANTI JOIN customers "
                          f"USING ({_q(ID)}) GROUP BY 1 ORDER BY first").fetchall()
        n_unknown = sum(n for _, n, _ in unknown)
        if n_unknown:
            ids = pd.Series([i for i, _, _ in unknown], dtype=object).repeat([n for _, n, _ in unknown])
            settle_unknown(ids.reset_index(drop=True), total, pd.Series(customer_ids, dtype=object), p, file_label,
                           customers_label, report)
        late = "FALSE" if cutoff is None else f"epoch_ns({_q(TIMESTAMP)}) >= {cutoff.value}"
        [(n_late, earliest, latest)] = con.sql(
            f"SELECT count(*) FILTER (WHERE {late}), min(epoch_ns({_q(TIMESTAMP)})), "
            f"max(epoch_ns({_q(TIMESTAMP)})) FILTER (WHERE NOT {late}) FROM log SEMI JOIN customers USING ({_q(ID)})"
        ).fetchall()
        if cutoff is not None:
            settle_cutoff(n_late, total - n_unknown, pd.Timestamp(earliest), cutoff, file_label, report)
        kept = f"FROM log SEMI JOIN customers USING ({_q(ID)}) WHERE NOT {late}"
        types = [t for (t,) in con.sql(f"SELECT DISTINCT {_q(EVENT_TYPE)} {kept} AND {_q(EVENT_TYPE)} IS NOT NULL")
                 .fetchall()] if has_type else []
        path = scratch / "events.parquet"
        con.execute(f"COPY (SELECT {', '.join(map(_q, columns))} {kept} ORDER BY {_q(ID)}, {_q(TIMESTAMP)}, {_q(ROW)}) "
                    f"TO {_text(path)} (FORMAT parquet)")
    for part in parts:
        part.unlink()
    return ChunkedEvents(path, kept_values, has_type, total - n_unknown - n_late,
                         None if latest is None else pd.Timestamp(latest), sorted(types))


def _write_part(out: pd.DataFrame, values: list[str], part: Path) -> Path:
    """One cleaned chunk, every row, with its file row (the sort's last key) and fixed column types."""
    schema = pa.schema([(ID, pa.string()), (TIMESTAMP, pa.timestamp("ns")),
                        *([(EVENT_TYPE, pa.string())] if EVENT_TYPE in out.columns else []),
                        *[(c, pa.float64()) for c in values], (ROW, pa.int64())])
    table = pa.Table.from_pandas(out.assign(**{ROW: out.index.to_numpy(dtype="int64")}), schema=schema,
                                 preserve_index=False)
    pq.write_table(table, part)
    return part


@contextmanager
def _log_database(parts: list[Path], customer_ids: pd.Series, scratch: Path) -> Iterator[Any]:
    """DuckDB with view `log` (the parts) and table `customers` (the valid ids), spilling under `scratch`."""
    import duckdb   # here, not at the top: prepare on a log that fits one chunk never needs it
    import psutil

    limit = f"{int(psutil.virtual_memory().total * SORT_MEMORY_SHARE) // 2**20}MB"
    with duckdb.connect(config={"memory_limit": limit, "temp_directory": str(scratch / "duckdb"),
                                "preserve_insertion_order": "false"}) as con:
        con.register("customers", pd.DataFrame({ID: pd.Series(customer_ids, dtype=object).to_numpy()}))
        con.execute(f"CREATE VIEW log AS SELECT * FROM read_parquet([{', '.join(_text(p) for p in parts)}])")
        yield con


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"
