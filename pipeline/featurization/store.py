"""The features stage's folder (data/features/), read back by tune, evaluate and explain (the stage writes it).

  train.parquet, test.parquet       customer_id, target, feature columns in manifest order
  sequences_{train,test}.npz        with an event log: the SequenceBatch of each split, same row order
  encoder.npz                       with an event log: the CoLES encoder's weights (pipeline/embedding/embedder.py)
  manifest.json                     pipeline/featurization/manifest.py
The fitted transform is saved beside it (models/transform.skops) in the same write (pipeline/features.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import read_json
from pipeline.core.schema import ID
from pipeline.events.sequences import SequenceBatch, load_sequences

ENCODER_FILE = "encoder.npz"


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
