"""Cross-validation of one parameter set of one family on fixed, seeded folds of the train split.

Leakage rule 3: resampling (SMOTE) runs inside each fold's training part only; the family's fit
decides how (an imblearn Pipeline, or after carving the early-stopping rows for the boosting
families). Validation rows are never resampled and never seen in fit.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import optuna
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from pipeline.core.params import ResampleParams
from pipeline.evaluation.definitions import OBJECTIVES
from pipeline.events.sequences import SequenceBatch
from pipeline.models.family import BuildContext, Family, FitData, FitHooks
from pipeline.models.registry import get
from pipeline.resampling.samplers import make_sampler
from pipeline.tuning import imbalance
from pipeline.tuning.train_data import TrainData

FOLD_STRIDE = 10_000   # Optuna steps per fold, so every fold reports on its own step range


def make_folds(y: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The same stratified folds for every family (same seed), so families compare on equal footing."""
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def sequence_input(data: TrainData, rows: np.ndarray | None = None) -> SequenceBatch:
    rows = np.arange(len(data)) if rows is None else rows
    static = data.X[data.static_columns].to_numpy(np.float32, copy=True)[rows]
    # n_types stays that of the fitted vocabulary, so every fold's embedding table has the same size.
    return data.seq.subset(rows).with_static(static)


def training_inputs(fam: Family, data: TrainData, rows: np.ndarray) -> Any:
    """Rows of the train data in the form the family reads: feature matrix or SequenceBatch."""
    return sequence_input(data, rows) if fam.inputs == "sequence" else data.X.iloc[rows]


def fit_family(family: str, params: dict[str, Any], data: TrainData, rows: np.ndarray, *, seed: int,
               resample: ResampleParams, device: str, max_epochs: int, metric: str,
               trial: optuna.Trial | None = None, offset: int = 0, deadline: float | None = None,
               final: bool = False, threads: int = -1) -> Any:
    """Fit one family on `rows` of the train data; returns the fitted model (no sampler inside).
    `params` may hold the tuned `imbalance` choice (pipeline/models/imbalance.py)."""
    fam = get(family)
    build_params, resampled = imbalance.plan(fam, params)
    model = fam.build(build_params, BuildContext(seed=seed, device=device, max_epochs=max_epochs, threads=threads,
                                                 n_features=data.X.shape[1], pretrained=data.encoder))
    sampler = make_sampler(resample, data.categorical_mask, seed, data.groups, len(rows)) if resampled else None
    fit_data = FitData(training_inputs(fam, data, rows), data.y[rows], sampler, seed)
    # One BLAS thread: two OpenBLAS threads on two busy cores made a logistic regression 6x slower (4.7 s
    # against 0.8 s); the families' own thread pools (OpenMP, joblib) are not affected.
    with threadpool_limits(1, user_api="blas"):
        return fam.fit(model, fit_data, FitHooks(trial, metric, offset, deadline, final))


def predict_family(family: str, model: Any, data: TrainData, rows: np.ndarray) -> np.ndarray:
    fam = get(family)
    return fam.predict(model, training_inputs(fam, data, rows))


def cross_validate(family: str, params: dict[str, Any], data: TrainData,
                   folds: list[tuple[np.ndarray, np.ndarray]], *, metric: str,
                   trial: optuna.Trial | None = None, deadline: float | None = None,
                   fold_seconds: list[float] | None = None,
                   **fit_kwargs: Any) -> tuple[float, list[float], np.ndarray]:
    """Mean CV score, per-fold scores, and out-of-fold probabilities (ensemble, calibration, threshold).
    `fold_seconds`, when given, receives each fold's fit + predict time."""
    score_fold = OBJECTIVES[metric].score
    reports_steps = get(family).reports_steps
    oof = np.full(len(data), np.nan)
    scores: list[float] = []
    times = fold_seconds if fold_seconds is not None else []
    for k, (fit_rows, val_rows) in enumerate(folds):
        now = time.monotonic()
        # A trial that cannot finish its folds before the budget ends is stopped now, not at the deadline:
        # its slowest fold so far times the folds left says when it would end.
        if deadline is not None and (now > deadline or times and now + max(times) * (len(folds) - k) > deadline):
            raise optuna.TrialPruned(f"stopped before fold {k}: its folds would not finish within the time budget")
        # Each fold may take its share of the time left: a first fold slower than that means the trial
        # cannot finish, and the fit stops there (at its next boosting round, epoch batch or tree chunk).
        fold_deadline = None if deadline is None else now + (deadline - now) / (len(folds) - k)
        model = fit_family(family, params, data, fit_rows, metric=metric, trial=trial,
                           offset=k * FOLD_STRIDE, deadline=fold_deadline, **fit_kwargs)
        oof[val_rows] = predict_family(family, model, data, val_rows)
        times.append(time.monotonic() - now)
        scores.append(float(score_fold(data.y[val_rows], oof[val_rows])))
        if trial is not None and not reports_steps:
            # Families with no learning curve report the running CV mean per fold, so a clearly
            # worse trial can stop after a fold or two instead of costing all K.
            trial.report(float(np.mean(scores)), k)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {k} (mean {metric} {np.mean(scores):.4f})")
    return float(np.mean(scores)), scores, oof
