"""Several workers, one study: what --trials counts, the study-wide stop, and trials of dead workers.

`--trials N` is the study-wide number of trials, all workers together. Every trial counts
(COMPLETE, PRUNED, or FAIL because the objective raised) except two kinds that were replaced:
  * a trial whose worker died (killed, machine lost): its heartbeat stops, after the grace period
    the next worker to look marks it FAIL and Optuna re-queues it with the same params
    (RetryHeartbeatStaleTrialCallback); the re-queued copy counts in its place;
  * a "surplus" trial: a worker that started a trial just after another worker filled the last
    slot (a race of milliseconds) marks it PRUNED with user attr surplus=True and stops.
So a study ends with exactly N counted trials, every one finished, whatever the number of workers.
"""
from __future__ import annotations

import datetime
import logging
import os
import socket
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.storages._rdb import models   # the heartbeat table: Optuna has no public reader for it
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from pipeline.tuning.storage import MAX_RETRY

log = logging.getLogger(__name__)

SURPLUS = "surplus"    # trial user attrs: started after the target was reached; which worker ran it
WORKER = "worker"
RETRY_HISTORY = "retry_history"   # system attr written by Optuna's RetryHeartbeatStaleTrialCallback


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def sampler_seed(seed: int, url: str) -> int:
    """The TPE sampler's seed: `seed` itself on an embedded SQLite study (reproducible run to run); on a
    server shared by workers, mixed with this worker's id, or every worker would draw the same params."""
    if make_url(url).get_backend_name() == "sqlite":
        return seed
    return (seed * 1_000_003 + zlib.crc32(worker_id().encode())) % 2**32


def _requeued(trials: Sequence[FrozenTrial]) -> set[int]:
    return {n for t in trials for n in t.system_attrs.get(RETRY_HISTORY, [])}


def counted(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that count towards --trials (see the module docstring)."""
    requeued = _requeued(trials)
    return [t for t in trials if not t.user_attrs.get(SURPLUS)
            and not (t.state == TrialState.FAIL and t.number in requeued)]


def tally(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    """Study-wide counts under the --trials definition, plus the replaced trials."""
    kept, requeued = counted(trials), _requeued(trials)
    by_state = {s: sum(t.state == s for t in kept) for s in TrialState}
    return {"n_trials": len(kept), "n_complete": by_state[TrialState.COMPLETE],
            "n_pruned": by_state[TrialState.PRUNED], "n_failed": by_state[TrialState.FAIL],
            "n_running": by_state[TrialState.RUNNING], "n_waiting": by_state[TrialState.WAITING],
            "n_requeued": sum(t.state == TrialState.FAIL and t.number in requeued for t in trials),
            "n_surplus": sum(bool(t.user_attrs.get(SURPLUS)) for t in trials)}


@dataclass
class CountedObjective:
    """Wraps the objective: tags the trial with its worker, and refuses a fresh trial beyond the target."""
    objective: Callable[[optuna.Trial], float]
    target: int
    worker: str
    ran: int = 0

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER, self.worker)
        trials = trial.study.get_trials(deepcopy=False)
        me = next(t for t in trials if t.number == trial.number)
        earlier = [t for t in counted(trials) if t.number < trial.number]
        # Trial numbers are handed out in order under a lock on the study row, so "earlier" is the same
        # list for every worker: exactly the first N counted trials run. A re-queued trial always runs.
        if RETRY_HISTORY not in me.system_attrs and len(earlier) >= self.target:
            trial.set_user_attr(SURPLUS, True)
            trial.study.stop()
            raise optuna.TrialPruned(f"surplus: the study already had {self.target} trials")
        self.ran += 1
        return self.objective(trial)


def _beating(study: optuna.Study, trial_ids: list[int]) -> set[int]:
    """Which of the trials have a heartbeat row (Optuna's fail_stale_trials takes care of those)."""
    storage = getattr(study._storage, "_backend", study._storage)   # Optuna wraps RDBStorage in a cache
    if not isinstance(storage, RDBStorage) or not trial_ids:
        return set(trial_ids)    # no heartbeats in this storage: nothing to detect
    with Session(storage.engine) as session:
        rows = session.query(models.TrialHeartbeatModel.trial_id).filter(
            models.TrialHeartbeatModel.trial_id.in_(trial_ids))
        return {trial_id for (trial_id,) in rows}


def fail_dead_trials(study: optuna.Study, grace: float) -> None:
    """Heartbeats (fail_stale_trials) miss one case: Optuna never takes a RUNNING trial without a heartbeat
    row for stale, and a worker killed after taking a trial but before its heartbeat thread wrote the first
    beat leaves exactly that. The objective may even have tagged it with its WORKER id first: the beat is
    written by another thread, and on SQLite it may wait for the file lock. A live worker writes that row
    within milliseconds, so a RUNNING trial without one after the grace period is dead: fail it and
    re-queue it, as Optuna does for stale ones."""
    now = datetime.datetime.now()
    old = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
           if t.datetime_start is not None and (now - t.datetime_start).total_seconds() >= grace]
    beating = _beating(study, [t._trial_id for t in old])
    for t in old:
        if t._trial_id in beating:
            continue
        try:
            failed = study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:   # another worker (or thread) got there first
            continue
        if failed:
            log.info("tune %s: trial %d was taken by a worker that died before its first heartbeat; re-queued",
                     study.study_name, t.number)
            RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(study, study._storage.get_trial(t._trial_id))


def run_study(study: optuna.Study, objective: Callable[[optuna.Trial], float], target: int, *, n_jobs: int,
              deadline: float | None, callbacks: list, poll: float, grace: float | None = None) -> tuple[int, int]:
    """Run trials until the study holds `target` counted trials, all finished, or time runs out.

    Waits for trials that other workers are running (or, once their heartbeat is stale, runs their
    re-queued copies). Returns (trials this worker ran, trials still running elsewhere at the end)."""
    guarded = CountedObjective(objective, target, worker_id())
    waited = False
    while True:
        fail_stale_trials(study)   # dead workers' trials -> FAIL + a WAITING copy with the same params
        if grace is not None:
            fail_dead_trials(study, grace)
        trials = study.get_trials(deepcopy=False)
        counts = tally(trials)
        todo = target - counts["n_trials"] + counts["n_waiting"]
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return guarded.ran, counts["n_running"]
        if todo > 0:
            # Stop once the study-wide total reaches the target plus the trials that do not count.
            stop_at = len(trials) - counts["n_trials"] + target
            study.optimize(guarded, n_trials=todo, timeout=left, n_jobs=n_jobs, catch=(Exception,),
                           callbacks=[*callbacks, optuna.study.MaxTrialsCallback(stop_at, states=None)])
            continue
        if counts["n_running"] == 0:
            return guarded.ran, 0
        if not waited:
            log.info("tune %s: waiting for %d trial(s) running on other workers", study.study_name,
                     counts["n_running"])
            waited = True
        time.sleep(poll)
