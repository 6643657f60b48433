"""Explain stage: what the tuned models rely on, measured on the TEST split only by scoring (never fitting).

Reads data/features/test.parquet, models/tuned/<family>/ (pipeline/models/store.py), reports/metrics.json
(metric and CV ranking), and for the sequence model the prepared test customers and events
(data/interim/prepared) with the saved transform (models/transform.skops). Writes reports/explain.json:
permutation importance, the linear model's coefficients, the sequence model's order-shuffle and
per-event-type drops, and why any part was skipped (pipeline/explanation/measure.py).
"""
from __future__ import annotations

import argparse
import logging

from pipeline.core.cli import add_path_args
from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.core.io import write_json
from pipeline.core.params import add_params_arg, load_params
from pipeline.core.schema import ID
from pipeline.explanation.measure import explain, feature_groups, ranking_of, sample_rows, sequence_inputs
from pipeline.featurization.store import load_split
from pipeline.models.store import load_tuned

log = logging.getLogger(__name__)

PATHS = {"features": "data/features", "models": "models/tuned", "metrics": "reports/metrics.json",
         "prepared": "data/interim/prepared", "transform": "models/transform.skops", "out": "reports/explain.json"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.explain", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    add_path_args(parser, PATHS)
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    params = load_params(args.params)
    p = params.explain
    if p.n_repeats < 1 or (p.max_rows is not None and p.max_rows < 2):
        raise InputError(f"{args.params}: explain.n_repeats must be >= 1 and explain.max_rows >= 2 (or null); got {p}.")
    test, _, manifest = load_split(args.features, "test")
    test = sample_rows(test, p.max_rows, params.seed)
    infos, models = load_tuned(args.models)
    ranking, metric = ranking_of(args.metrics, models)
    seq = sequence_inputs(args.prepared, args.transform, test[ID], infos, models)
    result = explain(test, infos, models, ranking, metric, p, params.seed, seq, feature_groups(manifest))
    write_json(result, args.out)
    done = {part: result[part]["family"] for part in ("permutation", "coefficients", "sequence") if result[part]}
    log.info("explain: %d test customers; explained %s; skipped %s -> %s", result["n_test"], done,
             sorted(result["skipped"]) or "nothing", args.out)


if __name__ == "__main__":
    main()
