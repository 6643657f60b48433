"""Optuna studies: one study per family, pruners, summaries (the storage itself: pipeline/tuning/storage.py)."""
from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from pipeline.core.errors import InputError, StageError
from pipeline.models.registry import get
from pipeline.tuning import final_claim
from pipeline.tuning.workers import tally

log = logging.getLogger(__name__)

DEFAULT_STUDY = "customer-automl"
FAIL_REASON = "fail_reason"


class NoCompletedTrial(StageError):
    """Every trial was pruned or cut by the time budget (none raised): tune can skip the family."""


def make_pruner(name: str, family: str = "") -> optuna.pruners.BasePruner:
    """The pruner named in params; the median pruner waits the family's warm-up steps (its learning curve)."""
    warmup = get(family).warmup_steps if family else 1
    pruners = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup),
               "hyperband": optuna.pruners.HyperbandPruner, "none": optuna.pruners.NopPruner}
    if name not in pruners:
        raise InputError(f"params: tune.pruner must be one of {sorted(pruners)}, got {name!r}.")
    return pruners[name]()


def open_study(storage: RDBStorage, name: str, direction: str, seed: int, pruner: str, resume: bool,
               family: str = "") -> tuple[optuna.Study, bool]:
    """Create or (resume) load the study; --no-resume deletes an existing one first. Also says whether this
    call created it: of several workers starting together, exactly one does (and enqueues the start points)."""
    if not resume and name in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
        log.info("tune: deleting existing study %s (--no-resume)", name)
        optuna.delete_study(study_name=name, storage=storage)
        final_claim.release(storage.engine, name)
    kwargs = {"study_name": name, "storage": storage, "direction": direction,
              "sampler": optuna.samplers.TPESampler(seed=seed), "pruner": make_pruner(pruner, family)}
    try:
        return optuna.create_study(**kwargs, load_if_exists=False), True
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.create_study(**kwargs, load_if_exists=True), False


def counts(study: optuna.Study) -> dict[str, int]:
    """Study-wide counts; n_trials is what --trials counts (pipeline/tuning/workers.py)."""
    return tally(study.get_trials(deepcopy=False))


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The best completed trial, or a clear error naming the first failure (not Optuna's bare message)."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if completed:
        return study.best_trial
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    if failed:
        first = failed[0]
        reason = first.user_attrs.get(FAIL_REASON, "no reason recorded (objective returned NaN?)")
        raise StageError(f"tune: every trial of study {study.study_name!r} failed; first failure "
                         f"(trial {first.number}): {reason}")
    raise NoCompletedTrial(f"tune: study {study.study_name!r} has no completed trial (all pruned or out of time); "
                           "raise --timeout or --trials.")


def history(study: optuna.Study) -> list[dict[str, Any]]:
    """Per-trial rows for the report's optimisation history."""
    return [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
             "seconds": t.duration.total_seconds() if t.duration else None,
             "fail_reason": t.user_attrs.get(FAIL_REASON)} for t in study.get_trials(deepcopy=False)]


def param_importances(study: optuna.Study) -> dict[str, float]:
    """fANOVA importances when enough trials completed; empty otherwise (nothing to rank)."""
    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 4:
        return {}
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError) as err:   # e.g. a single distinct value per parameter
        log.info("tune: no parameter importances for %s: %s", study.study_name, err)
        return {}


def check_fingerprint(study: optuna.Study, fingerprint: str) -> None:
    """A resumed study must have been run on the same data, folds and search space."""
    found = study.user_attrs.get("fingerprint")
    if found is None:
        study.set_user_attr("fingerprint", fingerprint)
    elif found != fingerprint:
        raise InputError(f"tune: study {study.study_name!r} was run on other data, folds or search space "
                         f"(fingerprint {found} vs now {fingerprint}); use --no-resume or another --study-name.")
