"""Stage `resample`: oversample the minority class of the train feature matrix (SMOTE family).

Reads <features>/train.parquet (customer_id, target, feature columns) and <features>/manifest.json,
params `seed` and `resample`; writes the resampled table (customer_id, target, is_synthetic, features)
and a JSON report. It never reads or writes the test split: no synthetic row is ever scored
(leakage rule 3); tuning resamples inside each CV fold's training part instead.
"""
from __future__ import annotations

import argparse
import logging

from pipeline.core.cli import add_path_args
from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.core.io import read_json, read_table, write_json, write_parquet
from pipeline.core.params import add_params_arg, load_params
from pipeline.core.schema import ID
from pipeline.resampling.train_table import resample_train

log = logging.getLogger(__name__)

PATHS = {"features": "data/features", "out": "data/resampled/train.parquet", "report": "reports/resample.json"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.resample", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    add_path_args(parser, PATHS)
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    params = load_params(args.params)
    manifest_path = args.features / "manifest.json"
    if not manifest_path.is_file():
        raise InputError(f"{manifest_path}: feature manifest not found (run the features stage first).")
    train = read_table(args.features / "train.parquet", "train features", string_columns=(ID,))
    table, report = resample_train(train, read_json(manifest_path), params.resample, params.seed, str(manifest_path))
    write_parquet(table, args.out)
    write_json(report, args.report)
    log.info("resample: %s, %d -> %d train rows (%d synthetic), classes %s -> %s", report["method"], len(train),
             len(table), report["synthetic_rows"], report["before"], report["after"])


if __name__ == "__main__":
    main()
