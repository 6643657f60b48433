"""The one path from validated customers (+ events) to model inputs, with every transform fitted on train.

impute (train-fitted imputer) -> clip to the train IQR fences (never drop) -> static + event features
(+ sequence tensors). The features stage runs the test split through exactly this object, and
prediction on new customers reloads it, so both score through the same code (DESIGN.md section 4).
It is saved with skops (models/transform.skops): loading builds only the types of TRUSTED_TYPES, no pickle.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.params import FeatureParams
from pipeline.core.persist import load_object, qualified_names, save_object
from pipeline.embedding.embedder import SequenceEmbedder
from pipeline.embedding.follows import FollowsProfile
from pipeline.embedding.transitions import TransitionProfile
from pipeline.events.aggregates import EventAggregator
from pipeline.events.sequence_encoder import SequenceEncoder
from pipeline.events.sequences import SequenceBatch
from pipeline.featurization import static as static_features
from pipeline.featurization.builder import FeatureBuilder
from pipeline.preprocessing.fences import IQRBounds, apply_fences
from pipeline.preprocessing.imputation import TRUSTED_TYPES as IMPUTER_TYPES
from pipeline.preprocessing.imputation import apply_imputer


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

    def transform(self, customers: pd.DataFrame, events: pd.DataFrame | None, sequences: bool = True) -> ModelInputs:
        """Validated customers (canonical columns, as prepare writes them) -> model inputs. No row is dropped.
        `sequences=False`: no SequenceBatch in the result (tabular models never read it)."""
        clipped = apply_fences(apply_imputer(self.imputer, customers), self.fences, self.fence_mode)
        batch = self.builder.sequence_batch(clipped, events) if sequences else None
        return ModelInputs(self.builder.matrix(clipped, events, batch), batch)


def training_as_of(meta: dict) -> str | None:
    """When training customers are measured: out of time at their own, earlier cutoff (meta.json as_of_train)."""
    return meta.get("as_of_train") or meta.get("as_of")


def fit_transform(train: pd.DataFrame, events: pd.DataFrame | None, columns: dict, meta: dict, parts: tuple,
                  p: FeatureParams, seed: int) -> tuple[CustomerTransform, pd.DataFrame, SequenceBatch | None]:
    """The transform fitted on these (filtered) training customers and their events, with their matrix and
    sequences; `parts` = (imputer, fences, fence mode) of the earlier stages."""
    builder, matrix, batch = FeatureBuilder.fit_matrix(train, events, columns, p, meta.get("as_of"), seed,
                                                       training_as_of(meta))
    return CustomerTransform(*parts, builder), matrix, batch


# Every type a saved transform may hold (pipeline.core.persist loads nothing else).
TRUSTED_TYPES = (*IMPUTER_TYPES, *static_features.TRUSTED_TYPES,
                 *qualified_names(CustomerTransform, FeatureBuilder, IQRBounds, EventAggregator, SequenceEncoder,
                                  SequenceEmbedder, TransitionProfile, FollowsProfile))


def save_transform(transform: CustomerTransform, path: str | Path) -> None:
    save_object(transform, path)


def load_transform(path: str | Path) -> CustomerTransform:
    """The fitted transform; skops builds only the types of TRUSTED_TYPES (no pickle)."""
    transform = load_object(path, TRUSTED_TYPES, "fitted transform")
    if not isinstance(transform, CustomerTransform):
        raise InputError(f"{path}: holds a {type(transform).__name__}, not a fitted transform; rerun dvc repro features.")
    return transform
