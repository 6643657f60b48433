"""The one path from validated customers (+ events) to model inputs, with every transform fitted on train.

impute (train-fitted imputer) -> clip to the train IQR fences (never drop) -> static + event features
(+ sequence tensors). The features stage runs the test split through exactly this object, and
prediction on new customers reloads it, so both score through the same code (DESIGN.md section 4).
The saved file is a joblib pickle: load it only from a trusted source (your own pipeline run).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.feature_builder import FeatureBuilder
from pipeline.preprocessing.fences import IQRBounds, apply_fences
from pipeline.preprocessing.imputation import apply_imputer
from pipeline.core.io import atomic_path
from pipeline.sequences import SequenceBatch


@dataclass
class ModelInputs:
    matrix: pd.DataFrame              # customer_id, [target], feature columns (manifest order)
    sequences: SequenceBatch | None   # rows in the same order; None without an event log


@dataclass
class CustomerTransform:
    imputer: Any
    fences: IQRBounds
    fence_mode: str
    builder: FeatureBuilder

    def transform(self, customers: pd.DataFrame, events: pd.DataFrame | None) -> ModelInputs:
        """Validated customers (canonical columns, as prepare writes them) -> model inputs. No row is dropped."""
        clipped = apply_fences(apply_imputer(self.imputer, customers), self.fences, self.fence_mode)
        return ModelInputs(self.builder.matrix(clipped, events), self.builder.sequence_batch(clipped, events))


def save_transform(transform: CustomerTransform, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        joblib.dump(transform, tmp)


def load_transform(path: str | Path) -> CustomerTransform:
    """Trusted-source only (joblib is a pickle)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: fitted transform not found; run `dvc repro features` first.")
    return joblib.load(path)
