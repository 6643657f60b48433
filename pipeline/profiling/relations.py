"""Univariate relations to the target, computed on TRAIN ONLY (DESIGN.md: decisions use train only).

One common yardstick ranks every candidate: the univariate ROC-AUC, reported as strength =
max(auc, 1 - auc) with the direction. Categoricals are scored through their train positive rate
per level (so their AUC is at least 0.5 and the direction is the riskiest level instead).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency
from sklearn.metrics import mutual_info_score, roc_auc_score

from pipeline.core.schema import TARGET
from pipeline.profiling.stats import grouped_levels, level_labels, top_levels

log = logging.getLogger(__name__)


def numeric_relation(values: pd.Series, y: np.ndarray) -> dict[str, Any] | None:
    """AUC and point-biserial correlation on the non-missing rows; None when undefined."""
    x = values.to_numpy(dtype=float)
    keep = ~np.isnan(x)
    x, y = x[keep], y[keep]
    if not len(x) or y.min() == y.max() or x.min() == x.max():
        return None
    auc = float(roc_auc_score(y, x))
    return {"auc": auc, "strength": max(auc, 1 - auc), "direction": "higher" if auc >= 0.5 else "lower",
            "n": int(keep.sum()), "point_biserial": float(np.corrcoef(x, y)[0, 1])}


def categorical_relation(values: pd.Series, y: np.ndarray, max_categories: int) -> dict[str, Any] | None:
    """AUC of the per-level positive rate, Cramér's V and mutual information (bits) over the shown levels."""
    labels = level_labels(values)
    labels = grouped_levels(labels, top_levels(labels, max_categories))
    if labels.nunique() < 2 or y.min() == y.max():
        return None
    target = pd.Series(y, index=labels.index)
    rates = target.groupby(labels).mean()
    auc = float(roc_auc_score(y, labels.map(rates).to_numpy(float)))
    table = pd.crosstab(labels, target).to_numpy()
    chi2 = chi2_contingency(table, correction=False)[0]
    top = sorted(rates.items(), key=lambda item: (-item[1], item[0]))[0]
    return {"auc": auc, "strength": auc, "direction": None, "n": len(y),
            "cramers_v": float(np.sqrt(chi2 / len(y))),   # binary target: min(rows, cols) - 1 == 1
            "mutual_information_bits": float(mutual_info_score(None, None, contingency=table) / np.log(2)),
            "top_level": top[0], "top_level_rate": float(top[1])}


def candidates(train: pd.DataFrame, numeric: list[str], categorical: list[str], aggregates: pd.DataFrame | None,
               max_categories: int) -> list[dict[str, Any]]:
    """Every scorable relation: numeric, categorical, missingness indicators and event aggregates."""
    y = train[TARGET].to_numpy().astype(int)
    found: list[tuple[str, str, dict[str, Any] | None]] = []
    found += [(c, "numeric", numeric_relation(train[c], y)) for c in numeric]
    found += [(c, "categorical", categorical_relation(train[c], y, max_categories)) for c in categorical]
    # Missing-not-at-random shows up as a missingness indicator that predicts the target.
    found += [(c, "missing", numeric_relation(train[c].isna().astype(float), y))
              for c in numeric + categorical if 0 < train[c].isna().sum() < len(train)]
    if aggregates is not None:
        found += [(c, "events", numeric_relation(aggregates[c], y)) for c in aggregates.columns]
    return [{"feature": name, "source": source, **rel} for name, source, rel in found if rel is not None]


def relations(train: pd.DataFrame, numeric: list[str], categorical: list[str], aggregates: pd.DataFrame | None,
              max_categories: int, top: int) -> dict[str, Any]:
    """The `top` strongest univariate relations on train, strongest first (ties by name)."""
    items = candidates(train, numeric, categorical, aggregates, max_categories)
    items.sort(key=lambda r: (-round(r["strength"], 12), r["source"], r["feature"]))
    return {"computed_on": "train", "metric": "univariate ROC-AUC, strength = max(auc, 1 - auc)",
            "n_train": len(train), "n_candidates": len(items), "top": items[:top]}
