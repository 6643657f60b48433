"""IQR fences: an sklearn transformer fitted on train, saved as JSON, reloaded by prediction.

The JSON form (models/fences.json) is the safe, human-readable artifact; nothing here is pickled:
  {"k": 1.5, "mode": "drop", "columns": {col: {"lower": .., "upper": .., "q1": .., "q3": ..}}}
Columns sit under "columns" so a feature named "k" or "mode" cannot collide with the settings.
An unbounded side (a column with no finite train values) is written as null.
"""
from __future__ import annotations

import logging
import math
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data  # public since scikit-learn 1.6

from pipeline.core.errors import InputError
from pipeline.core.io import read_json, write_json

log = logging.getLogger(__name__)

MODES = ("drop", "clip", "none")


class IQRBounds(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Per-column fences [q1 - k*iqr, q3 + k*iqr] learned in fit; transform clips to them.

    OneToOneFeatureMixin supplies get_feature_names_out (output column i is input column i)."""

    def __init__(self, k: float = 1.5):
        self.k = k

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN is skipped in fit and passed through by transform
        return tags

    def fit(self, X: Any, y: Any = None) -> IQRBounds:
        if isinstance(self.k, bool) or not isinstance(self.k, Real) or not self.k >= 0:
            raise ValueError(f"IQRBounds: k must be a number >= 0, got {self.k!r}.")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        finite = ~np.isnan(X).all(axis=0)
        q1 = np.full(X.shape[1], np.nan)
        q3 = np.full(X.shape[1], np.nan)
        if finite.any():  # nanpercentile warns on all-NaN columns; those get no fence at all
            q1[finite], q3[finite] = np.nanpercentile(X[:, finite], [25, 75], axis=0)
        iqr = q3 - q1
        self.q1_, self.q3_ = q1, q3
        self.lower_ = np.where(finite, q1 - self.k * iqr, -np.inf)
        self.upper_ = np.where(finite, q3 + self.k * iqr, np.inf)
        return self

    def transform(self, X: Any) -> Any:
        check_is_fitted(self)
        values = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        clipped = np.clip(values, self.lower_, self.upper_)  # NaN stays NaN
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame(clipped, columns=X.columns, index=X.index)
        return clipped

    def outside(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Boolean (below, above) masks, one column per feature; NaN counts as inside."""
        check_is_fitted(self)
        values = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return values < self.lower_, values > self.upper_

    def to_json(self, mode: str) -> dict[str, Any]:
        """The fitted fences plus the stage mode, as plain JSON types."""
        check_is_fitted(self)
        names = self.get_feature_names_out()
        cols = {
            str(name): {"lower": _num(lo), "upper": _num(hi), "q1": _num(q1), "q3": _num(q3)}
            for name, lo, hi, q1, q3 in zip(names, self.lower_, self.upper_, self.q1_, self.q3_)
        }
        return {"k": float(self.k), "mode": mode, "columns": cols}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> IQRBounds:
        """Rebuild a fitted IQRBounds from `to_json` output (no refit, no pickle)."""
        cols = obj["columns"]
        bounds = cls(k=obj["k"])
        bounds.feature_names_in_ = np.asarray(list(cols), dtype=object)
        bounds.n_features_in_ = len(cols)
        for attr, side, missing in (("lower_", "lower", -np.inf), ("upper_", "upper", np.inf),
                                    ("q1_", "q1", np.nan), ("q3_", "q3", np.nan)):
            setattr(bounds, attr, np.array([missing if c[side] is None else c[side] for c in cols.values()], float))
        return bounds


def _num(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else float(value)


def save_fences(bounds: IQRBounds, mode: str, path: str | Path) -> None:
    write_json(bounds.to_json(mode), path)


def load_fences(path: str | Path) -> tuple[IQRBounds, str]:
    """Read models/fences.json -> (fitted IQRBounds, mode)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: fences file not found; run the outliers stage first.")
    obj = read_json(path)
    if not isinstance(obj, dict) or not {"k", "mode", "columns"} <= set(obj) or obj["mode"] not in MODES:
        raise InputError(f"{path}: not a fences file; expected keys k, mode ({'|'.join(MODES)}), columns.")
    return IQRBounds.from_json(obj), obj["mode"]


def apply_fences(frame: pd.DataFrame, bounds: IQRBounds, mode: str) -> pd.DataFrame:
    """Test/new rows: clipped to the train fences (modes drop, clip), untouched (none); never dropped."""
    out = frame.copy()
    if mode == "none" or bounds.n_features_in_ == 0:
        return out
    columns = list(bounds.feature_names_in_)
    if missing := sorted(set(columns) - set(frame.columns)):
        raise InputError(f"fenced columns {missing} are missing from the rows to score.")
    out[columns] = bounds.transform(frame[columns]).to_numpy()  # positional: safe with a duplicated index
    return out
