"""Stage tune: one Optuna study per model family on stratified CV folds of the TRAIN split, then
each family's best parameters refit on the full train set.

Reads  data/features/{train.parquet, sequences_train.npz, manifest.json} (never the test split),
       configs/<family>.yaml (search spaces), params sections seed, resample, tune, evaluate.
Writes models/tuned/<family>/ (model files + info.json) and reports/tune.json. Trials live in the
Optuna storage (sqlite:///optuna/studies.db by default), so rerunning continues the studies. With a
shared PostgreSQL storage, the same command on several machines runs one study-wide set of trials
(pipeline/tuning/workers.py) and one of them does the final fits (pipeline/tuning/final_claim.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import time

from pipeline.core.cli import add_path_args
from pipeline.core.errors import StageError, cli, setup_logging
from pipeline.core.io import write_json
from pipeline.core.params import add_params_arg, load_params
from pipeline.evaluation.definitions import OBJECTIVES
from pipeline.models.registry import FAMILIES
from pipeline.tuning import storage as stores
from pipeline.tuning.runner import run
from pipeline.tuning.settings import merged_settings, resolve_device
from pipeline.tuning.train_data import load_train

log = logging.getLogger(__name__)

PATHS = {"features": "data/features", "configs": "configs", "out": "models/tuned", "report": "reports/tune.json"}
HELP = {"features": "features stage output folder", "configs": "folder of <family>.yaml search spaces",
        "out": "fitted models, one folder per family", "report": "studies summary (JSON)"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m pipeline.tune", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_params_arg(ap)
    add_path_args(ap, PATHS, HELP)
    flags = ap.add_argument_group("overrides of params.yaml tune.* (for ad-hoc runs; dvc repro passes none)")
    flags.add_argument("--trials", type=int, help="trials per family, study-wide (all workers together)")
    flags.add_argument("--timeout", type=float, help="hard wall-clock budget in seconds, final fits included (0: none)")
    flags.add_argument("--models", help="comma-separated subset of " + ",".join(FAMILIES))
    flags.add_argument("--metric", choices=sorted(OBJECTIVES), help="CV objective")
    flags.add_argument("--folds", type=int, help="stratified CV folds (same for every family)")
    flags.add_argument("--storage", help="Optuna RDB URL, e.g. postgresql+psycopg2://user:pass@host/db "
                       f"(else ${stores.ENV_VAR}, else tune.storage)")
    flags.add_argument("--study-name", help="study name prefix shared by all workers (studies are NAME-<family>)")
    flags.add_argument("--n-jobs", type=int, help="parallel trials in this process")
    flags.add_argument("--race", action=argparse.BooleanOptionalAction, default=None,
                       help="stop families clearly behind the leader (default) or give every family its trials")
    flags.add_argument("--seed", type=int, help="overrides params seed (folds, samplers, models)")
    flags.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None,
                       help="continue existing studies (default) or delete and start afresh")
    flags.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device for xgb and the sequence model")
    flags.add_argument("--final-fit", action=argparse.BooleanOptionalAction, default=None,
                       help="refit the best params here when this worker wins the claim (default) or never")
    return ap.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    started = time.monotonic()   # tune.timeout bounds the stage's wall clock: imports and loading count
    args = parse_args(argv)
    setup_logging()
    import optuna  # after --help: a stage that only prints its flags need not load Optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    params = load_params(args.params)
    s = merged_settings(args, params.tune)
    s = dataclasses.replace(s, device=resolve_device(s.device))
    seed = params.seed if args.seed is None else args.seed
    data = load_train(args.features)
    storage = stores.make_storage(s.storage, s.heartbeat_seconds, s.grace_seconds, s.n_jobs)
    try:
        report = run(args, s, params, seed, data, storage, started)
    except Exception as err:   # a database lost mid-run: one line, not Optuna's traceback
        if (cause := stores.storage_failure(err)) is None:
            raise
        raise StageError(f"tune: lost the Optuna storage {stores.safe_url(s.storage)}: "
                         f"{stores.first_line(cause)}; rerun the same command to resume.") from err
    write_json(report, args.report)


if __name__ == "__main__":
    main()
