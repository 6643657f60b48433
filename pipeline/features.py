"""Stage features: static features, event aggregates and sequence tensors, fitted on train only.

Reads  data/interim/filtered (train after imputation and outlier handling, columns.json),
       data/interim/prepared (meta.json, events.parquet, and the raw test split),
       models/imputer.skops, models/fences.json; params sections features.
Writes data/features/{train,test}.parquet, sequences_{train,test}.npz (with events), manifest.json,
       and models/transform.joblib: the single fitted path the test split (and later new customers) runs.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import joblib
import pandas as pd

from pipeline.core.errors import cli, setup_logging
from pipeline.feature_builder import FeatureBuilder
from pipeline.preprocessing.fences import load_fences
from pipeline.core.io import atomic_dir, read_json, read_table, write_json, write_parquet
from pipeline.core.persist import load_object
from pipeline.preprocessing.imputation import TRUSTED_TYPES as IMPUTER_TYPES
from pipeline.preprocessing.interim import read_interim
from pipeline.core.params import add_params_arg, load_params
from pipeline.core.schema import ID
from pipeline.sequences import save_sequences
from pipeline.transform import CustomerTransform, ModelInputs, save_transform

log = logging.getLogger(__name__)


def read_prepared(prepared: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, dict]:
    """The raw (validated) test split, the kept events (or None) and meta.json."""
    meta = read_json(prepared / "meta.json")
    test = read_table(prepared / "test.parquet", "prepared test", (ID,))
    events = read_table(prepared / "events.parquet", "prepared events", (ID,)) if meta["has_events"] else None
    return test, events, meta


def build(train: pd.DataFrame, raw_test: pd.DataFrame, events: pd.DataFrame | None, columns: dict,
          meta: dict, transform_parts: tuple, p) -> tuple[CustomerTransform, ModelInputs, ModelInputs]:
    """Fit on the (filtered) train split; run the raw test split through the full saved transform."""
    as_of = pd.Timestamp(meta["as_of"]) if meta.get("as_of") else None
    builder = FeatureBuilder.fit(train, events, columns, p, as_of)
    imputer, fences, mode = transform_parts
    transform = CustomerTransform(imputer, fences, mode, builder)
    train_inputs = ModelInputs(builder.matrix(train, events), builder.sequence_batch(train, events))
    return transform, train_inputs, transform.transform(raw_test, events)


def write_outputs(out: Path, transform: CustomerTransform, train: ModelInputs, test: ModelInputs,
                  transform_path: Path) -> None:
    with atomic_dir(out) as tmp:
        for split, inputs in (("train", train), ("test", test)):
            write_parquet(inputs.matrix, tmp / f"{split}.parquet")
            if inputs.sequences is not None:
                save_sequences(inputs.sequences, tmp / f"sequences_{split}.npz")
        write_json(transform.builder.manifest(), tmp / "manifest.json")
        save_transform(transform, transform_path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m pipeline.features", description=__doc__.split("\n\n")[0])
    add_params_arg(ap)
    ap.add_argument("--prepared", type=Path, required=True)
    ap.add_argument("--filtered", type=Path, required=True)
    ap.add_argument("--imputer", type=Path, required=True)
    ap.add_argument("--fences", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--transform", type=Path, required=True, help="where to save the fitted transform (joblib)")
    return ap.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging()
    p = load_params(args.params).features
    train, _, columns = read_interim(args.filtered, "outliers")
    raw_test, events, meta = read_prepared(args.prepared)
    fences, mode = load_fences(args.fences)
    transform, train_in, test_in = build(train, raw_test, events, columns, meta,
                                         (load_object(args.imputer, IMPUTER_TYPES, "fitted imputer"), fences, mode), p)
    write_outputs(args.out, transform, train_in, test_in, args.transform)
    n_features = train_in.matrix.shape[1] - 2
    log.info("features: %d train / %d test customers, %d features%s", len(train_in.matrix), len(test_in.matrix),
             n_features, f", sequences of up to {p.max_seq_len} events" if train_in.sequences is not None else "")


if __name__ == "__main__":
    main()
