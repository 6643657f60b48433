"""One tune run: every family's study in turn (all workers together), then the final fits here or the
record of who does them. Returns the content of reports/tune.json.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import optuna

from pipeline.core.errors import StageError
from pipeline.core.params import Params, TuneParams
from pipeline.evaluation.definitions import OBJECTIVES
from pipeline.models.registry import get
from pipeline.models.space import load_space
from pipeline.tuning import final_claim, studies
from pipeline.tuning import objective as obj
from pipeline.tuning import storage as stores
from pipeline.tuning.cv import make_folds
from pipeline.tuning.final_fit import final_fit, skip_family
from pipeline.tuning.progress import Progress
from pipeline.tuning.train_data import TrainData
from pipeline.tuning.workers import run_study, sampler_seed, worker_id

log = logging.getLogger(__name__)
FINAL_FIT_SHARE = 0.2   # share of each family's time budget kept for its final refit


def tune_family(family: str, data: TrainData, s: TuneParams, params: Params, seed: int, configs: Path,
                storage: optuna.storages.RDBStorage, deadline: float | None) -> tuple[optuna.Study, int, int]:
    """Run (or continue) the family's study until it holds s.trials finished trials (study-wide) or
    time runs out; returns the study, the trials this worker ran and those still running elsewhere."""
    fam = get(family)
    space = load_space(family, configs, allowed=fam.params)   # configs/<family>.yaml: the only source
    settings = obj.settings_of(s.metric, s.folds, seed, params.resample, s.lstm_max_epochs)
    fp = obj.fingerprint(data, family, space, settings)
    name = f"{s.study_name}-{family}" if s.study_name else f"{studies.DEFAULT_STUDY}-{family}-{fp}"
    study = studies.open_study(storage, name, OBJECTIVES[s.metric].direction, sampler_seed(seed, s.storage), s.pruner,
                               s.resume, family)
    studies.check_fingerprint(study, fp)
    objective = obj.Objective(family, data, make_folds(data.y, s.folds, seed), space, s.metric, seed,
                              params.resample, params.evaluate, s.device, s.lstm_max_epochs, deadline)
    progress = Progress(family, s.trials, deadline=deadline)
    ran, running = run_study(study, objective, s.trials, n_jobs=s.n_jobs, deadline=deadline, callbacks=[progress],
                             poll=max(1.0, min(s.heartbeat_seconds, 5)))
    progress.close()
    return study, ran, running


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
               for f in s.models if get(f).inputs == "sequence" and data.seq is None}
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


