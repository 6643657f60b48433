"""The features stage's folder (data/features/): written in one piece, read back by tune, evaluate and explain.

  train.parquet, test.parquet       customer_id, target, feature columns in manifest order
  sequences_{train,test}.npz        with an event log: the SequenceBatch of each split, same row order
  manifest.json                     pipeline/featurization/manifest.py
The fitted transform is saved beside it (models/transform.skops) in the same write.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import atomic_dir, read_json, read_table, write_json, write_parquet
from pipeline.core.schema import ID
from pipeline.events.sequences import SequenceBatch, load_sequences, save_sequences
from pipeline.featurization.transform import CustomerTransform, ModelInputs, save_transform


def read_prepared_for_features(prepared: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, dict]:
    """The raw (validated) test split, the kept events (or None) and meta.json."""
    meta = read_json(prepared / "meta.json")
    test = read_table(prepared / "test.parquet", "prepared test", (ID,))
    events = read_table(prepared / "events.parquet", "prepared events", (ID,)) if meta["has_events"] else None
    return test, events, meta


def write_features(out: Path, transform: CustomerTransform, train: ModelInputs, test: ModelInputs,
                  transform_path: Path) -> None:
    with atomic_dir(out) as tmp:
        for split, inputs in (("train", train), ("test", test)):
            write_parquet(inputs.matrix, tmp / f"{split}.parquet")
            if inputs.sequences is not None:
                save_sequences(inputs.sequences, tmp / f"sequences_{split}.npz")
        write_json(transform.builder.manifest(), tmp / "manifest.json")
        save_transform(transform, transform_path)


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
