"""The interim tables between impute, outliers and features: one folder of train/test Parquet + columns.json.

data/interim/imputed/ and data/interim/filtered/ share this layout:
  train.parquet, test.parquet   customer_id (str), target, static feature columns
  columns.json                  {"numeric": [...], "categorical": [...], "indicators": [...]} (+ "fenced")
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import atomic_dir, read_json, read_table, write_json, write_parquet
from pipeline.core.schema import ID

COLUMNS_FILE = "columns.json"


def write_interim(out: str | Path, train: pd.DataFrame, test: pd.DataFrame, columns: dict[str, Any]) -> None:
    """All three files or none: the folder replaces `out` whole."""
    with atomic_dir(out) as tmp:
        write_parquet(train, tmp / "train.parquet")
        write_parquet(test, tmp / "test.parquet")
        write_json(columns, tmp / COLUMNS_FILE)


def read_interim(folder: str | Path, stage: str) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(train, test, columns) of a folder written by `stage` (impute or outliers), ids as text."""
    folder = Path(folder)
    cols_path = folder / COLUMNS_FILE
    if not cols_path.is_file():
        raise InputError(f"{cols_path}: not found; run the {stage} stage first.")
    columns = read_json(cols_path)
    if not isinstance(columns.get("numeric"), list):
        raise InputError(f"{cols_path}: lacks the 'numeric' column list.")
    label = "imputed" if stage == "impute" else "filtered"
    train, test = (read_table(folder / f"{s}.parquet", f"{label} {s}", (ID,)) for s in ("train", "test"))
    return train, test, columns
