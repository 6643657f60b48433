"""Cross-validation of one parameter set of one family on fixed, seeded folds of the train split.

Leakage rule 3: resampling (SMOTE) runs inside each fold's training part only, through an
imblearn Pipeline (or explicitly for XGBoost, whose early-stopping rows are carved from the
fold's training part before resampling). Validation rows are never resampled and never seen in fit.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
from imblearn.pipeline import Pipeline
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from pipeline.models import FAMILIES
from pipeline.models import xgb as xgb_family
from pipeline.events.sequences import SequenceBatch
from pipeline.core.params import ResampleParams
from pipeline.resampling.samplers import make_sampler
from pipeline.train_data import TrainData

SCORERS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": roc_auc_score, "average_precision": average_precision_score, "log_loss": log_loss}
DIRECTIONS = {"roc_auc": "maximize", "average_precision": "maximize", "log_loss": "minimize"}
FOLD_STRIDE = 10_000   # Optuna steps per fold, so every fold reports on its own step range
FIT_REPORTERS = ("xgb", "lstm")   # report boosting rounds / epochs themselves


def make_folds(y: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The same stratified folds for every family (same seed), so families compare on equal footing."""
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def sequence_input(data: TrainData, rows: np.ndarray | None = None) -> SequenceBatch:
    rows = np.arange(len(data)) if rows is None else rows
    static = data.X[data.static_columns].to_numpy(np.float32, copy=True)[rows]
    # n_types stays that of the fitted vocabulary, so every fold's embedding table has the same size.
    return data.seq.subset(rows).with_static(static)


def pruning_hook(trial: optuna.Trial | None, offset: int, deadline: float | None, maximize: bool,
                 final: bool = False):
    """on_epoch callback: report to Optuna and prune; at the time budget a trial is stopped (recorded
    as pruned) and a final fit ends early keeping its best epoch (returning True stops training)."""
    def on_epoch(epoch: int, val_auc: float) -> bool:
        if trial is not None and maximize:
            trial.report(val_auc, offset + epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} (val AUC {val_auc:.4f})")
        if deadline is not None and time.monotonic() > deadline:
            if final:
                return True
            raise optuna.TrialPruned("stopped: time budget reached")
        return False
    return on_epoch


def fit_family(family: str, params: dict[str, Any], data: TrainData, rows: np.ndarray, *, seed: int,
               resample: ResampleParams, device: str, max_epochs: int, metric: str,
               trial: optuna.Trial | None = None, offset: int = 0, deadline: float | None = None,
               final: bool = False) -> Any:
    """Fit one family on `rows` of the train data; returns the fitted estimator (no sampler inside)."""
    module = FAMILIES[family]
    if family == "lstm":
        model = module.build(params, seed).set_params(
            max_epochs=max_epochs, device=device,
            on_epoch=pruning_hook(trial, offset, deadline, metric != "log_loss", final))
        return model.fit(sequence_input(data, rows), data.y[rows])
    X, y = data.X.iloc[rows], data.y[rows]
    sampler = make_sampler(resample, data.categorical_mask, seed, data.groups)
    if family == "xgb":
        X_fit, X_es, y_fit, y_es = xgb_family.holdout_split(X, y, seed)
        if sampler is not None:
            X_fit, y_fit = sampler.fit_resample(X_fit, y_fit)
        model = module.build(params, seed, device, pos_ratio=xgb_family.pos_ratio(y_fit))
        prune = trial if metric in xgb_family.EVAL_METRIC else None
        model, _ = xgb_family.fit_with_pruning(model, X_fit, y_fit, X_es, y_es, prune,
                                               metric=metric if prune else "roc_auc", step_offset=offset)
        return model
    steps = ([("sampler", sampler)] if sampler is not None else []) + [("model", module.build(params, seed))]
    return Pipeline(steps).fit(X, y)[-1]


def predict_family(family: str, model: Any, data: TrainData, rows: np.ndarray) -> np.ndarray:
    if family == "lstm":
        return model.predict_proba(sequence_input(data, rows))[:, 1]
    return model.predict_proba(data.X.iloc[rows])[:, 1]


def cross_validate(family: str, params: dict[str, Any], data: TrainData,
                   folds: list[tuple[np.ndarray, np.ndarray]], *, metric: str,
                   trial: optuna.Trial | None = None, deadline: float | None = None,
                   **fit_kwargs: Any) -> tuple[float, list[float], np.ndarray]:
    """Mean CV score, per-fold scores, and out-of-fold probabilities (for choosing the threshold)."""
    oof = np.full(len(data), np.nan)
    scores = []
    for k, (fit_rows, val_rows) in enumerate(folds):
        if deadline is not None and time.monotonic() > deadline:
            raise optuna.TrialPruned(f"stopped before fold {k}: time budget reached")
        model = fit_family(family, params, data, fit_rows, metric=metric, trial=trial,
                           offset=k * FOLD_STRIDE, deadline=deadline, **fit_kwargs)
        oof[val_rows] = predict_family(family, model, data, val_rows)
        scores.append(float(SCORERS[metric](data.y[val_rows], oof[val_rows])))
        if trial is not None and family not in FIT_REPORTERS:
            # Families with no learning curve report the running CV mean per fold, so a clearly
            # worse trial can stop after a fold or two instead of costing all K.
            trial.report(float(np.mean(scores)), k)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {k} (mean {metric} {np.mean(scores):.4f})")
    return float(np.mean(scores)), scores, oof
