"""A long event log, validated chunk by chunk and sorted out of core: the prepare stage at 10M customers.

At 300M events the log does not fit in pandas (validate_events held about 8 GiB per 30M events). Here each
chunk of `data.event_chunk_rows` rows runs the in-memory path's own per-row checks
(`clean_event_rows`), drops events of unknown customers and events at/after the cutoff, and is written as
a Parquet part; what needs the whole log (the unknown-customer share, a column empty in every row, every
event after the cutoff, mixed UTC offsets, implausible times and the bulk of the log, exact duplicate rows) is
counted across chunks or computed by DuckDB over the parts and decided once, with the in-memory path's messages.
The first chunk decides the timestamp format; a later chunk contradicting it is an error naming its file rows.
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

from pipeline.core.errors import MAX_SHOWN, InputError
from pipeline.core.reader import iter_table, read_table
from pipeline.core.params import DataParams
from pipeline.core.schema import EVENT_TYPE, ID, TIMESTAMP
from pipeline.data.timestamps import (
    Implausible,
    OffsetTally,
    TimeFormat,
    absolute_reasons,
    bulk_positions,
    bulk_reason,
    bulk_window,
    future_limit,
)
from pipeline.data.validate_customers import Report
from pipeline.data.validate_events import (
    clean_event_rows,
    drop_empty_column,
    settle_cutoff,
    settle_duplicates,
    settle_offsets,
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
    time_format: TimeFormat | None = None     # the timestamp column's format (meta.json timestamp_format)


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
                          customers_label: str, cutoff: pd.Timestamp | None, report: Report, scratch: Path,
                          time_format: TimeFormat | None = None, bulk: bool = True,
                          now: pd.Timestamp | None = None) -> ChunkedEvents:
    """validate_events + apply_cutoff over `events` chunk by chunk; the sorted log is written under `scratch`.

    The first chunk decides the timestamp format (unless `time_format` is given) and every later chunk holds it."""
    parts, kept_values, has_type, total, fmt = _clean_chunks(events, p, file_label, report, scratch, time_format, now)
    with _log_database(parts, customer_ids, scratch) as con:
        n_bad = _settle_implausible(con, total, parts.implausible, bulk, file_label, p, report)
        n_dup = _settle_duplicates(con, [ID, TIMESTAMP, *([EVENT_TYPE] if has_type else []), *parts.values],
                                   file_label, report)
        total -= n_bad + n_dup
        n_unknown, n_late, latest, types = _settle_ids_and_cutoff(con, total, customer_ids, p, file_label,
                                                                  customers_label, cutoff, has_type, report)
        path = scratch / "events.parquet"
        columns = [ID, TIMESTAMP, *([EVENT_TYPE] if has_type else []), *kept_values]
        con.execute(f"COPY (SELECT {', '.join(map(_q, columns))} FROM log SEMI JOIN customers USING ({_q(ID)}) "
                    f"WHERE NOT {_late(cutoff)} ORDER BY {_q(ID)}, {_q(TIMESTAMP)}, {_q(ROW)}) "
                    f"TO {_text(path)} (FORMAT parquet)")
    for part in parts.paths:
        part.unlink()
    return ChunkedEvents(path, kept_values, has_type, total - n_unknown - n_late, latest, types, fmt)


@dataclass
class _Parts:
    """The cleaned chunks on disk, and what the chunks found that is decided over the whole log."""
    paths: list[Path] = field(default_factory=list)
    values: list[str] = field(default_factory=list)     # every value column, empty or not
    offsets: OffsetTally = field(default_factory=OffsetTally)
    implausible: Implausible = field(default_factory=Implausible)


def _clean_chunks(events: EventChunks, p: DataParams, file_label: str, report: Report, scratch: Path,
                  time_format: TimeFormat | None, now: pd.Timestamp | None,
                  ) -> tuple[_Parts, list[str], bool, int, TimeFormat | None]:
    """Each chunk through the per-row checks, its absolute implausible times dropped, written as a part."""
    parts, has_type, total, filled, fmt = _Parts(), False, 0, set(), time_format
    origin, latest = "the training run's format", future_limit(now)
    for i, chunk in enumerate(events.chunks):
        # Only the first chunk reports a missing type column, as the whole file would once.
        rows = clean_event_rows(chunk, p, file_label, report if i == 0 else Report(), drop_empty=False,
                                time_format=fmt, origin=origin)
        if i == 0 and (fmt is None or fmt != rows.times.fmt):   # decided once, then held by every later chunk
            fmt, origin = rows.times.fmt, f"decided on rows 1-{len(chunk):,}"
        parts.values, has_type, out = rows.numeric, rows.has_type, rows.frame
        parts.offsets.add(rows.times.offsets)
        drop = pd.Series(False, index=out.index)
        for reason, mask in absolute_reasons(out[TIMESTAMP], latest).items():
            parts.implausible.add(reason, mask, out[TIMESTAMP])
            drop |= mask
        out = out[~drop].astype({TIMESTAMP: "datetime64[ns]"})
        total += len(chunk)
        filled.update(c for c in parts.values if out[c].notna().any())
        parts.paths.append(_write_part(out, parts.values, scratch / f"part-{i:05d}.parquet"))
    if total == 0:
        raise InputError(f"{file_label}: events file has a header but no rows.")
    for name in parts.values:
        if name not in filled:
            drop_empty_column(name, file_label, report)
    settle_offsets(parts.offsets, file_label, p.timestamp_column, report)
    return parts, [c for c in parts.values if c in filled], has_type, total, fmt


def _settle_implausible(con: Any, total: int, found: Implausible, bulk: bool, file_label: str, p: DataParams,
                        report: Report) -> int:
    """The bulk rule over the whole log (view `parts`: the absolute rules already dropped their rows), then every
    implausible time settled once; view `plausible`. Returns how many times were dropped."""
    n, far = total - found.n, "FALSE"
    if bulk and n:
        ends = [con.sql(f"SELECT epoch_ns({_q(TIMESTAMP)}) FROM parts ORDER BY 1 LIMIT 1 OFFSET {k}").fetchall()[0][0]
                for k in bulk_positions(n)]
        window = bulk_window(pd.Timestamp(ends[0]), pd.Timestamp(ends[1]))
        far = f"(epoch_ns({_q(TIMESTAMP)}) < {window[0].value} OR epoch_ns({_q(TIMESTAMP)}) > {window[1].value})"
        [(count,)] = con.sql(f"SELECT count(*) FROM parts WHERE {far}").fetchall()
        first = con.sql(f"SELECT {_q(ROW)}, epoch_ns({_q(TIMESTAMP)}) FROM parts WHERE {far} "
                        f"ORDER BY {_q(ROW)} LIMIT {MAX_SHOWN}").fetchall()
        found.add_rows(bulk_reason(window), count, [r + 1 for r, _ in first], [str(pd.Timestamp(t)) for _, t in first])
    found.settle(total, file_label, p.timestamp_column, report)
    con.execute(f"CREATE VIEW plausible AS SELECT * FROM parts WHERE NOT {far}")
    return found.n


def _settle_duplicates(con: Any, columns: list[str], file_label: str, report: Report) -> int:
    """Rows equal in every column (view `plausible`), counted and settled as in memory; view `log`.
    Returns how many were dropped."""
    keys = ", ".join(map(_q, columns))
    [(n, least)] = con.sql(f"SELECT coalesce(sum(c - 1), 0), min(c) FROM "
                           f"(SELECT count(*) AS c FROM plausible GROUP BY {keys})").fetchall()
    copy = f"row_number() OVER (PARTITION BY {keys} ORDER BY {_q(ROW)}) > 1"
    rows = [r + 1 for (r,) in con.sql(f"SELECT {_q(ROW)} FROM plausible QUALIFY {copy} ORDER BY 1 "
                                      f"LIMIT {MAX_SHOWN}").fetchall()] if n else []
    every = least is not None and least >= 2
    settle_duplicates(int(n), every, rows, file_label, report)
    con.execute(f"CREATE VIEW log AS SELECT * FROM plausible {f'QUALIFY NOT ({copy})' if every else ''}")
    return int(n) if every else 0


def _late(cutoff: pd.Timestamp | None) -> str:
    return "FALSE" if cutoff is None else f"epoch_ns({_q(TIMESTAMP)}) >= {cutoff.value}"


def _settle_ids_and_cutoff(con: Any, total: int, customer_ids: pd.Series, p: DataParams, file_label: str,
                           customers_label: str, cutoff: pd.Timestamp | None, has_type: bool, report: Report,
                           ) -> tuple[int, int, pd.Timestamp | None, list[str]]:
    """Unknown customers, then the cutoff, over the whole log (view `log`) with the in-memory path's rules:
    (events of unknown customers, events at/after the cutoff, the latest kept time, the kept event types)."""
    unknown = con.sql(f"SELECT {_q(ID)}, count(*), min({_q(ROW)}) AS first FROM log ANTI JOIN customers "
                      f"USING ({_q(ID)}) GROUP BY 1 ORDER BY first").fetchall()
    n_unknown = sum(n for _, n, _ in unknown)
    if n_unknown:
        ids = pd.Series([i for i, _, _ in unknown], dtype=object).repeat([n for _, n, _ in unknown])
        settle_unknown(ids.reset_index(drop=True), total, pd.Series(customer_ids, dtype=object), p, file_label,
                       customers_label, report)
    late = _late(cutoff)
    [(n_late, earliest, latest)] = con.sql(
        f"SELECT count(*) FILTER (WHERE {late}), min(epoch_ns({_q(TIMESTAMP)})), "
        f"max(epoch_ns({_q(TIMESTAMP)})) FILTER (WHERE NOT {late}) FROM log SEMI JOIN customers USING ({_q(ID)})"
    ).fetchall()
    if cutoff is not None:
        settle_cutoff(n_late, total - n_unknown, pd.Timestamp(earliest), cutoff, file_label, report)
    kept = f"FROM log SEMI JOIN customers USING ({_q(ID)}) WHERE NOT {late}"
    types = [t for (t,) in con.sql(f"SELECT DISTINCT {_q(EVENT_TYPE)} {kept} AND {_q(EVENT_TYPE)} IS NOT NULL")
             .fetchall()] if has_type else []
    return n_unknown, n_late, None if latest is None else pd.Timestamp(latest), sorted(types)


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
def _log_database(parts: _Parts, customer_ids: pd.Series, scratch: Path) -> Iterator[Any]:
    """DuckDB with view `parts` (the cleaned chunks) and table `customers` (the valid ids), spilling under
    `scratch`."""
    import duckdb   # here, not at the top: prepare on a log that fits one chunk never needs it
    import psutil

    limit = f"{int(psutil.virtual_memory().total * SORT_MEMORY_SHARE) // 2**20}MB"
    with duckdb.connect(config={"memory_limit": limit, "temp_directory": str(scratch / "duckdb"),
                                "preserve_insertion_order": "false"}) as con:
        con.register("customers", pd.DataFrame({ID: pd.Series(customer_ids, dtype=object).to_numpy()}))
        con.execute(f"CREATE VIEW parts AS SELECT * FROM read_parquet([{', '.join(_text(p) for p in parts.paths)}])")
        yield con


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"
