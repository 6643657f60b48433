"""Outlier handling with IQR fences fitted on train: train rows outside are dropped or clipped, test rows only clipped.

The row filter is an imblearn sampler (it acts in fit_resample only), so it can never drop a row
that is being scored (leakage rule 4). The fences themselves live in pipeline/preprocessing/fences.py.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.params import OutlierParams
from pipeline.core.schema import TARGET
from pipeline.preprocessing.fences import MODES, IQRBounds, apply_fences

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Filtered:
    train: pd.DataFrame
    test: pd.DataFrame
    bounds: IQRBounds
    fenced: list[str]
    report: dict[str, Any]


def fenced_columns(train: pd.DataFrame, numeric: list[str], p: OutlierParams) -> tuple[list[str], list[str]]:
    """(fenced, few_unique), chosen on train: numeric minus exempt minus columns with < min_unique values."""
    if unknown := sorted(set(p.exempt) - set(numeric)):
        raise InputError(f"params: outliers.exempt names {unknown}, which are not numeric columns; "
                         f"numeric columns: {numeric}.")
    candidates = [c for c in numeric if c not in p.exempt]
    # Flags, indicators and small counts have a degenerate IQR: fencing them would drop every rare value.
    few = [c for c in candidates if train[c].nunique(dropna=True) < p.min_unique]
    return [c for c in candidates if c not in few], few


def _iqr_filter(X: pd.DataFrame, y: Any, *, columns: list[str], k: float, mode: str) -> tuple[pd.DataFrame, Any]:
    """FunctionSampler body: fence the rows it is given (train only) and drop or clip those outside."""
    if mode == "none" or not columns:
        return X, y
    bounds = IQRBounds(k=k).fit(X[columns])
    if mode == "clip":
        return apply_fences(X, bounds, mode), y
    below, above = bounds.outside(X[columns])
    keep = ~(below | above).any(axis=1)
    return X[keep], y[keep]


def outlier_sampler(columns: list[str], k: float, mode: str) -> Any:
    """A sampler: acts in fit_resample only, so in a pipeline it never touches rows being scored (rule 4)."""
    from imblearn import FunctionSampler  # lazy: the outliers stage calls the filter itself (imblearn costs ~1 s)

    return FunctionSampler(func=_iqr_filter, validate=False, kw_args={"columns": list(columns), "k": k, "mode": mode})


def _check(p: OutlierParams) -> None:
    if p.mode not in MODES:
        raise InputError(f"params: outliers.mode must be one of {list(MODES)}, got {p.mode!r}.")
    if p.k < 0 or not 0 <= p.max_drop_share <= 1 or p.min_unique < 1:
        raise InputError(f"params: outliers needs k >= 0, 0 <= max_drop_share <= 1, min_unique >= 1; "
                         f"got k={p.k}, max_drop_share={p.max_drop_share}, min_unique={p.min_unique}.")


def _fit(train: pd.DataFrame, fenced: list[str], p: OutlierParams) -> tuple[IQRBounds, np.ndarray, np.ndarray]:
    """Train fences and the train (below, above) masks; no fenced columns -> an empty, fitted IQRBounds."""
    if not fenced:
        empty = np.zeros((len(train), 0), bool)
        return IQRBounds.from_json({"k": p.k, "columns": {}}), empty, empty
    bounds = IQRBounds(k=p.k).fit(train[fenced])
    return (bounds, *bounds.outside(train[fenced]))


def _refuse_if_too_many(outside: np.ndarray, fenced: list[str], p: OutlierParams) -> None:
    """One line with the share, the worst columns and what to change."""
    share = outside.any(axis=1).mean() if outside.size else 0.0
    if p.mode != "drop" or share <= p.max_drop_share:
        return
    worst = ", ".join(f"{c} {s:.1%}" for s, c in sorted(zip(outside.mean(axis=0), fenced), reverse=True)[:3])
    raise InputError(f"outliers: k={p.k} would drop {share:.1%} of train rows ({outside.any(axis=1).sum()}/"
                     f"{len(outside)}), above max_drop_share {p.max_drop_share:.0%} (most outside: {worst}); "
                     "raise outliers.k, add columns to outliers.exempt, or use outliers.mode clip.")


def filter_split(train: pd.DataFrame, test: pd.DataFrame, numeric: list[str], p: OutlierParams) -> Filtered:
    """Fit fences on train; drop/clip train rows via the sampler; clip test rows to the train fences."""
    _check(p)
    fenced, few = fenced_columns(train, numeric, p)
    bounds, below, above = _fit(train, fenced, p)
    _refuse_if_too_many(below | above, fenced, p)
    # What outlier_sampler(...).fit_resample does (validate=False): the filter on the train rows only.
    new_train, _ = _iqr_filter(train, train[TARGET], columns=fenced, k=p.k, mode=p.mode)
    new_test = apply_fences(test, bounds, p.mode)
    test_out = np.logical_or(*bounds.outside(test[fenced])) if fenced else np.zeros((len(test), 0), bool)
    columns = {c: {"lower": float(bounds.lower_[i]), "upper": float(bounds.upper_[i]),
                   "train_below": int(below[:, i].sum()), "train_above": int(above[:, i].sum()),
                   "test_outside": int(test_out[:, i].sum()),
                   "test_clipped": 0 if p.mode == "none" else int(test_out[:, i].sum())}
               for i, c in enumerate(fenced)}
    report = {"k": p.k, "mode": p.mode, "fenced": fenced, "exempt": list(p.exempt), "few_unique": few,
              "rows": {"train_before": len(train), "train_after": len(new_train),
                       "test_before": len(test), "test_after": len(new_test)},
              "train_rows_outside": int((below | above).any(axis=1).sum()),
              "train_rows_removed": len(train) - len(new_train), "columns": columns}
    return Filtered(new_train.reset_index(drop=True), new_test, bounds, fenced, report)
