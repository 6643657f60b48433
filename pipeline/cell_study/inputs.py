"""What the cells study reads: the TRAIN split's event sequences with the customers' static attributes joined.

Only the static columns (manifest source "static") join the sequence state, not the event aggregates or
sequence embeddings: those summarise the same event log and would hide what each cell itself reads from it.
The test split is never opened (leakage rule 1, DESIGN.md section 4).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core.schema import TARGET
from pipeline.events.sequences import SequenceBatch
from pipeline.featurization.store import load_split

STATIC_SOURCE = "static"


def load_train_sequences(features_dir: str | Path) -> tuple[SequenceBatch | None, np.ndarray]:
    """(train sequences with static features, 0/1 target); sequences are None without an event log."""
    table, seq, manifest = load_split(features_dir, "train")
    y = table[TARGET].to_numpy().astype(int)
    if seq is None:
        return None, y
    static = [f["name"] for f in manifest["features"] if f.get("source") == STATIC_SOURCE]
    return seq.with_static(table[static].to_numpy(np.float32, copy=True)), y
