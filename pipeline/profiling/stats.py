"""Pure descriptive statistics for the eda stage: target balance, missingness, distributions, IQR outliers.

Every function describes both splits, but whatever acts like a decision (histogram range, IQR fences,
which categorical levels are shown) is fixed on train, so the splits are compared on the same footing
and nothing about the test split shapes what is reported.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.schema import TARGET

log = logging.getLogger(__name__)

QUANTILES = {"q01": 0.01, "q05": 0.05, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q95": 0.95, "q99": 0.99}
RANGE_QUANTILES = (0.005, 0.995)   # histogram range: keeps data-entry outliers from squashing the shape
OTHER = "(other)"
MISSING = "(missing)"


def share(count: float, total: float) -> float | None:
    return count / total if total else None


def target_balance(splits: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Class counts and positive rate per split, plus both together."""
    counts = {name: (len(frame), int((frame[TARGET] == 1).sum())) for name, frame in splits.items()}
    counts["all"] = (sum(n for n, _ in counts.values()), sum(p for _, p in counts.values()))
    return {name: {"n": n, "positive": positive, "negative": n - positive, "positive_rate": share(positive, n)}
            for name, (n, positive) in counts.items()}


def missingness(splits: dict[str, pd.DataFrame], columns: list[str]) -> dict[str, Any]:
    """Missing count and share per column and split, and over all feature cells."""
    counts = {name: frame[columns].isna().sum() for name, frame in splits.items()}
    per_column = {
        column: {name: {"count": int(counts[name][column]), "share": share(int(counts[name][column]), len(frame))}
                 for name, frame in splits.items()}
        for column in columns
    }
    cells = {}
    for name, frame in splits.items():
        total = int(counts[name].sum())
        cells[name] = {"count": total, "share": share(total, len(frame) * len(columns))}
    all_count = sum(c["count"] for c in cells.values())
    all_cells = sum(len(frame) for frame in splits.values()) * len(columns)
    cells["all"] = {"count": all_count, "share": share(all_count, all_cells)}
    return {"cells": cells, "columns": per_column}


def describe_numeric(values: pd.Series) -> dict[str, Any]:
    """Count, moments and quantiles of the non-missing values."""
    x = values.dropna().to_numpy(dtype=float)
    out: dict[str, Any] = {"n": len(x), "missing": int(values.isna().sum()), "n_unique": int(len(np.unique(x)))}
    if not len(x):
        return out
    quantiles = np.quantile(x, list(QUANTILES.values()))
    out |= {"mean": x.mean(), "std": x.std(ddof=1) if len(x) > 1 else None,  # ddof=1: sample std, as pandas
            "min": x.min(), **dict(zip(QUANTILES, quantiles)), "max": x.max(),
            "skew": pd.Series(x).skew() if len(x) > 2 else None}
    return out


def histogram_edges(train: pd.Series, bins: int) -> np.ndarray | None:
    """Bin edges fixed on train over the central 99 % of values; whole-number bins for integer data."""
    x = train.dropna().to_numpy(dtype=float)
    if not len(x):
        return None
    lo, hi = np.quantile(x, RANGE_QUANTILES)
    if lo == hi:                        # a spike holds 99 % of the mass: fall back to the full range
        lo, hi = x.min(), x.max()
    if lo == hi:
        return np.array([lo - 0.5, hi + 0.5])
    if np.all(x == np.round(x)):        # counts, ages ...: whole-number bins avoid comb-like aliasing
        width = max(1.0, float(np.ceil((hi - lo + 1) / bins)))
        start = np.floor(lo) - 0.5
        return start + width * np.arange(int(np.ceil((np.ceil(hi) + 0.5 - start) / width)) + 1)
    return np.linspace(lo, hi, bins + 1)


def histogram(train: pd.Series, test: pd.Series, y_train: np.ndarray, bins: int) -> dict[str, Any] | None:
    """Counts on train-fixed edges for train, test and each train class; values beyond the edges counted."""
    edges = histogram_edges(train, bins)
    if edges is None:
        return None
    series = {"train": train.to_numpy(float), "test": test.to_numpy(float),
              "train_negative": train.to_numpy(float)[y_train == 0], "train_positive": train.to_numpy(float)[y_train == 1]}
    out: dict[str, Any] = {"edges": edges.tolist(), "counts": {}, "below": {}, "above": {}}
    for name, x in series.items():
        x = x[~np.isnan(x)]
        out["counts"][name] = np.histogram(x, bins=edges)[0].tolist()
        out["below"][name], out["above"][name] = int((x < edges[0]).sum()), int((x > edges[-1]).sum())
    return out


def iqr_outliers(splits: dict[str, pd.DataFrame], numeric: list[str], k: float) -> dict[str, Any]:
    """Values outside train fences [q1 - k*iqr, q3 + k*iqr] per column and split, and rows with any."""
    columns: dict[str, Any] = {}
    any_row = {name: np.zeros(len(frame), dtype=bool) for name, frame in splits.items()}
    for column in numeric:
        train = splits["train"][column].dropna().to_numpy(float)
        if not len(train):
            continue
        q1, q3 = np.quantile(train, [0.25, 0.75])
        lower, upper = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
        columns[column] = {"lower_fence": lower, "upper_fence": upper}
        for name, frame in splits.items():
            x = frame[column].to_numpy(float)
            below, above = x < lower, x > upper         # NaN compares False: missing is not an outlier
            any_row[name] |= below | above
            count = int(below.sum() + above.sum())
            columns[column][name] = {"below": int(below.sum()), "above": int(above.sum()),
                                     "count": count, "share": share(count, len(x))}
    rows = {name: {"count": int(mask.sum()), "share": share(int(mask.sum()), len(mask))} for name, mask in any_row.items()}
    return {"k": k, "fences_from": "train", "rows": rows, "columns": columns}


def level_labels(values: pd.Series) -> pd.Series:
    """Categorical values as text, with missing as its own level (missingness is often signal)."""
    return values.astype(object).where(values.notna(), MISSING).astype(str)


def top_levels(labels: pd.Series, max_categories: int) -> list[str]:
    """The most frequent levels among `labels` (train); ties broken by name so the choice is deterministic."""
    counts = labels.value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [level for level, _ in ranked[:max_categories]]


def grouped_levels(labels: pd.Series, shown: list[str]) -> pd.Series:
    """Levels outside `shown` (fixed on train) become OTHER."""
    return labels.where(labels.isin(shown), OTHER)


def describe_categorical(train: pd.Series, test: pd.Series, y_train: np.ndarray, max_categories: int) -> dict[str, Any]:
    """Top train levels + other: counts and shares per split, positive rate on train."""
    train_labels, test_labels = level_labels(train), level_labels(test)
    shown = top_levels(train_labels, max_categories)
    tr, te = grouped_levels(train_labels, shown), grouped_levels(test_labels, shown)
    tr_counts, te_counts = tr.value_counts(), te.value_counts()
    positives = pd.Series(y_train, index=tr.index).groupby(tr).sum()
    levels = []
    for level in shown + ([OTHER] if OTHER in tr_counts.index or OTHER in te_counts.index else []):
        n_train, n_test = int(tr_counts.get(level, 0)), int(te_counts.get(level, 0))
        levels.append({"level": level, "train": n_train, "test": n_test,
                       "train_share": share(n_train, len(tr)), "test_share": share(n_test, len(te)),
                       "positive_rate_train": share(int(positives.get(level, 0)), n_train)})
    train_levels, test_levels = set(train_labels.unique()), set(test_labels.unique())
    return {"n_levels": {"train": len(train_levels), "test": len(test_levels),
                         "test_only": len(test_levels - train_levels)},
            "missing": {"train": int(train.isna().sum()), "test": int(test.isna().sum())},
            "levels": levels}
