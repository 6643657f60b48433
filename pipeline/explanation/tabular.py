"""Explanations of the tabular models: permutation importance on test, and logistic-regression coefficients.

Every score here is a "drop": the metric before minus the metric after a perturbation, signed so
that positive always means the model relied on what was perturbed (for log loss, lower is better,
so the sign flips). The models are only scored, never refitted (DESIGN.md section 4).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.inspection import permutation_importance

from pipeline.core.errors import InputError
from pipeline.evaluation.definitions import OBJECTIVES
from pipeline.models import store as model_store


def metric_value(metric: str, y: np.ndarray, p: np.ndarray) -> float:
    if metric not in OBJECTIVES:
        raise InputError(f"metric must be one of {list(OBJECTIVES)}, got {metric!r}.")
    return OBJECTIVES[metric].score(y, p)


def drop(metric: str, baseline: float, after: float) -> float:
    """baseline - after, signed so that positive = worse after the perturbation."""
    return OBJECTIVES[metric].sign * (baseline - after)


class StoredModel(ClassifierMixin, BaseEstimator):
    """A tuned model behind the sklearn API, predicting through the model store (already fitted; never refitted)."""

    def __init__(self, family: str, model: Any, feature_columns: Sequence[str], calibration: dict | None = None):
        self.family = family
        self.model = model
        self.feature_columns = feature_columns
        self.calibration = calibration   # info.json's: the drops are measured on the probabilities evaluate scores

    def fit(self, X: Any, y: Any = None) -> StoredModel:
        raise TypeError("StoredModel wraps a tuned model: it is only scored, never fitted.")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        info = {"family": self.family, "feature_columns": self.feature_columns, "calibration": self.calibration}
        p = model_store.predict_calibrated(info, self.model, X)
        return np.column_stack([1.0 - p, p])


def permutation(family: str, model: Any, X: pd.DataFrame, y: np.ndarray, metric: str,
                n_repeats: int, seed: int, calibration: dict | None = None) -> dict[str, Any]:
    """Permutation importance of every feature on the given (test) rows, most important first."""
    sign = OBJECTIVES[metric].sign

    def scorer(estimator: StoredModel, X_: pd.DataFrame, y_: np.ndarray) -> float:
        return sign * metric_value(metric, y_, estimator.predict_proba(X_)[:, 1])

    wrapped = StoredModel(family, model, list(X.columns), calibration)
    result = permutation_importance(wrapped, X, y, scoring=scorer, n_repeats=n_repeats, random_state=seed, n_jobs=1)
    features = [{"feature": str(name), "mean": float(m), "std": float(s)}
                for name, m, s in zip(X.columns, result.importances_mean, result.importances_std)]
    features.sort(key=lambda f: -f["mean"])   # stable: ties keep the model's column order
    baseline = metric_value(metric, y, wrapped.predict_proba(X)[:, 1])
    return {"family": family, "baseline": baseline, "n_repeats": n_repeats, "seed": seed, "features": features}


def coefficients(model: Any, columns: Sequence[str], family: str) -> dict[str, Any]:
    """The fitted coefficients on the model's (already scaled) inputs, largest |coef| first."""
    if not hasattr(model, "coef_"):
        raise InputError(f"{family}: the saved model has no coefficients ({type(model).__name__}); rerun tune.")
    coef = np.asarray(model.coef_, dtype=float).reshape(-1)
    if len(coef) != len(columns):
        raise InputError(f"{family}: {len(coef)} coefficients for {len(columns)} feature columns; rerun tune.")
    features = [{"feature": str(c), "coef": float(v)} for c, v in zip(columns, coef)]
    features.sort(key=lambda f: -abs(f["coef"]))
    return {"family": family, "intercept": float(np.asarray(model.intercept_).reshape(-1)[0]), "features": features}
