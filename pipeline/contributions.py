"""Per-customer feature contributions ("reasons") for `predict --explain` and the app; no new dependency.

  xgb     exact TreeSHAP from XGBoost itself (`pred_contribs=True`), in log-odds (margin) space
  forest  Saabas decision-path contributions computed from sklearn's tree structure: along each
          tree's path every split adds (child value - parent value) to the split feature; averaged
          over trees, bias + contributions = the predicted probability exactly (probability space)
  logreg  coefficient x input, exact in log-odds space (the inputs are the standardised features)
  lstm    not offered: a recurrent net over event sequences has no exact per-feature attribution,
          and an approximate one (gradients, sampling SHAP) would be slow and easy to over-read.
Each row's contributions plus the bias give the model's output in the stated space.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.core.errors import InputError

EXPLAINABLE = ("logreg", "forest", "xgb")


def contributions(family: str, model: Any, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(contributions [n, f] in X's column order, bias [n]) for one fitted model."""
    if family == "xgb":
        from xgboost import DMatrix
        booster = model.get_booster()
        rounds = getattr(model, "best_iteration", None)
        # the same trees predict_proba uses (early stopping keeps the rounds up to best_iteration)
        limit = (0, rounds + 1) if rounds is not None else (0, 0)
        out = booster.predict(DMatrix(X), pred_contribs=True, iteration_range=limit)
        return out[:, :-1].astype(np.float64), out[:, -1].astype(np.float64)
    if family == "forest":
        return _saabas(model, X.to_numpy(np.float64))
    if family == "logreg":
        coef = np.asarray(model.coef_[0], dtype=np.float64)
        return X.to_numpy(np.float64) * coef, np.full(len(X), float(model.intercept_[0]))
    raise InputError(f"--explain: reasons are available for {list(EXPLAINABLE)}, not for {family!r} "
                     "(a sequence model has no exact per-feature attribution).")


def _saabas(forest: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over trees of the per-split changes in P(class 1) along each row's decision path."""
    X32 = X.astype(np.float32)                      # sklearn trees split on float32 values
    total = np.zeros(X.shape, dtype=np.float64)
    bias = 0.0
    for tree in forest.estimators_:
        t = tree.tree_
        value = t.value[:, 0, :] / t.value[:, 0, :].sum(axis=1, keepdims=True)
        p1 = value[:, 1]
        parent = np.full(t.node_count, -1)
        for side in (t.children_left, t.children_right):
            inner = side >= 0
            parent[side[inner]] = np.flatnonzero(inner)
        child = np.flatnonzero(parent >= 0)
        # node-by-feature matrix: entering `child` adds p1[child] - p1[parent] to the parent's split feature
        step = sp.csr_matrix((p1[child] - p1[parent[child]], (child, t.feature[parent[child]])),
                             shape=(t.node_count, X.shape[1]))
        total += (tree.decision_path(X32) @ step).toarray()
        bias += p1[0]
    n = len(forest.estimators_)
    return total / n, np.full(len(X), bias / n)


def top_reasons(family: str, model: Any, X: pd.DataFrame, k: int) -> pd.DataFrame:
    """reason_i (feature), reason_i_value (model input), reason_i_effect (signed), by largest |effect|."""
    contrib, _ = contributions(family, model, X)
    k = min(k, X.shape[1])
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    rows = np.arange(len(X))[:, None]
    names = np.asarray(X.columns, dtype=object)
    values = X.to_numpy(np.float64)
    out = {}
    for i in range(k):
        out[f"reason_{i + 1}"] = names[order[:, i]]
        out[f"reason_{i + 1}_value"] = values[rows[:, 0], order[:, i]]
        out[f"reason_{i + 1}_effect"] = contrib[rows[:, 0], order[:, i]]
    return pd.DataFrame(out)
