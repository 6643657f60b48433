"""Stage tune: one Optuna study per model family on stratified CV folds of the TRAIN split, then
each family's best parameters refit on the full train set.

Reads  data/features/{train.parquet, sequences_train.npz, manifest.json} (never the test split),
       configs/<family>.yaml (search spaces), params sections seed, resample, tune, evaluate.
Writes models/tuned/<family>/ (model files + info.json) and reports/tune.json. Trials live in the
Optuna storage (sqlite:///optuna/studies.db by default), so rerunning continues the studies. With a
shared PostgreSQL storage, the same command on several machines runs one study-wide set of trials
(pipeline/workers.py) and one of them does the final fits (pipeline/final_claim.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

import optuna

from pipeline import final_claim
from pipeline import objective as obj
from pipeline import storage as stores
from pipeline import studies
from pipeline.cv import DIRECTIONS, make_folds
from pipeline.core.errors import InputError, StageError, cli, setup_logging
from pipeline.final_fit import final_fit, skip_family
from pipeline.core.io import write_json
from pipeline.models import FAMILIES
from pipeline.models.space import load_space
from pipeline.core.params import Params, TuneParams, add_params_arg, load_params
from pipeline.progress import Progress
from pipeline.train_data import TrainData, load_train
from pipeline.workers import run_study, sampler_seed, worker_id

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
    flags.add_argument("--storage", help="Optuna RDB URL, e.g. postgresql+psycopg2://user:pass@host/db "
                       f"(else ${stores.ENV_VAR}, else tune.storage)")
    flags.add_argument("--study-name", help="study name prefix shared by all workers (studies are NAME-<family>)")
    flags.add_argument("--n-jobs", type=int, help="parallel trials in this process")
    flags.add_argument("--seed", type=int, help="overrides params seed (folds, samplers, models)")
    flags.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None,
                       help="continue existing studies (default) or delete and start afresh")
    flags.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device for xgb and the sequence model")
    flags.add_argument("--final-fit", action=argparse.BooleanOptionalAction, default=None,
                       help="refit the best params here when this worker wins the claim (default) or never")
    return ap.parse_args(argv)


def merged_settings(args: argparse.Namespace, tune: TuneParams) -> TuneParams:
    """params.yaml tune section with the CLI flags that were given laid over it."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(tune) if getattr(args, f.name, None) is not None}
    if isinstance(given.get("models"), str):
        given["models"] = [m.strip() for m in given["models"].split(",") if m.strip()]
    if given.get("timeout") is not None and given["timeout"] <= 0:
        given["timeout"] = None   # --timeout 0: no budget, run every trial
    given["storage"] = stores.resolve_url(given.get("storage"), tune.storage)
    merged = dataclasses.replace(tune, **given)
    if unknown := [m for m in merged.models if m not in FAMILIES]:
        raise InputError(f"tune: unknown model family {unknown}; choose from {list(FAMILIES)}.")
    if merged.metric not in DIRECTIONS:
        raise InputError(f"params: tune.metric must be one of {sorted(DIRECTIONS)}, got {merged.metric!r}.")
    if not 1 <= merged.heartbeat_seconds < merged.grace_seconds:
        raise InputError(f"params: need 1 <= tune.heartbeat_seconds < tune.grace_seconds, got "
                         f"{merged.heartbeat_seconds} and {merged.grace_seconds}.")
    if merged.trials < 1 or merged.folds < 2:
        raise InputError(f"tune: need trials >= 1 and folds >= 2, got {merged.trials} and {merged.folds}.")
    return merged


def tune_family(family: str, data: TrainData, s: TuneParams, params: Params, seed: int, configs: Path,
                storage: optuna.storages.RDBStorage, deadline: float | None) -> tuple[optuna.Study, int, int]:
    """Run (or continue) the family's study until it holds s.trials finished trials (study-wide) or
    time runs out; returns the study, the trials this worker ran and those still running elsewhere."""
    space = load_space(family, configs) if (configs / f"{family}.yaml").is_file() else None
    settings = obj.settings_of(s.metric, s.folds, seed, params.resample, s.lstm_max_epochs)
    fp = obj.fingerprint(data, family, space, settings)
    name = f"{s.study_name}-{family}" if s.study_name else f"{studies.DEFAULT_STUDY}-{family}-{fp}"
    study = studies.open_study(storage, name, DIRECTIONS[s.metric], sampler_seed(seed, s.storage), s.pruner,
                               s.resume, family)
    studies.check_fingerprint(study, fp)
    objective = obj.Objective(family, data, make_folds(data.y, s.folds, seed), space, s.metric, seed,
                              params.resample, params.evaluate, s.device, s.lstm_max_epochs, deadline)
    progress = Progress(family, s.trials, deadline=deadline)
    ran, running = run_study(study, objective, s.trials, n_jobs=s.n_jobs, deadline=deadline, callbacks=[progress],
                             poll=max(1.0, min(s.heartbeat_seconds, 5)))
    progress.close()
    return study, ran, running


def resolve_device(device: str) -> str:
    """'auto' -> cuda when a GPU is visible, else cpu (XGBoost and torch both get the concrete name)."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def tune_all(families: list[str], data: TrainData, s: TuneParams, params: Params, seed: int, configs: Path,
             storage: optuna.storages.RDBStorage, end: float | None) -> tuple[dict[str, optuna.Study], int, int]:
    """Every family's study in turn, the time left before `end` split evenly; (studies, ran, running)."""
    tuned, ran, running = {}, 0, 0
    for i, family in enumerate(families):
        deadline = None if end is None else time.monotonic() + (end - time.monotonic()) / (len(families) - i)
        tuned[family], n, running_now = tune_family(family, data, s, params, seed, configs, storage, deadline)
        ran, running = ran + n, running + running_now
    return tuned, ran, running


def fit_all(tuned: dict[str, optuna.Study], data: TrainData, s: TuneParams, params: Params, seed: int, out: Path,
            reason: str | None, end: float | None) -> dict[str, dict]:
    """Final fits (or, on a worker that does not fit, the reason and the study counts)."""
    summary = {}
    for i, (family, study) in enumerate(tuned.items()):
        t0 = time.monotonic()
        if reason is not None:
            summary[family] = {**skip_family(family, reason, out), **studies.counts(study)}
            continue
        deadline = None if end is None else t0 + (end - t0) / (len(tuned) - i)
        try:
            summary[family] = row = final_fit(family, study, data, s, params, seed, out, deadline)
        except studies.NoCompletedTrial:
            if end is None:
                raise
            # A slow family on a busy machine may finish no trial in its share of the budget: the
            # run goes on without it and says why, rather than losing every other family's work.
            summary[family] = {**skip_family(family, f"no trial finished within its share of tune.timeout "
                                             f"({s.timeout:.0f} s for all families); raise tune.timeout", out),
                               **studies.counts(study)}
            continue
        log.info("tune %s: best CV %s %.4f (%d trials: %d pruned, %d failed), refit in %.0f s", family, s.metric,
                 row["cv_score"], row["n_trials"], row["n_pruned"], row["n_failed"], time.monotonic() - t0)
    return summary


def run(args: argparse.Namespace, s: TuneParams, params: Params, seed: int, data: TrainData,
        storage: optuna.storages.RDBStorage) -> dict:
    """Tune every family (all workers together), then fit here or record who fits; tune.json's content."""
    start = time.monotonic()
    end = None if s.timeout is None else start + s.timeout
    skipped = {f: skip_family(f, "no events table: the sequence model needs an event log", args.out)
               for f in s.models if f == "lstm" and data.seq is None}
    families = [f for f in s.models if f not in skipped]
    tuned, ran, running = tune_all(families, data, s, params, seed, args.configs, storage,
                                   None if end is None else start + s.timeout * (1 - FINAL_FIT_SHARE))
    key = final_claim.run_key([study.study_name for study in tuned.values()], s.trials)
    reason = final_claim.who_fits(storage.engine, key, worker_id(), ran=ran, running=running, enabled=s.final_fit)
    if reason is not None:
        log.info("tune: no final fit on this worker: %s", reason)
    summary = {**skipped, **fit_all(tuned, data, s, params, seed, args.out, reason, end)}
    if reason is None and all("skipped" in row for row in summary.values()):
        raise StageError(f"tune: no family has a fitted model: {({f: r['skipped'] for f, r in summary.items()})}")
    return {"metric": s.metric, "folds": s.folds, "seed": seed, "storage": stores.safe_url(s.storage),
            "worker": worker_id(), "final_fit": reason or "done here", "families": summary}


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
    storage = stores.make_storage(s.storage, s.heartbeat_seconds, s.grace_seconds, s.n_jobs)
    try:
        report = run(args, s, params, seed, data, storage)
    except Exception as err:   # a database lost mid-run: one line, not Optuna's traceback
        if (cause := stores.storage_failure(err)) is None:
            raise
        raise StageError(f"tune: lost the Optuna storage {stores.safe_url(s.storage)}: "
                         f"{stores.first_line(cause)}; rerun the same command to resume.") from err
    write_json(report, args.report)


if __name__ == "__main__":
    main()
