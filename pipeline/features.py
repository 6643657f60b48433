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

from pipeline.core.cli import add_path_args
from pipeline.core.errors import cli, setup_logging
from pipeline.core.io import read_json
from pipeline.core.params import add_params_arg, load_params
from pipeline.core.persist import load_object
from pipeline.data.prepared import read_prepared_for_features
from pipeline.featurization.chunked import needs_chunks
from pipeline.featurization.outputs import featurize, featurize_in_chunks
from pipeline.monitoring.reference import fit_reference, save_reference
from pipeline.preprocessing.fences import load_fences
from pipeline.preprocessing.imputation import TRUSTED_TYPES as IMPUTER_TYPES
from pipeline.preprocessing.interim import read_interim

log = logging.getLogger(__name__)

PATHS = {"prepared": "data/interim/prepared", "filtered": "data/interim/filtered", "imputer": "models/imputer.skops",
         "fences": "models/fences.json", "out": "data/features", "transform": "models/transform.skops",
         "drift-reference": "models/drift_reference.json"}


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
    meta = read_json(args.prepared / "meta.json")
    # More customers than fit in memory at once: fit on a sample, then chunk by chunk (never the whole log).
    chunks = meta["has_events"] and needs_chunks(len(train) + meta["n_test"], p)
    raw_test, events, meta = read_prepared_for_features(args.prepared, events=not chunks)
    fences, mode = load_fences(args.fences)
    parts = (load_object(args.imputer, IMPUTER_TYPES, "fitted imputer"), fences, mode)
    run = featurize_in_chunks if chunks else featurize
    done = run(train, raw_test, args.prepared / "events.parquet" if chunks else events, columns, meta, parts, p,
               params.seed, args.out, args.transform)
    reference = fit_reference(done.reference_matrix, args.prepared, done.transform.builder)   # train only
    save_reference(reference, args.drift_reference)
    log.info("features: %d train / %d test customers, %d features%s%s", done.n_train, done.n_test,
             done.reference_matrix.shape[1] - 2, f", sequences of up to {p.max_seq_len} events" if meta["has_events"]
             else "", f", in chunks of {p.chunk_customers:,}" if chunks else "")

if __name__ == "__main__":
    main()
