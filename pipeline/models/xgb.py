"""XGBoost family: early-stopped boosting with Optuna pruning; search space in configs/xgb.yaml.

Tuning one CV fold (the early-stopping set comes from the fold's TRAINING part, never from the
rows the fold is scored on, and gets no SMOTE rows):
    X_fit, X_es, y_fit, y_es = holdout_split(X_train_fold, y_train_fold, seed)
    X_fit, y_fit = smote.fit_resample(X_fit, y_fit)               # if resampling is on
    model = build(params, seed, pos_ratio=pos_ratio(y_fit))
    model, best_iter = fit_with_pruning(model, X_fit, y_fit, X_es, y_es, trial, step_offset=fold * N_ESTIMATORS_MAX)
The final refit can do the same on the full train set, or use
`build({**params, "n_estimators": best_iter + 1}, seed, pos_ratio=..., early_stopping_rounds=None)`.
"""
from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import train_test_split
from xgboost import XGBClassifier
from xgboost.callback import TrainingCallback

from pipeline.models.space import suggest

log = logging.getLogger(__name__)

PARAMS = ("max_depth", "learning_rate", "n_estimators", "subsample", "colsample_bytree", "min_child_weight",
          "gamma", "reg_alpha", "reg_lambda", "scale_pos_weight")
N_ESTIMATORS_MAX = 2000        # an upper bound only: early stopping picks the actual number of rounds
EARLY_STOPPING_ROUNDS = 50
REPORT_EVERY = 10              # boosting rounds between reports to Optuna (each report costs a pruner query)
EVAL_METRIC = {"roc_auc": "auc", "average_precision": "aucpr"}
EVAL_SET_NAME = "validation_0"  # the name XGBClassifier.fit gives the first eval_set entry


def search_space(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Draw one parameter set; scale_pos_weight may be a number or 'balanced' / 'sqrt' (see build)."""
    return suggest(trial, space)


def pos_ratio(y: Any) -> float:
    """n_negative / n_positive of the rows the model will be fitted on (after any resampling)."""
    y = np.asarray(y)
    n_pos = int((y == 1).sum())
    if n_pos == 0:
        raise ValueError("pos_ratio: y has no positive rows.")
    return (len(y) - n_pos) / n_pos


def resolve_pos_weight(value: Any, ratio: float | None) -> float:
    """'balanced' -> n_neg/n_pos, 'sqrt' -> its square root (a milder reweighting), numbers as given."""
    if value in ("balanced", "sqrt"):
        if ratio is None:
            raise ValueError(f"scale_pos_weight={value!r} needs pos_ratio=n_neg/n_pos of the training rows.")
        return ratio if value == "balanced" else math.sqrt(ratio)
    return float(value)


def build(params: dict[str, Any], seed: int, device: str = "cpu", *, pos_ratio: float | None = None,
          early_stopping_rounds: int | None = EARLY_STOPPING_ROUNDS) -> XGBClassifier:
    """An unfitted XGBClassifier (hist); early stopping needs an eval set, so pass None to fit without one."""
    if unknown := sorted(set(params) - set(PARAMS)):
        raise ValueError(f"xgb got unknown parameter(s) {unknown}; expected a subset of {list(PARAMS)}.")
    kwargs = {**params, "n_estimators": int(params.get("n_estimators", N_ESTIMATORS_MAX))}
    kwargs["scale_pos_weight"] = resolve_pos_weight(params.get("scale_pos_weight", 1.0), pos_ratio)
    # hist is deterministic on CPU for a fixed seed (row/column subsampling is seeded); "cuda"
    # runs the same algorithm on the GPU, where float summation order may differ slightly.
    return XGBClassifier(**kwargs, tree_method="hist", device=device, random_state=seed,
                         early_stopping_rounds=early_stopping_rounds, eval_metric="auc")


class PruningCallback(TrainingCallback):
    """Report the eval-set score to an Optuna trial every `report_every` rounds; prune when told."""

    def __init__(self, trial: optuna.Trial, metric_name: str, report_every: int = REPORT_EVERY,
                 step_offset: int = 0) -> None:
        super().__init__()
        self.trial, self.metric_name = trial, metric_name
        self.report_every, self.step_offset = report_every, step_offset

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, list[float]]]) -> bool:
        if (epoch + 1) % self.report_every:
            return False
        score = float(evals_log[EVAL_SET_NAME][self.metric_name][-1])
        # step_offset keeps CV folds apart: Optuna ignores a second report at the same step.
        step = self.step_offset + epoch
        self.trial.report(score, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at boosting round {epoch + 1} ({self.metric_name}={score:.4f})")
        return False  # never stop training ourselves: early stopping does that


def holdout_split(X: pd.DataFrame, y: Any, seed: int, size: float = 0.15) -> tuple[Any, Any, Any, Any]:
    """Stratified (X_fit, X_es, y_fit, y_es): carve the early-stopping set out of TRAINING rows."""
    return train_test_split(X, y, test_size=size, stratify=y, random_state=seed)


def fit_with_pruning(model: XGBClassifier, X_tr: Any, y_tr: Any, X_val: Any, y_val: Any,
                     trial: optuna.Trial | None = None, metric: str = "roc_auc",
                     report_every: int = REPORT_EVERY, step_offset: int = 0) -> tuple[XGBClassifier, int]:
    """Fit with (X_val, y_val) as the early-stopping set; with a trial, report and maybe prune.

    X_val/y_val must come from the training side of the split (see `holdout_split`). Returns the
    fitted model and its best iteration (0-based; predict_proba already uses only rounds up to it).
    """
    if metric not in EVAL_METRIC:
        raise ValueError(f"metric must be one of {sorted(EVAL_METRIC)}, got {metric!r}.")
    callbacks = [PruningCallback(trial, EVAL_METRIC[metric], report_every, step_offset)] if trial else None
    model.set_params(eval_metric=EVAL_METRIC[metric], callbacks=callbacks)
    try:
        model.fit(X_tr, y_tr, eval_set=[(X_val, y_val)], verbose=False)
    finally:
        model.set_params(callbacks=None)  # don't keep the trial (and its storage) inside the model
    if model.get_params()["early_stopping_rounds"] is None:
        best = model.get_params()["n_estimators"] - 1
    else:
        best = int(model.best_iteration)
    log.debug("xgb: best iteration %d of %d", best, model.get_params()["n_estimators"])
    return model, best
