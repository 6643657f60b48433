"""Stage outliers: IQR fences fitted on train; train rows outside are dropped or clipped, test rows only clipped.

Reads   <imputed>/train.parquet, test.parquet, columns.json
Writes  <out>/train.parquet, test.parquet, columns.json (copied, plus "fenced")
        --fences  the train fences as JSON (the saved transform clips new rows to them)
        --report  per column: train rows below/above the fence, test values clipped; rows before/after
"""
from __future__ import annotations

import argparse
import logging

from pipeline.core.cli import add_path_args
from pipeline.core.errors import cli, setup_logging
from pipeline.core.io import write_json
from pipeline.core.params import add_params_arg, load_params
from pipeline.preprocessing.interim import read_interim, write_interim
from pipeline.preprocessing.outlier_filter import filter_split

log = logging.getLogger(__name__)

PATHS = {"imputed": "data/interim/imputed", "out": "data/interim/filtered", "fences": "models/fences.json",
         "report": "reports/outliers.json"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.outliers", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    add_path_args(parser, PATHS)
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    params = load_params(args.params)
    train, test, columns = read_interim(args.imputed, "impute")
    result = filter_split(train, test, columns["numeric"], params.outliers)
    write_interim(args.out, result.train, result.test, {**columns, "fenced": result.fenced})
    write_json(result.bounds.to_json(params.outliers.mode), args.fences)
    write_json(result.report, args.report)
    r = result.report
    log.info("outliers: mode %s, k %g, %d columns fenced, %d of %d train rows removed, %d test values clipped",
             r["mode"], r["k"], len(r["fenced"]), r["train_rows_removed"], r["rows"]["train_before"],
             sum(c["test_clipped"] for c in r["columns"].values()))


if __name__ == "__main__":
    main()
