"""The prepare stage's output folder: validated, canonical, split tables plus meta.json.

data/interim/prepared/ is laid out as pipeline/core/schema.py describes (train.parquet, test.parquet,
events.parquet when there are events, truth.parquet for synthetic data, meta.json). `write_prepared`
writes all files or none; the readers serve the later stages (each reads what it needs).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import atomic_dir, read_json, read_table, write_json, write_parquet
from pipeline.core.schema import ID


@dataclass(frozen=True)
class PreparedData:
    train: pd.DataFrame
    test: pd.DataFrame
    events: pd.DataFrame | Path | None     # Path: a long log already sorted into a Parquet file (event_chunks.py)
    truth: pd.DataFrame | None
    meta: dict[str, Any]


def write_prepared(data: PreparedData, out: str | Path) -> None:
    """All files or none: the directory replaces `out` only once everything is written."""
    with atomic_dir(out) as tmp:
        write_parquet(data.train, tmp / "train.parquet")
        write_parquet(data.test, tmp / "test.parquet")
        if isinstance(data.events, Path):
            shutil.move(data.events, tmp / "events.parquet")
        elif data.events is not None:
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


def read_prepared_for_features(prepared: Path, events: bool = True) -> tuple[pd.DataFrame, pd.DataFrame | None, dict]:
    """The raw (validated) test split, the kept events (None without a log, or when not asked for) and meta.json,
    ids as text."""
    meta = read_json(prepared / "meta.json")
    test = read_table(prepared / "test.parquet", "prepared test", (ID,))
    events = read_table(prepared / "events.parquet", "prepared events", (ID,)) if meta["has_events"] and events \
        else None
    return test, events, meta
