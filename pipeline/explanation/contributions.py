"""Per-customer feature contributions ("reasons") for `predict --explain` and the app.

Each family that can attribute exactly declares how (its `contributions` trait: TreeSHAP for the
boosting families, decision-path contributions for the forest, coefficient x input for logistic
regression); each row's contributions plus the bias give the model's output in the family's
`contribution_units`. A recurrent net over event sequences has no exact per-feature attribution and
offers none: an approximate one (gradients, sampling SHAP) would be slow and easy to over-read.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.embedding.embedder import PREFIX as EMBEDDING_PREFIX
from pipeline.featurization.builder import EMBEDDING_GROUP
from pipeline.models.registry import FAMILIES, get


def explainable_families() -> list[str]:
    """The families that offer exact per-customer reasons."""
    return [name for name, fam in FAMILIES.items() if fam.contributions is not None]


def contributions(family: str, model: Any, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(contributions [n, f] in X's column order, bias [n]) for one fitted model."""
    fam = get(family)
    if fam.contributions is None:
        raise InputError(f"--explain: reasons are available for {explainable_families()}, not for {family!r} "
                         "(a sequence model has no exact per-feature attribution).")
    return fam.contributions(model, X)


def top_reasons(family: str, model: Any, X: pd.DataFrame, k: int) -> pd.DataFrame:
    """reason_i (feature), reason_i_value (model input), reason_i_effect (signed), by largest |effect|.
    The sequence embedding's columns are one reason (their contributions summed, exact as they add up;
    its value is NaN: an embedding has no single value to show)."""
    contrib, _ = contributions(family, model, X)
    names, values, contrib = _embedding_as_one(np.asarray(X.columns, dtype=object), X.to_numpy(np.float64), contrib)
    k = min(k, len(names))
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    rows = np.arange(len(X))[:, None]
    out = {}
    for i in range(k):
        out[f"reason_{i + 1}"] = names[order[:, i]]
        out[f"reason_{i + 1}_value"] = values[rows[:, 0], order[:, i]]
        out[f"reason_{i + 1}_effect"] = contrib[rows[:, 0], order[:, i]]
    return pd.DataFrame(out)


def _embedding_as_one(names: np.ndarray, values: np.ndarray,
                      contrib: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    emb = np.array([str(c).startswith(EMBEDDING_PREFIX) for c in names], dtype=bool)
    if emb.sum() < 2:
        return names, values, contrib
    return (np.append(names[~emb], EMBEDDING_GROUP),
            np.column_stack([values[:, ~emb], np.full(len(values), np.nan)]),
            np.column_stack([contrib[:, ~emb], contrib[:, emb].sum(axis=1)]))
