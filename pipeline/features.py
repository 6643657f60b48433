"""Stage features: static features, event aggregates, sequence embeddings and tensors, fitted on train only.

Reads  data/interim/filtered (train after imputation and outlier handling, columns.json),
       data/interim/prepared (meta.json, events.parquet, and the raw test and train splits),
       models/imputer.skops, models/fences.json; params sections features.
Writes data/features/{train,test}.parquet, sequences_{train,test}.npz and encoder.npz (with events), manifest.json,
       models/transform.skops (the one fitted path test and new customers run), models/drift_reference.json.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from pipeline.core.cli import add_path_args
from pipeline.core.errors import cli, setup_logging
from pipeline.core.io import atomic_dir, write_json, write_parquet
from pipeline.core.params import FeatureParams, add_params_arg, load_params
from pipeline.core.persist import load_object
from pipeline.data.prepared import read_prepared_for_features
from pipeline.embedding.embedder import save_pretrained
from pipeline.events.sequences import save_sequences
from pipeline.featurization.builder import FeatureBuilder
from pipeline.featurization.store import ENCODER_FILE
from pipeline.featurization.transform import CustomerTransform, ModelInputs, save_transform
from pipeline.monitoring.reference import fit_reference, save_reference
from pipeline.preprocessing.fences import load_fences
from pipeline.preprocessing.imputation import TRUSTED_TYPES as IMPUTER_TYPES
from pipeline.preprocessing.interim import read_interim

log = logging.getLogger(__name__)

PATHS = {"prepared": "data/interim/prepared", "filtered": "data/interim/filtered", "imputer": "models/imputer.skops",
         "fences": "models/fences.json", "out": "data/features", "transform": "models/transform.skops",
         "drift-reference": "models/drift_reference.json"}


def build(train: pd.DataFrame, raw_test: pd.DataFrame, events: pd.DataFrame | None, columns: dict,
          meta: dict, transform_parts: tuple, p: FeatureParams,
          seed: int = 0) -> tuple[CustomerTransform, ModelInputs, ModelInputs]:
    """Fit on the (filtered) train split; run the raw test split through the full saved transform."""
    # Out of time the training customers are measured at their own, earlier cutoff (meta.json as_of_train).
    train_as_of = meta.get("as_of_train") or meta.get("as_of")
    builder, train_matrix, train_batch = FeatureBuilder.fit_matrix(train, events, columns, p, meta.get("as_of"), seed,
                                                                   train_as_of)
    imputer, fences, mode = transform_parts
    transform = CustomerTransform(imputer, fences, mode, builder)
    return transform, ModelInputs(train_matrix, train_batch), transform.transform(raw_test, events)


def write_features(out: Path, transform: CustomerTransform, train: ModelInputs, test: ModelInputs,
                  transform_path: Path) -> None:
    """data/features/ in one piece (pipeline/featurization/store.py reads it back), and the transform beside it."""
    with atomic_dir(out) as tmp:
        for split, inputs in (("train", train), ("test", test)):
            write_parquet(inputs.matrix, tmp / f"{split}.parquet")
            if inputs.sequences is not None:
                save_sequences(inputs.sequences, tmp / f"sequences_{split}.npz")
        write_json(transform.builder.manifest(), tmp / "manifest.json")
        if transform.builder.embedding is not None:   # the sequence model may start from this encoder
            save_pretrained(transform.builder.embedding.pretrained(), tmp / ENCODER_FILE)
        save_transform(transform, transform_path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m pipeline.features", description=__doc__.split("\n\n")[0])
    add_params_arg(ap)
    add_path_args(ap, PATHS)
    return ap.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging()
    params = load_params(args.params)
    p = params.features
    train, _, columns = read_interim(args.filtered, "outliers")
    raw_test, events, meta = read_prepared_for_features(args.prepared)
    fences, mode = load_fences(args.fences)
    imputer = load_object(args.imputer, IMPUTER_TYPES, "fitted imputer")
    transform, train_in, test_in = build(train, raw_test, events, columns, meta, (imputer, fences, mode), p,
                                         params.seed)
    write_features(args.out, transform, train_in, test_in, args.transform)
    save_reference(fit_reference(train_in.matrix, args.prepared, transform.builder), args.drift_reference)  # train only
    n_features = train_in.matrix.shape[1] - 2
    log.info("features: %d train / %d test customers, %d features%s", len(train_in.matrix), len(test_in.matrix),
             n_features, f", sequences of up to {p.max_seq_len} events" if train_in.sequences is not None else "")


if __name__ == "__main__":
    main()
