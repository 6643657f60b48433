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
                n_repeats: int, seed: int, calibration: dict | None = None,
                groups: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Permutation importance of every feature on the given (test) rows, most important first.

    `groups`: name -> columns permuted together as one feature (the sequence embedding's columns mean
    something only jointly: a customer's embedding is one point, not 16 separate facts)."""
    sign = OBJECTIVES[metric].sign

    def scorer(estimator: Any, X_: pd.DataFrame, y_: np.ndarray) -> float:
        return sign * metric_value(metric, y_, estimator.predict_proba(X_)[:, 1])

    wrapped = StoredModel(family, model, list(X.columns), calibration)
    grouped = {name: cols for name, cols in (groups or {}).items() if cols and set(cols) <= set(X.columns)}
    held = [c for cols in grouped.values() for c in cols]
    single = [c for c in X.columns if c not in held]
    result = permutation_importance(_Fixed(wrapped, X[held], list(X.columns)), X[single], y, scoring=scorer,
                                    n_repeats=n_repeats, random_state=seed, n_jobs=1)
    features = [{"feature": str(name), "mean": float(m), "std": float(s)}
                for name, m, s in zip(single, result.importances_mean, result.importances_std)]
    baseline = metric_value(metric, y, wrapped.predict_proba(X)[:, 1])
    rng = np.random.default_rng(seed)
    for name, cols in grouped.items():
        drops = [drop(metric, baseline, metric_value(metric, y, wrapped.predict_proba(_shuffled(X, cols, rng))[:, 1]))
                 for _ in range(n_repeats)]
        features.append({"feature": name, "mean": float(np.mean(drops)), "std": float(np.std(drops)),
                         "columns": list(cols)})
    features.sort(key=lambda f: -f["mean"])   # stable: ties keep the model's column order
    return {"family": family, "baseline": baseline, "n_repeats": n_repeats, "seed": seed, "features": features}


class _Fixed(ClassifierMixin, BaseEstimator):
    """The model seen through the columns sklearn permutes one by one; the grouped columns are held fixed."""

    def __init__(self, inner: StoredModel, held: pd.DataFrame, order: list[str]):
        self.inner, self.held, self.order = inner, held, order

    def fit(self, X: Any, y: Any = None) -> _Fixed:
        raise TypeError("only scored, never fitted")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.inner.predict_proba(pd.concat([X, self.held.loc[X.index]], axis=1)[self.order])


def _shuffled(X: pd.DataFrame, columns: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """X with the rows of `columns` permuted together (one permutation for the whole block)."""
    out = X.copy()
    out[columns] = X[columns].to_numpy()[rng.permutation(len(X))]
    return out


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
