"""The prepare stage's core and its output directory: validated, canonical, split tables plus meta.json.

data/interim/prepared/ is laid out as pipeline/core/schema.py describes (train.parquet, test.parquet,
events.parquet when there are events, truth.parquet for synthetic data, meta.json). `prepare` is pure
apart from reading the sources; `write_prepared` writes all files or none.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import atomic_dir, read_json, read_table, write_json, write_parquet
from pipeline.core.params import Params
from pipeline.core.schema import EVENT_TYPE, ID, TARGET, TEST, TIMESTAMP, TRAIN
from pipeline.data.contract import validate_tables
from pipeline.data.sources import Sources, read_sources
from pipeline.data.split import pop_split_column, train_test_split_ids
from pipeline.data.validate_customers import CleanCustomers, Report
from pipeline.data.validate_events import CleanEvents


@dataclass(frozen=True)
class PreparedData:
    train: pd.DataFrame
    test: pd.DataFrame
    events: pd.DataFrame | None
    truth: pd.DataFrame | None
    meta: dict[str, Any]


def _iso(value: pd.Timestamp | None) -> str | None:
    return None if value is None or pd.isna(value) else value.isoformat()


def build_meta(src: Sources, source: str, customers: CleanCustomers, events: CleanEvents | None,
               train: pd.DataFrame, test: pd.DataFrame, report: Report) -> dict[str, Any]:
    """meta.json, keys as in pipeline/core/schema.py: the user's names, types, counts, drops and warnings."""
    p, ev = src.data, None if events is None else events.frame
    typed = events is not None and events.has_event_type
    # Without a cutoff the snapshot is just after the latest event: features use events strictly before as_of.
    as_of = src.cutoff if src.cutoff is not None or ev is None else ev[TIMESTAMP].max() + pd.Timedelta(seconds=1)
    return {
        "source": source,
        "files": {"customers": None if source == "synthetic" else p.customers,
                  "events": None if source == "synthetic" else p.events},
        "columns": {"id": p.id_column, "target": p.target, "positive_label": p.positive_label,
                    "timestamp": None if ev is None else p.timestamp_column,
                    "event_type": p.event_type_column if typed else None},
        "numeric": customers.numeric, "categorical": customers.categorical,
        "has_events": ev is not None, "has_event_type": typed, "has_truth": src.truth is not None,
        "event_numeric": [] if events is None else events.numeric,
        "event_types": sorted(ev[EVENT_TYPE].dropna().unique().tolist()) if typed else [],
        "cutoff": _iso(src.cutoff), "as_of": _iso(as_of),
        "n_train": len(train), "n_test": len(test), "positive_rate_train": float(train[TARGET].mean()),
        "n_events": 0 if ev is None else len(ev),
        "dropped": report.dropped, "warnings": report.warnings,
    }


def prepare(params: Params) -> PreparedData:
    """Read, validate, cut off and split; pure apart from reading the sources. Raises InputError on bad input."""
    src = read_sources(params.data, params.seed)
    p, split = src.data, params.split
    raw, split_values = pop_split_column(src.customers, split, src.labels["customers"], (p.id_column, p.target))
    customers, events, report = validate_tables(raw, src.events, p, src.labels, cutoff=src.cutoff)
    frame = customers.frame if split_values is None else customers.frame.assign(**{split.column: split_values})
    assignment = train_test_split_ids(frame, split, params.seed, src.labels["customers"])
    train = customers.frame[assignment == TRAIN].reset_index(drop=True)
    test = customers.frame[assignment == TEST].reset_index(drop=True)
    meta = build_meta(src, params.data.source, customers, events, train, test, report)
    return PreparedData(train, test, None if events is None else events.frame, src.truth, meta)


def write_prepared(data: PreparedData, out: str | Path) -> None:
    """All files or none: the directory replaces `out` only once everything is written."""
    with atomic_dir(out) as tmp:
        write_parquet(data.train, tmp / "train.parquet")
        write_parquet(data.test, tmp / "test.parquet")
        if data.events is not None:
            write_parquet(data.events, tmp / "events.parquet")
        if data.truth is not None:
            write_parquet(data.truth, tmp / "truth.parquet")
        write_json(data.meta, tmp / "meta.json")


def read_prepared_customers(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(train, test, meta) of the prepared folder, ids as text; meta must list the feature columns."""
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise InputError(f"{meta_path}: not found; run the prepare stage first.")
    meta = read_json(meta_path)
    if absent := [k for k in ("numeric", "categorical") if not isinstance(meta.get(k), list)]:
        raise InputError(f"{meta_path}: lacks the column lists {absent}.")
    train, test = (read_table(folder / f"{s}.parquet", f"prepared {s}", (ID,)) for s in ("train", "test"))
    return train, test, meta
