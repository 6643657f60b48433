"""cells stage: RNN vs LSTM vs GRU vs Transformer on the same folds of the TRAIN split, with and without clipping.

Reads data/features (the train split only, pipeline/cell_study/inputs.py: the test split is never
opened) and the `cells` params. Writes reports/cells.json (per cell and run: fold ROC-AUCs, mean,
sd, seconds, per-epoch validation ROC-AUC and gradient norms; or why it was skipped) and
reports/cells_metrics.json (DVC metrics: CV ROC-AUC mean and sd per cell, clipped and unclipped).
"""
from __future__ import annotations

import argparse
import logging

from pipeline.cell_study.inputs import load_train_sequences
from pipeline.cell_study.runs import check_params, compare_cells
from pipeline.cell_study.summary import metrics_summary, skipped
from pipeline.core.cli import add_path_args
from pipeline.core.errors import cli, setup_logging
from pipeline.core.io import write_json
from pipeline.core.params import add_params_arg, load_params

log = logging.getLogger(__name__)

PATHS = {"features": "data/features", "out": "reports/cells.json", "metrics": "reports/cells_metrics.json"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.cells", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    add_path_args(parser, PATHS)
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    params = load_params(args.params)
    check_params(params.cells)
    batch, y = load_train_sequences(args.features)
    if batch is None:
        result = skipped("no event log: the sequence cells have nothing to read")
    else:
        result = compare_cells(batch, y, params.cells, params.seed)
    write_json(result, args.out)
    write_json(metrics_summary(result), args.metrics)
    log.info("cells: %s -> %s", f"skipped ({result['skipped']})" if result["skipped"] else
             f"{len(result['cells'])} cells on {result['n_customers']} train customers, {result['folds']} folds",
             args.out)


if __name__ == "__main__":
    main()
