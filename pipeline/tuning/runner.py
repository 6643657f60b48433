"""One tune run: every family's study raced against the others (all workers together), then the
calibrated final fits and the ensemble here, or the record of who does them. Returns tune.json's content.

tune.timeout is the one budget: the race stops early enough to leave the final fits their measured
cost (pipeline/tuning/finalize.py), and nothing runs past it.
"""
from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from pipeline.core.errors import StageError
from pipeline.core.params import Params, TuneParams
from pipeline.evaluation.definitions import OBJECTIVES
from pipeline.models.registry import get
from pipeline.models.space import load_space
from pipeline.tuning import final_claim, finalize, imbalance, oof_store, studies
from pipeline.tuning import objective as obj
from pipeline.tuning import storage as stores
from pipeline.tuning.allocator import Allocator
from pipeline.tuning.cv import make_folds
from pipeline.tuning.encoder_start import within_encoder
from pipeline.tuning.final_fit import skip_family
from pipeline.tuning.progress import Progress
from pipeline.tuning.search_sample import search_rows, search_sample
from pipeline.tuning.train_data import TrainData
from pipeline.tuning.workers import CountedObjective, fail_dead_trials, run_study, sampler_seed, worker_id

log = logging.getLogger(__name__)
START_POINT = "start_point"   # user attr of an enqueued default configuration
WAIT_SECONDS = 0.2            # a parallel worker with nothing to run looks again after this


@dataclass
class FamilyRun:
    family: str
    study: optuna.Study
    objective: obj.Objective
    guarded: CountedObjective
    progress: Progress


def start_points(family: str, space: dict) -> list[dict]:
    """The family's start points, restricted to the parameters its space tunes (a user may drop some)."""
    return [{k: v for k, v in point.items() if k in space} for point in get(family).start_points]


def open_family(family: str, data: TrainData, s: TuneParams, params: Params, seed: int, configs: Path,
                storage: optuna.storages.BaseStorage, oof_dir: Path, threads: int, train_rows: int) -> FamilyRun:
    """Open (or resume) the family's study; a fresh study gets its start points enqueued first.
    `data` is what the trials cross-validate on; `train_rows` the rows the final refit will use."""
    fam = get(family)
    space = load_space(family, configs, allowed=fam.space_params)   # configs/<family>.yaml: the only source
    space = imbalance.within_size(family, space, train_rows, params.resample)   # the refit resamples all rows
    space = within_encoder(family, space, data.encoder is not None)
    settings = obj.settings_of(s.metric, s.folds, seed, params.resample, s.lstm_max_epochs)
    fp = obj.fingerprint(data, family, space, settings)
    name = f"{s.study_name}-{family}" if s.study_name else f"{studies.DEFAULT_STUDY}-{family}-{fp}"
    study, created = studies.open_study(storage, name, OBJECTIVES[s.metric].direction, sampler_seed(seed, s.storage),
                                        s.pruner, s.resume, family)
    studies.check_fingerprint(study, fp)
    if created:
        for point in start_points(family, space):
            study.enqueue_trial(point, user_attrs={START_POINT: True}, skip_if_exists=True)
    objective = obj.Objective(family, data, make_folds(data.y, s.folds, seed), space, s.metric, seed,
                              params.resample, params.evaluate, s.device, s.lstm_max_epochs, oof_dir=oof_dir,
                              threads=threads)
    return FamilyRun(family, study, objective, CountedObjective(objective, s.trials, worker_id()),
                     Progress(family, s.trials))


def make_allocator(runs: dict[str, FamilyRun], s: TuneParams) -> Allocator:
    """The race's state, seeded with what resumed studies already hold."""
    order = sorted(runs, key=lambda f: get(f).start_order)   # cheap, strong families run their start points first
    allocator = Allocator({f: len(get(f).start_points) for f in order}, OBJECTIVES[s.metric].higher_is_better,
                          stop=s.race)
    for f, run in runs.items():
        counts = studies.counts(run.study)
        held = counts["n_trials"] - counts["n_waiting"] - counts["n_running"]   # finished before this run
        complete = run.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if complete:
            best = run.study.best_trial
            allocator.seed_best(f, best.value, best.user_attrs.get(obj.FOLD_SCORES, []), held)
        else:
            allocator.states[f].resumed = held
        allocator.states[f].done = counts["n_trials"] >= s.trials
    return allocator


def run_one_trial(run: FamilyRun, deadline: float | None, grace: float) -> FrozenTrial | None:
    """One trial of the family (or none: its study is full); the finished trial."""
    finished: list[FrozenTrial] = []
    fail_stale_trials(run.study)   # dead workers' trials -> FAIL + a WAITING copy with the same params
    fail_dead_trials(run.study, grace)
    run.objective.deadline = deadline
    run.study.optimize(run.guarded, n_trials=1, catch=(Exception,),
                       callbacks=[run.progress, lambda study, trial: finished.append(trial)])
    return finished[0] if finished else None


def race(runs: dict[str, FamilyRun], allocator: Allocator, s: TuneParams,
         search_end: Callable[[], float | None]) -> None:
    """Trials until every family is done or stopped, or the search's share of the budget is spent.
    With tune.n_jobs > 1, that many trials run at once (threads; the fits release the GIL)."""
    lock = threading.Lock()
    failed = threading.Event()   # a worker that raised: the others stop instead of waiting for its trial

    def worker() -> None:
        while not failed.is_set():
            deadline = search_end()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            with lock:
                for f, run in runs.items():
                    allocator.states[f].done = studies.counts(run.study)["n_trials"] >= s.trials
                family = allocator.next(left)
                if family is not None:
                    allocator.dispatch(family)
                waiting = family is None and any(st.running for st in allocator.states.values())
            if waiting:   # what runs now may make a family worth another trial (or stop it)
                time.sleep(WAIT_SECONDS)
                continue
            if family is None:
                return
            started = time.monotonic()
            try:
                trial = run_one_trial(runs[family], deadline, s.grace_seconds)
            except BaseException:
                failed.set()
                raise
            seconds = time.monotonic() - started
            with lock:
                if trial is None:
                    allocator.states[family].done = True
                    allocator.states[family].running -= 1
                    continue
                complete = trial.state == TrialState.COMPLETE
                allocator.record(family, trial.value if complete else None,
                                 trial.user_attrs.get(obj.FOLD_SCORES) if complete else None, seconds)

    if s.n_jobs <= 1:
        worker()
    else:
        with ThreadPoolExecutor(s.n_jobs, thread_name_prefix="trial") as pool:
            for future in [pool.submit(worker) for _ in range(s.n_jobs)]:
                future.result()
    for run in runs.values():
        run.progress.close()


def wait_for_others(runs: dict[str, FamilyRun], allocator: Allocator, s: TuneParams,
                    deadline: float | None) -> int:
    """Trials other workers still run on studies this worker filled; returns how many are still running."""
    running = 0
    for f, run in runs.items():
        if not allocator.states[f].done:   # stopped by the race, or out of time: nothing to wait for
            continue
        _, still = run_study(run.study, run.guarded, s.trials, n_jobs=1, deadline=deadline, callbacks=[],
                             poll=max(1.0, min(s.heartbeat_seconds, 5)), grace=s.grace_seconds)
        running += still
    return running


def run(args: argparse.Namespace, s: TuneParams, params: Params, seed: int, data: TrainData,
        storage: optuna.storages.BaseStorage, started: float | None = None) -> dict:
    """Race the families (all workers together), then fit here or record who fits; tune.json's content.
    `started`: time.monotonic() when the stage began (its imports and data loading count against the budget)."""
    start = time.monotonic() if started is None else started
    end = None if s.timeout is None else start + s.timeout
    skipped = {f: skip_family(f, "no events table: the sequence model needs an event log", args.out)
               for f in s.models if get(f).inputs == "sequence" and data.seq is None}
    families = [f for f in s.models if f not in skipped]
    # One thread per fit, the cores go to parallel trials (tune.n_jobs): a LightGBM fit on 16k rows took
    # 1.7 s on one thread and 9.4 s on two when another process held a core (OpenMP threads spin-wait).
    threads = 1
    oof_dir = oof_store.directory_for(s.storage)
    search = search_sample(data, search_rows(s, len(data)), seed)   # all rows unless train is large for the budget
    runs = {f: open_family(f, search, s, params, seed, args.configs, storage, oof_dir, threads, len(data))
            for f in families}
    allocator = make_allocator(runs, s)
    reserve = finalize.Reserve(runs, len(search), s.folds, scale=len(data) / len(search))
    race(runs, allocator, s, lambda: None if end is None else end - reserve.seconds())
    search_seconds = time.monotonic() - start
    running = wait_for_others(runs, allocator, s, None if end is None else end - reserve.seconds())
    ran = sum(st.finished for st in allocator.states.values())
    tuned = {f: run.study for f, run in runs.items()}
    key = final_claim.run_key([study.study_name for study in tuned.values()], s.trials)
    reason = final_claim.who_fits(getattr(storage, "engine", None), key, worker_id(), ran=ran, running=running,
                                  enabled=s.final_fit)
    if reason is not None:
        log.info("tune: no final fit on this worker: %s", reason)
        summary = {f: {**skip_family(f, reason, args.out), **studies.counts(study)} for f, study in tuned.items()}
        spent = {}
    else:
        summary, spent = finalize.finalize(runs, search, data, s, params, seed, args.out, end, allocator)
    ensemble = summary.pop(finalize.ENSEMBLE, None)
    summary = {**skipped, **summary}
    if reason is None and all("skipped" in row for row in summary.values()):
        raise StageError(f"tune: no family has a fitted model: {({f: r['skipped'] for f, r in summary.items()})}")
    budget = {"timeout": s.timeout, "train_rows": len(data), "search_rows": len(search),
              "search_seconds": round(search_seconds, 1), **spent,
              "total_seconds": round(time.monotonic() - start, 1), "families": allocator.summary()}
    return {"metric": s.metric, "folds": s.folds, "seed": seed, "storage": stores.safe_url(s.storage),
            "worker": worker_id(), "final_fit": reason or "done here", "budget": budget, "families": summary,
            "ensemble": ensemble}
