"""What tuning sees: the TRAIN feature matrix, its event sequences and the feature manifest. Never the test split."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.schema import ID, TARGET
from pipeline.embedding.embedder import Pretrained, load_pretrained
from pipeline.events.sequences import SequenceBatch
from pipeline.featurization.manifest import categorical_layout
from pipeline.featurization.store import ENCODER_FILE, load_split


@dataclass
class TrainData:
    ids: np.ndarray
    X: pd.DataFrame                  # float64 feature matrix, manifest column order
    y: np.ndarray                    # int 0/1
    seq: SequenceBatch | None        # rows aligned with X; None without an events table
    manifest: dict[str, Any]
    static_columns: list[str]        # joined to the sequence model's recurrent state (all matrix columns)
    categorical_mask: np.ndarray     # one-hot/binary columns, for SMOTENC
    groups: list[list[int]]          # one-hot groups, so SMOTENC keeps exactly one level per group
    encoder: Pretrained | None = None   # the CoLES encoder the sequence model may start from

    def __len__(self) -> int:
        return len(self.y)


def load_train(features_dir: str | Path) -> TrainData:
    table, seq, manifest = load_split(features_dir, "train")
    columns = [f["name"] for f in manifest["features"]]
    mask, groups = categorical_layout(manifest, columns)
    # Every matrix column joins the sequence model's state: the static features, the aggregates and the
    # sequence representations (the frozen CoLES embedding beside the recurrent net's own reading).
    static = list(columns)
    return TrainData(ids=table[ID].astype(str).to_numpy(), X=table[columns], y=table[TARGET].to_numpy().astype(int),
                     seq=seq, manifest=manifest, static_columns=static, categorical_mask=mask, groups=groups,
                     encoder=load_pretrained(Path(features_dir) / ENCODER_FILE))
