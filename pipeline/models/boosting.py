"""What the gradient-boosting families (xgb, lightgbm) share: the early-stopping hold-out carved from the
training rows, and the positive-class weight.

Early stopping needs rows the model is not fitted on; they come from the TRAINING part of a CV fold
(never from the rows the fold is scored on), and they get no SMOTE rows: the fit part is resampled
after the carve.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

EARLY_STOPPING_ROUNDS = 50
N_ESTIMATORS_MAX = 2000        # an upper bound only: early stopping picks the actual number of rounds
REPORT_EVERY = 10              # boosting rounds between reports to Optuna (each report costs a pruner query)
HOLDOUT = 0.15


def holdout_split(X: Any, y: Any, seed: int, size: float = HOLDOUT) -> tuple[Any, Any, Any, Any]:
    """Stratified (X_fit, X_es, y_fit, y_es): carve the early-stopping set out of TRAINING rows."""
    return train_test_split(X, y, test_size=size, stratify=y, random_state=seed)


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


def carve_and_resample(X: Any, y: Any, sampler: Any, seed: int) -> tuple[Any, Any, Any, Any]:
    """(X_fit, y_fit, X_es, y_es): the early-stopping rows first, then SMOTE on the rest only."""
    X_fit, X_es, y_fit, y_es = holdout_split(X, y, seed)
    if sampler is not None:
        X_fit, y_fit = sampler.fit_resample(X_fit, y_fit)
    return X_fit, y_fit, X_es, y_es
