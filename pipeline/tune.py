"""Stage tune: one Optuna study per model family on stratified CV folds of the TRAIN split, then
each family's best parameters refit on the full train set.

Reads  data/features/{train.parquet, sequences_train.npz, manifest.json} (never the test split),
       configs/<family>.yaml (search spaces), params sections seed, resample, tune, evaluate.
Writes models/tuned/<family>/ (model files + info.json) and reports/tune.json. Trials live in the
Optuna storage (sqlite:///optuna/studies.db by default), so rerunning continues the studies.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

import optuna

from pipeline import objective as obj
from pipeline import studies
from pipeline.cv import DIRECTIONS, make_folds
from pipeline.errors import InputError, cli, setup_logging
from pipeline.final_fit import final_fit, skip_family
from pipeline.io import write_json
from pipeline.models import FAMILIES
from pipeline.models.space import load_space
from pipeline.params import Params, TuneParams, add_params_arg, load_params
from pipeline.progress import Progress
from pipeline.train_data import TrainData, load_train

log = logging.getLogger(__name__)
FINAL_FIT_SHARE = 0.2   # share of each family's time budget kept for its final refit


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m pipeline.tune", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_params_arg(ap)
    ap.add_argument("--features", type=Path, default=Path("data/features"), help="features stage output folder")
    ap.add_argument("--configs", type=Path, default=Path("configs"), help="folder of <family>.yaml search spaces")
    ap.add_argument("--out", type=Path, default=Path("models/tuned"), help="fitted models, one folder per family")
    ap.add_argument("--report", type=Path, default=Path("reports/tune.json"), help="studies summary (JSON)")
    flags = ap.add_argument_group("overrides of params.yaml tune.* (for ad-hoc runs; dvc repro passes none)")
    flags.add_argument("--trials", type=int, help="trials per family, study-wide (all workers together)")
    flags.add_argument("--timeout", type=float, help="hard wall-clock budget in seconds, final fits included (0: none)")
    flags.add_argument("--models", help="comma-separated subset of " + ",".join(FAMILIES))
    flags.add_argument("--metric", choices=sorted(DIRECTIONS), help="CV objective")
    flags.add_argument("--folds", type=int, help="stratified CV folds (same for every family)")
    flags.add_argument("--storage", help="Optuna RDB URL, e.g. postgresql+psycopg2://user:pass@host/db")
    flags.add_argument("--study-name", help="study name prefix shared by all workers (studies are NAME-<family>)")
    flags.add_argument("--n-jobs", type=int, help="parallel trials in this process")
    flags.add_argument("--seed", type=int, help="overrides params seed (folds, samplers, models)")
    flags.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None,
                       help="continue existing studies (default) or delete and start afresh")
    flags.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device for xgb and the sequence model")
    return ap.parse_args(argv)


def merged_settings(args: argparse.Namespace, tune: TuneParams) -> TuneParams:
    """params.yaml tune section with the CLI flags that were given laid over it."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(tune) if getattr(args, f.name, None) is not None}
    if isinstance(given.get("models"), str):
        given["models"] = [m.strip() for m in given["models"].split(",") if m.strip()]
    if given.get("timeout") is not None and given["timeout"] <= 0:
        given["timeout"] = None   # --timeout 0: no budget, run every trial
    merged = dataclasses.replace(tune, **given)
    if unknown := [m for m in merged.models if m not in FAMILIES]:
        raise InputError(f"tune: unknown model family {unknown}; choose from {list(FAMILIES)}.")
    if merged.metric not in DIRECTIONS:
        raise InputError(f"params: tune.metric must be one of {sorted(DIRECTIONS)}, got {merged.metric!r}.")
    if merged.trials < 1 or merged.folds < 2:
        raise InputError(f"tune: need trials >= 1 and folds >= 2, got {merged.trials} and {merged.folds}.")
    return merged


def tune_family(family: str, data: TrainData, s: TuneParams, params: Params, seed: int, configs: Path,
                storage: optuna.storages.BaseStorage, deadline: float | None) -> optuna.Study:
    """Run (or continue) the family's study until it holds s.trials finished trials or time runs out."""
    space = load_space(family, configs) if (configs / f"{family}.yaml").is_file() else None
    settings = obj.settings_of(s.metric, s.folds, seed, params.resample, s.lstm_max_epochs)
    fp = obj.fingerprint(data, family, space, settings)
    name = f"{s.study_name}-{family}" if s.study_name else f"{studies.DEFAULT_STUDY}-{family}-{fp}"
    study = studies.open_study(storage, name, DIRECTIONS[s.metric], seed, s.pruner, s.resume, family)
    studies.check_fingerprint(study, fp)
    objective = obj.Objective(family, data, make_folds(data.y, s.folds, seed), space, s.metric, seed,
                              params.resample, params.evaluate, s.device, s.lstm_max_epochs, deadline)
    remaining = s.trials - studies.counts(study)["n_trials"]
    if remaining > 0:
        progress = Progress(family, s.trials, deadline=deadline)
        timeout = None if deadline is None else max(deadline - time.monotonic(), 0)
        study.optimize(objective, n_trials=remaining, timeout=timeout, n_jobs=s.n_jobs, catch=(Exception,),
                       callbacks=[progress, optuna.study.MaxTrialsCallback(s.trials, states=None)])
        progress.close()
    return study


def resolve_device(device: str) -> str:
    """'auto' -> cuda when a GPU is visible, else cpu (XGBoost and torch both get the concrete name)."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@cli
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    params = load_params(args.params)
    s = merged_settings(args, params.tune)
    s = dataclasses.replace(s, device=resolve_device(s.device))
    seed = params.seed if args.seed is None else args.seed
    data = load_train(args.features)
    storage = studies.make_storage(s.storage)
    start, summary = time.monotonic(), {}
    for i, family in enumerate(s.models):
        if family == "lstm" and data.seq is None:
            summary[family] = skip_family(family, "no events table: the sequence model needs an event log", args.out)
            continue
        budget = None if s.timeout is None else (start + s.timeout - time.monotonic()) / (len(s.models) - i)
        cv_deadline = None if budget is None else time.monotonic() + budget * (1 - FINAL_FIT_SHARE)
        t0 = time.monotonic()
        study = tune_family(family, data, s, params, seed, args.configs, storage, cv_deadline)
        fit_deadline = None if budget is None else t0 + budget
        summary[family] = final_fit(family, study, data, s, params, seed, args.out, fit_deadline)
        summary[family]["tune_seconds"] = round(time.monotonic() - t0, 2)
        log.info("tune %s: best CV %s %.4f (%d trials: %d pruned, %d failed) in %.0f s", family, s.metric,
                 summary[family]["cv_score"], summary[family]["n_trials"], summary[family]["n_pruned"],
                 summary[family]["n_failed"], summary[family]["tune_seconds"])
    write_json({"metric": s.metric, "folds": s.folds, "seed": seed, "storage": studies.safe_url(s.storage),
                "families": summary}, args.report)


if __name__ == "__main__":
    main()
