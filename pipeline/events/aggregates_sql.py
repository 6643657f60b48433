"""The event aggregates of a fitted `EventAggregator`, computed by DuckDB out of core.

The same `ev_*` columns, in the same order and with the same fills, as `EventAggregator.transform`
(the equality is a test), but the event log is never loaded into pandas: DuckDB scans a Parquet file,
folder or glob (or an in-memory frame) and spills to disk past `memory_limit`. At 10M customers /
300M events the pandas path needs the whole log in memory; this one needs the output rows.

    agg = EventAggregator(...).fit(events, as_of, customer_ids=train_ids)   # fitted state: pandas, on train
    table = duckdb_aggregates(agg, "data/interim/prepared/events.parquet", test_ids, as_of)

Only events strictly before `as_of` of the requested customers are read (leakage rule 5). Gaps use one
window over each customer's events in time order; every other column is one grouped aggregate.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from pipeline.core.errors import InputError
from pipeline.core.schema import EVENT_TYPE, ID, TIMESTAMP
from pipeline.events.aggregates import PREFIX, EventAggregator
from pipeline.events.grouping import DAY_NS, OTHER, CustomerIds, as_of_ns, customer_index

EventSource = pd.DataFrame | str | Path


def duckdb_fit(aggregator: EventAggregator, events: EventSource, as_of: pd.Timestamp | str,
               customer_ids: CustomerIds | None = None, **engine: Any) -> EventAggregator:
    """`aggregator.fit(events, as_of, customer_ids)` out of core: the same fitted state (a test)."""
    cutoff = as_of_ns(as_of)
    with _connect(events, customer_ids, **engine) as (con, source):
        columns = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})").fetchall())
        _require(columns, [ID, TIMESTAMP])
        kept = _kept_events(source, cutoff, customer_ids is not None)
        n_events, first = con.execute(f"SELECT count(*), min(_ev_ts) FROM ({kept})").fetchone()
        vocabulary: list[str] = []
        if EVENT_TYPE in columns:
            kind = f"CAST(e.{_name(EVENT_TYPE)} AS VARCHAR)"
            counts = con.execute(f"SELECT {kind}, count(*) FROM ({kept}) AS e WHERE {kind} IS NOT NULL "
                                 f"GROUP BY 1").fetchall()
            ranked = sorted((-n, name) for name, n in counts if name != OTHER)   # fit_vocabulary's order
            vocabulary = [name for _, name in ranked[:aggregator.max_event_types]]
    values = [c for c, kind in columns.items() if c not in (ID, TIMESTAMP, EVENT_TYPE) and _numeric(kind)]
    return aggregator.set_fitted(values, EVENT_TYPE in columns, vocabulary,
                                 cutoff if first is None else int(first), int(n_events))


def duckdb_aggregates(aggregator: EventAggregator, events: EventSource, customer_ids: CustomerIds,
                      as_of: pd.Timestamp | str, **engine: Any) -> pd.DataFrame:
    """One float64 row per id of `customer_ids`, in that order, as `aggregator.transform` would give.

    `engine`: DuckDB settings (memory_limit="12GB", temp_directory=..., threads=...)."""
    check_is_fitted(aggregator)
    index = customer_index(customer_ids)
    names = aggregator.feature_names_out_
    with _connect(events, index, **engine) as (con, source):
        columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        _require(columns, [ID, TIMESTAMP, *aggregator.value_columns_]
                 + ([EVENT_TYPE] if aggregator.has_event_type_ else []))
        result = con.execute(_query(aggregator, source, as_of_ns(as_of))).fetchnumpy()
    out = np.column_stack([np.asarray(result[f"c{j}"], dtype=np.float64) for j in range(len(names))]) \
        if len(index) else np.zeros((0, len(names)))
    return pd.DataFrame(out, index=index, columns=names)


@contextmanager
def _connect(events: EventSource, customer_ids: CustomerIds | None, memory_limit: str | None = None,
             temp_directory: str | Path | None = None, threads: int | None = None) -> Iterator[tuple[Any, str]]:
    """A DuckDB connection with the events as a FROM clause and the wanted ids as table `wanted`."""
    import duckdb   # here, not at the top: the stages that never use it keep their start-up time

    config = {k: str(v) for k, v in (("memory_limit", memory_limit), ("temp_directory", temp_directory),
                                     ("threads", threads)) if v is not None}
    with duckdb.connect(config=config) as con:
        con.execute("SET preserve_insertion_order = false")   # every output is ordered explicitly
        con.execute("SET enable_progress_bar = false")
        source = _register_source(con, events)
        if customer_ids is not None:
            index = customer_index(customer_ids)
            con.register("wanted", pd.DataFrame({ID: index.astype(str), "row": np.arange(len(index))}))
        yield con, source


def _kept_events(source: str, cutoff_ns: int, only_wanted: bool) -> str:
    """The events strictly before the cutoff (leakage rule 5), of the wanted customers when given."""
    join = f" JOIN wanted AS w ON CAST(e.{_name(ID)} AS VARCHAR) = w.{_name(ID)}" if only_wanted else ""
    row = ", w.row AS _ev_row" if only_wanted else ""
    return (f"SELECT e.*{row}, epoch_ns(e.{_name(TIMESTAMP)}) AS _ev_ts FROM {source} AS e{join} "
            f"WHERE e.{_name(TIMESTAMP)} IS NOT NULL AND epoch_ns(e.{_name(TIMESTAMP)}) < {cutoff_ns}")


def _numeric(duckdb_type: str) -> bool:
    """numeric_value_columns' rule in DuckDB types: integers, floats and decimals, never booleans."""
    return duckdb_type.split("(")[0] in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                                         "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE",
                                         "DECIMAL"}


def _require(columns, needed: list[str]) -> None:
    if missing := [c for c in needed if c not in columns]:
        raise InputError(f"events lack column(s) {missing} that the event features need (fitted with).")


def _register_source(con, events: EventSource) -> str:
    """A FROM clause for the events: a registered frame, or a Parquet scan (file, folder or glob)."""
    if isinstance(events, pd.DataFrame):
        con.register("events_frame", events)
        return "events_frame"
    path = Path(events)
    pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
    if not path.is_dir() and not any(c in str(path) for c in "*?[") and not path.exists():
        raise InputError(f"{path}: no such event file.")
    return f"read_parquet({_literal(pattern)})"


def _query(agg: EventAggregator, source: str, cutoff_ns: int) -> str:
    """The whole computation as one statement: kept events -> gaps (window) -> per customer -> columns."""
    values = [f"CASE WHEN isfinite(CAST({_name(c)} AS DOUBLE)) THEN CAST({_name(c)} AS DOUBLE) END AS v{j}"
              for j, c in enumerate(agg.value_columns_)]
    other = len(agg.vocabulary_)
    code = "0 AS code"
    if agg.has_event_type_:
        whens = " ".join(f"WHEN {_literal(t)} THEN {j}" for j, t in enumerate(agg.vocabulary_))
        code = f"CASE CAST(e.{_name(EVENT_TYPE)} AS VARCHAR) {whens} ELSE {other} END AS code" if whens \
            else f"{other} AS code"
    per = ["count(*) AS n", "min(ts) AS first_ns", "max(ts) AS last_ns", "max(gap) AS gap_max_ns",
           "stddev_pop(gap / {day}) AS gap_std", "max(gap) FILTER (WHERE is_last) AS gap_last_ns"]
    for j in range(len(agg.value_columns_)):
        per += [f"count(v{j}) AS n{j}", f"sum(v{j}) AS s{j}", f"stddev_pop(v{j}) AS sd{j}", f"max(v{j}) AS mx{j}"]
    for w in agg.windows_:
        per.append(f"count(*) FILTER (WHERE ts >= {cutoff_ns - w * DAY_NS}) AS recent{w}")
    if agg.has_event_type_:
        for j in range(len(agg.type_labels_)):
            per += [f"count(*) FILTER (WHERE code = {j}) AS k{j}", f"max(ts) FILTER (WHERE code = {j}) AS last{j}"]
    columns = ", ".join(f"{expr} AS c{j}" for j, expr in enumerate(_columns(agg, cutoff_ns)))
    return f"""
WITH kept AS (
    SELECT e._ev_row AS r, e._ev_ts AS ts, {code}{''.join(', ' + v for v in values)}
    FROM ({_kept_events(source, cutoff_ns, True)}) AS e
), gapped AS (
    SELECT *, ts - lag(ts) OVER byt AS gap, lead(ts) OVER byt IS NULL AS is_last
    FROM kept WINDOW byt AS (PARTITION BY r ORDER BY ts)
), per AS (
    SELECT r, {', '.join(per)} FROM gapped GROUP BY r
)
SELECT {columns} FROM wanted AS w LEFT JOIN per AS p ON p.r = w.row ORDER BY w.row
""".replace("{day}", f"{DAY_NS}.0")


def _columns(agg: EventAggregator, cutoff_ns: int) -> list[str]:
    """SQL for each of `agg.feature_names_out_`, in order (one expression per name, checked)."""
    exprs = dict(_expressions(agg, cutoff_ns))
    if list(exprs) != list(agg.feature_names_out_):
        raise AssertionError(f"duckdb columns {list(exprs)} differ from the aggregator's {agg.feature_names_out_}")
    return list(exprs.values())


def _expressions(agg: EventAggregator, cutoff_ns: int) -> Iterator[tuple[str, str]]:
    """(name, expression over `per`), the formulas of pipeline.events.aggregates, fills by COALESCE."""
    day = f"{DAY_NS}.0"
    never = repr(agg.never_days(pd.Timestamp(cutoff_ns)))
    tenure = f"(({cutoff_ns} - p.first_ns) / {day})"
    yield f"{PREFIX}has_events", "CASE WHEN p.n IS NULL THEN 0.0 ELSE 1.0 END"
    yield f"{PREFIX}count", "COALESCE(p.n, 0)::DOUBLE"
    yield f"{PREFIX}recency_days", f"COALESCE(({cutoff_ns} - p.last_ns) / {day}, {never})"
    yield f"{PREFIX}tenure_days", f"COALESCE({tenure}, 0.0)"
    yield f"{PREFIX}events_per_30d", f"COALESCE(p.n / greatest({tenure}, 30.0) * 30.0, 0.0)"
    yield f"{PREFIX}gap_mean_days", f"COALESCE((p.last_ns - p.first_ns) / {day} / greatest(p.n - 1, 1), 0.0)"
    yield f"{PREFIX}gap_std_days", "COALESCE(p.gap_std, 0.0)"
    yield f"{PREFIX}gap_max_days", f"COALESCE(p.gap_max_ns / {day}, 0.0)"
    yield f"{PREFIX}gap_last_days", f"COALESCE(p.gap_last_ns / {day}, 0.0)"
    for j, label in enumerate(agg.value_labels_):
        yield f"{PREFIX}{label}_n", f"COALESCE(p.n{j}, 0)::DOUBLE"
        yield f"{PREFIX}{label}_sum", f"COALESCE(p.s{j}, 0.0)"
        yield f"{PREFIX}{label}_mean", f"COALESCE(p.s{j} / greatest(p.n{j}, 1), 0.0)"
        yield f"{PREFIX}{label}_std", f"COALESCE(p.sd{j}, 0.0)"
        yield f"{PREFIX}{label}_max", f"COALESCE(p.mx{j}, 0.0)"
    for w in agg.windows_:
        start = cutoff_ns - w * DAY_NS
        earlier_rate = f"((p.n - p.recent{w}) / greatest(({start} - p.first_ns) / {day}, {w}.0) * {w}.0)"
        yield f"{PREFIX}count_last_{w}d", f"COALESCE(p.recent{w}, 0)::DOUBLE"
        yield f"{PREFIX}trend_{w}d", f"COALESCE((p.recent{w} + 1.0) / ({earlier_rate} + 1.0), 1.0)"
    if agg.has_event_type_:
        labels = agg.type_labels_
        for j, label in enumerate(labels):
            yield f"{PREFIX}count__{label}", f"COALESCE(p.k{j}, 0)::DOUBLE"
        for j, label in enumerate(labels):
            yield f"{PREFIX}share__{label}", f"COALESCE(p.k{j} / p.n, 0.0)"
        for j, label in enumerate(labels):
            yield f"{PREFIX}days_since__{label}", f"COALESCE(({cutoff_ns} - p.last{j}) / {day}, {never})"


def _name(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"
