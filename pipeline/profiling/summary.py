"""Every number of the EDA page, computed from the prepared folder: JSON-ready (reports/eda.json).

It describes both splits, but whatever ranks or fits (relations to the target, IQR fences, the
categorical levels shown, histogram ranges) uses train only: DESIGN.md, "describes all; decisions
use train only". truth.parquet is never read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import read_json
from pipeline.core.params import EdaParams, as_dict
from pipeline.core.schema import ID, TARGET, TEST, TIMESTAMP, TRAIN
from pipeline.profiling import event_summary, relations, stats

SIGNIFICANT = 6          # digits kept in eda.json: plenty for a description, and stable to read/diff


@dataclass(frozen=True)
class Prepared:
    train: pd.DataFrame
    test: pd.DataFrame
    events: pd.DataFrame | None
    meta: dict[str, Any]


def read_prepared(directory: Path) -> Prepared:
    """Read the prepare stage's output; a missing file or column is an InputError naming it."""
    def need(name: str) -> Path:
        if not (directory / name).is_file():
            raise InputError(f"{directory / name}: not found; expected the prepare stage's output in {directory}.")
        return directory / name

    meta = read_json(need("meta.json"))
    train, test = pd.read_parquet(need(f"{TRAIN}.parquet")), pd.read_parquet(need(f"{TEST}.parquet"))
    events = pd.read_parquet(need("events.parquet")) if meta.get("has_events") else None
    for name, frame in ((TRAIN, train), (TEST, test)):
        if missing := [c for c in (ID, TARGET, *meta.get("numeric", []), *meta.get("categorical", [])) if c not in frame]:
            raise InputError(f"{directory / name}.parquet lacks columns {missing} named in meta.json; rerun prepare.")
    if events is not None and (missing := [c for c in (ID, TIMESTAMP) if c not in events]):
        raise InputError(f"{directory / 'events.parquet'} lacks columns {missing}; rerun prepare.")
    return Prepared(train, test, events, meta)


def check_params(p: EdaParams) -> None:
    """Reject settings that cannot describe anything (no bins, no levels, negative counts)."""
    for name in ("bins", "max_categories"):
        if getattr(p, name) < 1:
            raise InputError(f"params: 'eda.{name}' must be at least 1, got {getattr(p, name)}.")
    for name in ("top_relations", "max_plots", "iqr_k"):
        if getattr(p, name) < 0:
            raise InputError(f"params: 'eda.{name}' must not be negative, got {getattr(p, name)}.")


def dataset_info(prepared: Prepared) -> dict[str, Any]:
    """What the data is: source, names of id/target, shapes, and what prepare dropped or warned about."""
    meta, columns = prepared.meta, meta_columns(prepared.meta)
    return {"source": meta.get("source"), "files": meta.get("files"), "columns": meta.get("columns"),
            "shape": {TRAIN: list(prepared.train.shape), TEST: list(prepared.test.shape)},
            "n_customers": len(prepared.train) + len(prepared.test),
            "n_features": len(columns), "n_numeric": len(meta.get("numeric", [])),
            "n_categorical": len(meta.get("categorical", [])), "has_events": prepared.events is not None,
            "dropped": meta.get("dropped"), "warnings": meta.get("warnings", [])}


def meta_columns(meta: dict[str, Any]) -> list[str]:
    return [*meta.get("numeric", []), *meta.get("categorical", [])]


def describe_columns(prepared: Prepared, p: EdaParams) -> dict[str, Any]:
    """Per-column kind/dtype, numeric stats + histogram, and categorical levels."""
    train, test, meta = prepared.train, prepared.test, prepared.meta
    y = train[TARGET].to_numpy().astype(int)
    kinds = [(c, "numeric") for c in meta.get("numeric", [])] + [(c, "categorical") for c in meta.get("categorical", [])]
    return {
        "columns": [{"name": c, "kind": kind, "dtype": str(train[c].dtype)} for c, kind in kinds],
        "numeric": {c: {"train": stats.describe_numeric(train[c]), "test": stats.describe_numeric(test[c]),
                        "histogram": stats.histogram(train[c], test[c], y, p.bins)} for c in meta.get("numeric", [])},
        "categorical": {c: stats.describe_categorical(train[c], test[c], y, p.max_categories)
                        for c in meta.get("categorical", [])},
    }


def summarise(prepared: Prepared, p: EdaParams) -> dict[str, Any]:
    """Every number of the page, JSON-ready (NaN -> None); relations and fences from train only."""
    train, meta, events = prepared.train, prepared.meta, prepared.events
    splits = {TRAIN: train, TEST: prepared.test}
    numeric, categorical = meta.get("numeric", []), meta.get("categorical", [])
    aggregates = None
    if events is not None and len(events):
        value_columns = [c for c in meta.get("event_numeric", []) if c in events]
        aggregates = event_summary.customer_aggregates(events, train[ID], event_summary.as_of_time(events, meta, "as_of_train"),
                                                    p.max_categories, value_columns)
    return jsonable({
        "dataset": dataset_info(prepared),
        "params": as_dict(p),
        **describe_columns(prepared, p),
        "target": stats.target_balance(splits),
        "missing": stats.missingness(splits, meta_columns(meta)),
        "outliers": stats.iqr_outliers(splits, numeric, p.iqr_k),
        "events": event_summary.summarise_events(events, splits, meta, p.bins) if events is not None else None,
        "relations": relations.relations(train, numeric, categorical, aggregates, p.max_categories,
                                             p.top_relations),
    })


def jsonable(value: Any) -> Any:
    """Plain JSON types; NaN/inf/NaT -> None; floats to SIGNIFICANT digits so runs diff cleanly."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(f"{value:.{SIGNIFICANT}g}") if math.isfinite(value) else None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
