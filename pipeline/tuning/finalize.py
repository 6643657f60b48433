"""After the race: calibrators, the ensemble and the final fits, all inside what is left of tune.timeout.

Per family, its best trial's out-of-fold (OOF) scores choose a calibrator (none, sigmoid or isotonic
by CV log loss) and then the threshold on the calibrated scores. The ensemble is a greedy weighted
blend of the families' best trials (Caruana), its CV score cross-fitted (weights of fold k chosen
without fold k's rows; pipeline/ensembling/selection.py) and calibrated the same way on the
cross-fitted blend. Final refits on the full train set go members first (heaviest weight first), then
the rest by CV score; each only when its measured cost (its best trial's fold times) fits in the time
left, so the budget is a hard limit. When not all refits fit, the set refitted first is the largest
affordable set whose OOF blend scores best (pipeline/tuning/refit_plan.py), not the heaviest member alone. A member that could not be fitted leaves the blend, whose
weights are then chosen again. When the trials searched on a sample of the train rows
(tune.search_rows), the refits use every row and their cost is scaled by the rows' ratio.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from pipeline.core.params import Params, TuneParams
from pipeline.ensembling.calibration import choose_calibrator
from pipeline.ensembling.selection import cross_fitted, greedy_weights
from pipeline.evaluation.definitions import OBJECTIVES
from pipeline.evaluation.metrics import choose_threshold, point
from pipeline.models.registry import get
from pipeline.models.store import ENSEMBLE, save_ensemble
from pipeline.tuning import imbalance, oof_store, studies
from pipeline.tuning.allocator import Allocator
from pipeline.tuning.cv import cross_validate, make_folds
from pipeline.tuning.final_fit import final_fit, skip_family
from pipeline.tuning.objective import BUILD_PARAMS, FOLD_SECONDS, THRESHOLD
from pipeline.tuning.refit_plan import plan_refits
from pipeline.tuning.train_data import TrainData

log = logging.getLogger(__name__)

ROUNDS = 25            # greedy selection rounds (AutoGluon uses 25 too)
SAFETY = 1.3           # a final refit's cost: its best trial's mean fold time x K/(K-1) x this
SLACK_SECONDS = 1.0    # writing models and tune.json


def fit_seconds(trial: FrozenTrial, folds: int, scale: float = 1.0) -> float:
    """Expected seconds of a full-train refit of `trial`'s params, from its measured fold times; `scale`:
    train rows over the rows its trials searched on (tune.search_rows), the fits' cost taken as linear in rows."""
    times = trial.user_attrs.get(FOLD_SECONDS) or []
    if not times:
        return float("inf")
    return float(np.mean(times)) * folds / (folds - 1) * scale * SAFETY


def ensemble_seconds(n_rows: int, members: int, folds: int) -> float:
    """The greedy selection's cost: one score per member per round, for every fold and the final weights."""
    per_score = 2e-4 + 1e-7 * n_rows   # metrics.point on this machine: about 1.5 ms at 16k rows
    return per_score * members * ROUNDS * (folds + 1) + 0.5


def best_or_none(study: optuna.Study) -> FrozenTrial | None:
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return study.best_trial


class Reserve:
    """What the race must leave for finalize: the refits of the families still in it, plus the ensemble."""

    def __init__(self, runs: dict[str, Any], n_rows: int, folds: int, scale: float = 1.0):
        self.runs, self.n_rows, self.folds, self.scale = runs, n_rows, folds, scale

    def seconds(self) -> float:
        bests = [t for t in (best_or_none(r.study) for r in self.runs.values()) if t is not None]
        costs = [fit_seconds(t, self.folds, self.scale) for t in bests]
        fits = sum(c for c in costs if np.isfinite(c))
        return fits + ensemble_seconds(self.n_rows, max(len(bests), 1), self.folds) + SLACK_SECONDS


def left(end: float | None) -> float:
    return float("inf") if end is None else end - time.monotonic()


def family_oof(run: Any, best: FrozenTrial, data: TrainData, s: TuneParams, params: Params, seed: int,
               end: float | None) -> np.ndarray | None:
    """The best trial's OOF scores: saved by its trial, else recomputed when its folds fit in the time left."""
    oof = oof_store.load(run.objective.oof_dir, run.study.study_name, best.number, len(data)) \
        if run.objective.oof_dir is not None else None
    if oof is not None:
        return oof
    if fit_seconds(best, s.folds) * (s.folds - 1) > left(end):   # K fold fits on (K-1)/K of the rows
        return None
    log.info("tune %s: recomputing the OOF scores of trial %d (saved on another machine?)", run.family, best.number)
    try:
        _, _, oof = cross_validate(run.family, best.user_attrs[BUILD_PARAMS], data, make_folds(data.y, s.folds, seed),
                                   metric=s.metric, deadline=end, seed=seed, resample=params.resample,
                                   device=s.device, max_epochs=s.lstm_max_epochs, threads=1)
    except optuna.TrialPruned:
        return None
    return oof


def calibrated(oof: np.ndarray, y: np.ndarray, params: Params, folds: int, seed: int) -> dict[str, Any]:
    """Calibrator chosen by CV log loss on the OOF scores, and the threshold on the calibrated scores."""
    calibrator, losses = choose_calibrator(oof, y, folds=folds, seed=seed)
    p = calibrator.apply(oof)
    return {"calibration": {**calibrator.to_dict(), "cv_log_loss": {k: round(v, 5) for k, v in losses.items()}},
            "threshold": choose_threshold(y, p, params.evaluate.threshold_rule, params.evaluate.cost_ratio),
            "oof_brier": float(np.mean((p - y) ** 2))}


def blend_weights(oofs: dict[str, np.ndarray], data: TrainData, s: TuneParams, seed: int) -> dict[str, Any] | None:
    """Cross-fitted CV of the greedy blend, and the weights chosen on all OOF rows; None with < 2 members."""
    if len(oofs) < 2:
        return None
    objective = OBJECTIVES[s.metric]
    names = list(oofs)
    matrix = np.column_stack([oofs[f] for f in names])
    folds = make_folds(data.y, s.folds, seed)

    def score(y: np.ndarray, p: np.ndarray) -> float:
        return point(s.metric, y, p)

    cv = cross_fitted(matrix, data.y, folds, score, objective.higher_is_better, ROUNDS)
    weights = greedy_weights(matrix, data.y, score, objective.higher_is_better, ROUNDS)
    return {"names": names, "weights": {f: float(w) for f, w in zip(names, weights)}, "cv": cv}


def subset_score(families: Sequence[str], oofs: dict[str, np.ndarray], bests: dict[str, FrozenTrial],
                 data: TrainData, s: TuneParams) -> float:
    """The CV objective of refitting just `families`: their greedy OOF blend (one family: its best trial's CV)."""
    objective = OBJECTIVES[s.metric]
    blendable = [f for f in families if f in oofs]
    if len(blendable) < 2:   # nothing to blend: the best single family's CV
        return max((bests[f].value for f in families), key=lambda v: objective.sign * v)
    matrix = np.column_stack([oofs[f] for f in blendable])

    def score(y: np.ndarray, p: np.ndarray) -> float:
        return point(s.metric, y, p)

    weights = greedy_weights(matrix, data.y, score, objective.higher_is_better, ROUNDS)
    return score(data.y, matrix @ weights)


def finalize(runs: dict[str, Any], data: TrainData, full: TrainData, s: TuneParams, params: Params, seed: int,
             out: Path, end: float | None, allocator: Allocator) -> tuple[dict[str, dict], dict[str, float]]:
    """Calibrate, blend and refit inside the budget; (tune.json rows per family + ensemble, seconds spent).
    `data`: the rows the trials searched on (their OOF scores choose calibrators, thresholds and weights);
    `full`: the whole train set, which the refits use."""
    scale = len(full) / len(data)
    t0 = time.monotonic()
    bests: dict[str, FrozenTrial] = {}
    summary: dict[str, dict] = {}
    for f, run in runs.items():
        try:
            bests[f] = studies.best_trial(run.study)
        except studies.NoCompletedTrial:
            if end is None:
                raise
            # A slow family on a busy machine may finish no trial in the budget: the run goes on without it.
            summary[f] = {**skip_family(f, f"no trial finished within tune.timeout ({s.timeout:.0f} s for all "
                                           "families); raise tune.timeout", out), **studies.counts(run.study)}
    oofs = {f: oof for f, t in bests.items()
            if (oof := family_oof(runs[f], t, data, s, params, seed, end)) is not None}
    extras = {f: calibrated(oofs[f], data.y, params, s.folds, seed) for f in oofs}
    blend = blend_weights(oofs, data, s, seed)
    t_blend = time.monotonic()

    direction = OBJECTIVES[s.metric].sign
    weights = {} if blend is None else blend["weights"]
    members = [f for f in bests if weights.get(f, 0) > 0]
    costs = {f: fit_seconds(bests[f], s.folds, scale) for f in bests}
    budget = left(end) - ensemble_seconds(len(data), max(len(oofs), 1), s.folds) - SLACK_SECONDS
    plan = plan_refits(costs, budget, lambda fs: subset_score(fs, oofs, bests, data, s),
                       OBJECTIVES[s.metric].higher_is_better)
    if len(plan) < len(bests):
        log.info("tune: not every refit fits in the %.0f s left; refitting %s first (costs %s)", max(budget, 0), plan,
                 {f: round(c) for f, c in costs.items()})
    # the plan first (heaviest blend weight, then best CV), then the others while time is left
    first = sorted(plan, key=lambda f: (-weights.get(f, 0), -direction * bests[f].value))
    rest = sorted((f for f in bests if f not in plan), key=lambda f: -direction * bests[f].value)
    fitted: list[str] = []
    for f in [*first, *rest]:
        cost = fit_seconds(bests[f], s.folds, scale)
        if cost > left(end):
            summary[f] = {**skip_family(f, f"its refit (about {cost:.0f} s) did not fit in what was left of "
                                           f"tune.timeout ({max(left(end), 0):.0f} s)", out),
                          **studies.counts(runs[f].study)}
            continue
        extra = {**extras.get(f, {"calibration": {"method": "none", "params": {}}, "threshold":
                                  bests[f].user_attrs[THRESHOLD]}),
                 "imbalance": imbalance.describe(get(f), bests[f].user_attrs[BUILD_PARAMS], params.resample.method),
                 "race": allocator.summary()[f]}
        summary[f] = final_fit(f, runs[f].study, full, s, params, seed, out,
                               None if end is None else end - SLACK_SECONDS, extra)
        fitted.append(f)
        log.info("tune %s: best CV %s %.4f (%d trials), calibration %s, refit in %.1f s", f, s.metric,
                 summary[f]["cv_score"], summary[f]["n_trials"], extra["calibration"]["method"],
                 summary[f]["fit_seconds"])
    t_fits = time.monotonic()

    if blend is not None and any(f not in fitted for f in members):
        blend = blend_weights({f: oofs[f] for f in fitted if f in oofs}, data, s, seed)
    if blend is not None:
        summary[ENSEMBLE] = save_blend(blend, data, params, s, seed, out, {f: bests[f] for f in blend["names"]})
    spent = {"calibrate_and_blend_seconds": round(t_blend - t0 + time.monotonic() - t_fits, 1),
             "final_fit_seconds": round(t_fits - t_blend, 1)}
    return summary, spent


def save_blend(blend: dict[str, Any], data: TrainData, params: Params, s: TuneParams, seed: int, out: Path,
               bests: dict[str, FrozenTrial]) -> dict[str, Any]:
    """models/tuned/ensemble/info.json: members and weights, cross-fitted CV, calibrator, threshold."""
    cv = blend["cv"]
    weights = {f: w for f, w in blend["weights"].items() if w > 0}
    info = {"family": ENSEMBLE, "label": "Ensemble", "metric": s.metric, "cv_score": cv.mean,
            "cv_fold_scores": cv.fold_scores, "members": weights,
            "candidates": {f: {"cv_score": t.value, "trial": t.number} for f, t in bests.items()},
            "fold_weights": [{f: float(w) for f, w in zip(blend["names"], fw)} for fw in cv.fold_weights],
            "cv_note": "weights of fold k chosen on the other folds' out-of-fold rows, scored on fold k",
            "input": "ensemble", **calibrated(cv.oof, data.y, params, s.folds, seed)}
    save_ensemble(out / ENSEMBLE, info)
    log.info("tune ensemble: cross-fitted CV %s %.4f, weights %s", s.metric, cv.mean,
             {f: round(w, 2) for f, w in weights.items()})
    return info
