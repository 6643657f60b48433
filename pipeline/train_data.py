"""What tuning sees: the TRAIN feature matrix, its event sequences and the feature manifest. Never the test split."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import read_json
from pipeline.resample import categorical_layout
from pipeline.core.schema import ID, TARGET
from pipeline.sequences import SequenceBatch, load_sequences


@dataclass
class TrainData:
    ids: np.ndarray
    X: pd.DataFrame                  # float64 feature matrix, manifest column order
    y: np.ndarray                    # int 0/1
    seq: SequenceBatch | None        # rows aligned with X; None without an events table
    manifest: dict[str, Any]
    static_columns: list[str]        # joined to the sequence model's recurrent state
    categorical_mask: np.ndarray     # one-hot/binary columns, for SMOTENC
    groups: list[list[int]]          # one-hot groups, so SMOTENC keeps exactly one level per group

    def __len__(self) -> int:
        return len(self.y)


def load_split(features_dir: str | Path, split: str) -> tuple[pd.DataFrame, SequenceBatch | None, dict[str, Any]]:
    """The feature table, sequences (when there are events) and manifest of one split."""
    features_dir = Path(features_dir)
    table_path = features_dir / f"{split}.parquet"
    if not table_path.is_file():
        raise InputError(f"{table_path}: not found; run the features stage first (dvc repro features).")
    table = pd.read_parquet(table_path)
    manifest = read_json(features_dir / "manifest.json")
    seq_path = features_dir / f"sequences_{split}.npz"
    seq = load_sequences(seq_path) if manifest.get("has_events") and seq_path.is_file() else None
    if seq is not None and not np.array_equal(seq.customer_ids.astype(str), table[ID].astype(str).to_numpy()):
        raise InputError(f"{seq_path}: customer order differs from {table_path}; rerun the features stage.")
    return table, seq, manifest


def load_train(features_dir: str | Path) -> TrainData:
    table, seq, manifest = load_split(features_dir, "train")
    columns = [f["name"] for f in manifest["features"]]
    mask, groups = categorical_layout(manifest, columns)
    static = [f["name"] for f in manifest["features"] if f.get("source") == "static"]
    return TrainData(ids=table[ID].astype(str).to_numpy(), X=table[columns], y=table[TARGET].to_numpy().astype(int),
                     seq=seq, manifest=manifest, static_columns=static, categorical_mask=mask, groups=groups)
