"""The features stage's two ways to its outputs: everything in memory, or chunk by chunk (chunked.py).

Both write data/features/ (layout in store.py) and models/transform.skops in one atomic step and return what the
stage needs after: the transform and the training matrix the drift reference is fitted on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.io import atomic_dir, write_json, write_parquet
from pipeline.core.params import FeatureParams
from pipeline.embedding.embedder import save_pretrained
from pipeline.events.sequences import save_sequences
from pipeline.featurization.chunked import fit_on_sample, write_in_chunks
from pipeline.featurization.store import ENCODER_FILE
from pipeline.featurization.transform import CustomerTransform, ModelInputs, fit_transform, save_transform


@dataclass(frozen=True)
class Featurized:
    transform: CustomerTransform
    reference_matrix: pd.DataFrame    # training rows the drift reference describes (all, or the fit's sample)
    n_train: int
    n_test: int


def build(train: pd.DataFrame, raw_test: pd.DataFrame, events: pd.DataFrame | None, columns: dict,
          meta: dict, transform_parts: tuple, p: FeatureParams,
          seed: int = 0) -> tuple[CustomerTransform, ModelInputs, ModelInputs]:
    """Fit on the (filtered) train split; run the raw test split through the full saved transform."""
    transform, train_matrix, train_batch = fit_transform(train, events, columns, meta, transform_parts, p, seed)
    return transform, ModelInputs(train_matrix, train_batch), transform.transform(raw_test, events)


def featurize(train: pd.DataFrame, raw_test: pd.DataFrame, events: pd.DataFrame | None, columns: dict, meta: dict,
              transform_parts: tuple, p: FeatureParams, seed: int, out: Path, transform_path: Path) -> Featurized:
    """In memory: fit on every training customer, then write both splits."""
    transform, train_in, test_in = build(train, raw_test, events, columns, meta, transform_parts, p, seed)
    write_features(out, transform, train_in, test_in, transform_path)
    return Featurized(transform, train_in.matrix, len(train_in.matrix), len(test_in.matrix))


def featurize_in_chunks(train: pd.DataFrame, raw_test: pd.DataFrame, events_path: Path, columns: dict, meta: dict,
                        transform_parts: tuple, p: FeatureParams, seed: int, out: Path,
                        transform_path: Path) -> Featurized:
    """Chunk by chunk: fit on a sample of training customers, then write both splits a chunk at a time."""
    transform, sample_matrix = fit_on_sample(train, events_path, columns, meta, transform_parts, p, seed)
    with atomic_dir(out) as tmp:
        rows = write_in_chunks(transform, train, raw_test, events_path, meta, p, tmp)
        write_manifest(tmp, transform)
        save_transform(transform, transform_path)
    return Featurized(transform, sample_matrix, rows["train"], rows["test"])


def write_features(out: Path, transform: CustomerTransform, train: ModelInputs, test: ModelInputs,
                   transform_path: Path) -> None:
    """data/features/ in one piece (pipeline/featurization/store.py reads it back), and the transform beside it."""
    with atomic_dir(out) as tmp:
        for split, inputs in (("train", train), ("test", test)):
            write_parquet(inputs.matrix, tmp / f"{split}.parquet")
            if inputs.sequences is not None:
                save_sequences(inputs.sequences, tmp / f"sequences_{split}.npz")
        write_manifest(tmp, transform)
        save_transform(transform, transform_path)


def write_manifest(out: Path, transform: CustomerTransform) -> None:
    """manifest.json, and the pre-trained encoder the sequence model may start from."""
    write_json(transform.builder.manifest(), out / "manifest.json")
    if transform.builder.embedding is not None:
        save_pretrained(transform.builder.embedding.pretrained(), out / ENCODER_FILE)
