"""Evaluate stage: score every tuned family once on the TEST split; metrics, curve data, predictions.

Reads data/features/{test.parquet, manifest.json, sequences_test.npz}, models/tuned/<family>/
(info.json + model files, see pipeline/models/store.py) and, for the oracle row only,
<prepared>/truth.parquet (synthetic data; nothing else may read it). Writes reports/metrics.json
(the full record), reports/summary/<family>.json (DVC's metrics: CV rank, test ROC-AUC, AP, CV
score, Brier), reports/plots/ ({roc,pr,calibration,gains}.csv, confusion.json, confusion.csv) and
reports/predictions.csv. Never writes to models/. The best family is chosen by CV score, never by
test score (pipeline/evaluation/leaderboard.py says why).
"""
from __future__ import annotations

import argparse
import logging

from pipeline.core.cli import add_path_args
from pipeline.core.errors import cli, setup_logging
from pipeline.core.params import add_params_arg, load_params
from pipeline.evaluation.leaderboard import evaluate_models, read_truth
from pipeline.evaluation.outputs import write_reports
from pipeline.featurization.store import load_split  # the same loader (and row-order check) tune uses
from pipeline.models.store import load_tuned

log = logging.getLogger(__name__)

PATHS = {"features": "data/features", "models": "models/tuned", "prepared": "data/interim/prepared",
         "metrics": "reports/metrics.json", "summary": "reports/summary", "plots": "reports/plots",
         "predictions": "reports/predictions.csv"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.evaluate", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    add_path_args(parser, PATHS)
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    params = load_params(args.params)
    test, seq, _ = load_split(args.features, "test")
    infos, models = load_tuned(args.models)
    result = evaluate_models(test, seq, infos, models, truth=read_truth(args.prepared),
                             n_boot=params.evaluate.n_boot, seed=params.seed)
    write_reports(result, args.metrics, args.plots, args.predictions, args.summary)
    m = result.metrics
    log.info("evaluate: %d models on %d test customers (%d positive); best by CV %s: %s; %s", len(m["models"]),
             m["n_test"], m["positives_test"], m["metric"], m["best"],
             m["comparison"]["verdict"] if m["comparison"] else "no runner-up to compare")


if __name__ == "__main__":
    main()
