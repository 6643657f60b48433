"""Stage impute: fill missing static features with imputers fitted on train rows only (leakage rule 2).

Reads   <prepared>/train.parquet, test.parquet, meta.json ("numeric", "categorical" lists)
Writes  <out>/train.parquet, test.parquet, columns.json {"numeric", "categorical", "indicators"}
        --model   the fitted imputer (skops: loading builds only trusted types, no pickle)
        --report  per column: values filled in train and test, strategy and fill value
"""
from __future__ import annotations

import argparse
import logging

from pipeline.core.cli import add_path_args
from pipeline.core.errors import cli, setup_logging
from pipeline.core.io import write_json
from pipeline.core.params import add_params_arg, load_params
from pipeline.core.persist import save_object
from pipeline.data.prepared import read_prepared_customers
from pipeline.preprocessing.imputation import impute_split
from pipeline.preprocessing.interim import write_interim

log = logging.getLogger(__name__)

PATHS = {"prepared": "data/interim/prepared", "out": "data/interim/imputed", "model": "models/imputer.skops",
         "report": "reports/impute.json"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.impute", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    add_path_args(parser, PATHS)
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    params = load_params(args.params)
    train, test, meta = read_prepared_customers(args.prepared)
    result = impute_split(train, test, meta["numeric"], meta["categorical"], params.impute, seed=params.seed)
    write_interim(args.out, result.train, result.test, result.columns)   # everything is computed before the first write
    save_object(result.fitted, args.model)
    write_json(result.report, args.report)
    n_imputed = sum(1 for c in result.report["columns"].values() if c["filled_train"] + c["filled_test"])
    log.info("impute: %d train rows, %d columns imputed, %d indicators",
             len(result.train), n_imputed, len(result.columns["indicators"]))


if __name__ == "__main__":
    main()
