"""Static (customer-table) features: ratios, buckets, log1p of skewed columns, one-hot, scaling.

`StaticFeatures` is fitted on train rows only (leakage rule 2) and turns the imputed, fenced
customers table into a float64 matrix; `id`/`target` and any unlisted column are ignored.
Output columns, in this order (names are XGBoost-safe: no '[', ']' or '<'):
  continuous  `col`, or `log__col` when log1p was chosen (it REPLACES col); ratios `ratio__a__per__b`
              (or `log__ratio__a__per__b`); standardised on train when scale=True
  binary      numeric columns that are 0/1 on train (incl. `<col>__missing`): `col`, unchanged
  buckets     one-hot bucket indicators of the RAW value: `bucket__col__lt_18`,
              `bucket__col__18_to_30`, `bucket__col__ge_65` (edges fixed by params, not fitted)
  one-hot     `col=level`, and `col=infrequent` for train levels rarer than rare_min_share;
              unseen levels at transform go to `col=infrequent` if it exists, else all zeros
`manifest_` / `describe()` give one dict per output column: {name, kind: numeric|binary|onehot,
inputs: [input columns], group: one-hot group (exactly one 1 per train row) or None, level: the
category / bucket of a one-hot column or None, transform: e.g. "ratio+log1p+standard_scaled"}.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from pipeline.core.errors import InputError
from pipeline.core.params import FeatureParams
from pipeline.core.persist import qualified_names
from pipeline.core.schema import RESERVED

log = logging.getLogger(__name__)
INFREQUENT = "infrequent"
CATEGORICAL_KINDS = ("binary", "onehot")


def static_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns of a customers frame, in file order, id/target excluded."""
    features = [c for c in frame.columns if c not in RESERVED]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    return numeric, [c for c in features if c not in numeric]


def from_params(p: FeatureParams, train: pd.DataFrame, scale: bool = True) -> StaticFeatures:
    """An unfitted StaticFeatures for the static columns of `train`, configured from params."""
    numeric, categorical = static_columns(train)
    return StaticFeatures(numeric=numeric, categorical=categorical, ratios=p.ratios, buckets=p.buckets,
                          log_skew=p.log_skew, rare_min_share=p.rare_min_share, scale=scale)


def _safe(name: str) -> str:
    return name.replace("[", "(").replace("]", ")").replace("<", "lt")


def _bucket_levels(column: str, edges: Sequence[float]) -> list[tuple[str, str]]:
    """(column name, human level) per bucket: (-inf, e0), [e0, e1), ..., [e_last, inf)."""
    e = [f"{float(x):g}" for x in edges]
    names = [f"lt_{e[0]}"] + [f"{a}_to_{b}" for a, b in zip(e, e[1:])] + [f"ge_{e[-1]}"]
    levels = [f"< {e[0]}"] + [f"{a} to < {b}" for a, b in zip(e, e[1:])] + [f">= {e[-1]}"]
    return [(_safe(f"bucket__{column}__{n}"), lv) for n, lv in zip(names, levels)]


def _derive(frame: pd.DataFrame, numeric: list[str], categorical: list[str],
            ratios: list[tuple[str, str]], buckets: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Stateless: numeric, ratio, bucket-indicator and categorical columns (fixed order)."""
    out = {c: frame[c].to_numpy(np.float64) for c in numeric}
    for a, b in ratios:
        num, den = frame[a].to_numpy(np.float64), frame[b].to_numpy(np.float64)
        # A zero denominator gives 0 (not inf/NaN): "no base" reads as "no rate".
        out[f"ratio__{a}__per__{b}"] = np.divide(num, den, out=np.zeros_like(num), where=den != 0)
    for col, edges in buckets.items():
        index = np.digitize(frame[col].to_numpy(np.float64), edges)   # bins[i-1] <= x < bins[i]
        for i, (name, _) in enumerate(_bucket_levels(col, edges)):
            out[name] = (index == i).astype(np.float64)
    out |= {c: frame[c].astype(object).to_numpy() for c in categorical}
    return pd.DataFrame(out, index=frame.index)


def _log1p_where(values: Any, mask: np.ndarray) -> np.ndarray:
    """log1p on the masked columns; clipped at 0 because test values may fall below the train minimum."""
    values = np.array(values, dtype=np.float64, copy=True)
    values[:, mask] = np.log1p(np.clip(values[:, mask], 0.0, None))
    return values


class StaticFeatures(TransformerMixin, BaseEstimator):
    """Fit on train rows; transform any rows into the same float64 columns in the same order."""

    def __init__(self, numeric=(), categorical=(), ratios=(), buckets=None, log_skew=1.0,
                 rare_min_share=0.01, scale=True):
        self.numeric = numeric
        self.categorical = categorical
        self.ratios = ratios
        self.buckets = buckets
        self.log_skew = log_skew
        self.rare_min_share = rare_min_share
        self.scale = scale

    def fit(self, X: pd.DataFrame, y: Any = None) -> StaticFeatures:
        """Decide binary/log columns and fit encoder and scaler on these (train) rows; `y` is unused."""
        self._check_columns(X)
        pairs = [(str(a), str(b)) for a, b in self.ratios]
        buckets = {c: [float(e) for e in edges] for c, edges in (self.buckets or {}).items()}
        derive = FunctionTransformer(_derive, kw_args=dict(
            numeric=list(self.numeric), categorical=list(self.categorical), ratios=pairs, buckets=buckets))
        derived = derive.fit_transform(X)
        ratio_sources = {f"ratio__{a}__per__{b}": [a, b] for a, b in pairs}
        # 0/1 on train (missing indicators, flags): kept as is, never scaled, categorical for SMOTENC.
        binary = [c for c in self.numeric if derived[c].isin((0.0, 1.0)).all()]
        continuous = [c for c in [*self.numeric, *ratio_sources] if c not in binary]
        # The log decision is made here, on train skew only, and frozen for every later transform.
        logged = np.array([bool(derived[c].min() >= 0 and derived[c].skew() > self.log_skew)
                           for c in continuous], dtype=bool)
        bucket_cols = [name for c, e in buckets.items() for name, _ in _bucket_levels(c, e)]
        onehot = OneHotEncoder(handle_unknown="infrequent_if_exist", sparse_output=False,
                               min_frequency=self.rare_min_share if self.rare_min_share > 0 else None)
        numeric_steps = Pipeline([("log", FunctionTransformer(_log1p_where, kw_args={"mask": logged})),
                                  ("scale", StandardScaler() if self.scale else "passthrough")])
        columns = ColumnTransformer([("continuous", numeric_steps, continuous),
                                     ("binary", "passthrough", binary + bucket_cols),
                                     ("onehot", onehot, list(self.categorical))])
        has_columns = len(derived.columns) > 0   # customers with only id + target: zero static columns
        self.pipeline_ = Pipeline([("derive", derive), ("columns", columns.fit(derived))]) if has_columns else None
        self.log_columns_ = [c for c, lg in zip(continuous, logged) if lg]
        self.manifest_ = self._manifest(continuous, logged, ratio_sources, binary, buckets, columns)
        names = [m["name"] for m in self.manifest_]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise InputError(f"static features: duplicate output column names {dupes}; rename the input columns.")
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Apply the fitted transforms unchanged; same columns, same order, index of X kept."""
        check_is_fitted(self)
        self._check_columns(X)
        names = self.get_feature_names_out()
        if self.pipeline_ is None:
            return pd.DataFrame(index=X.index)
        values = np.asarray(self.pipeline_.transform(X), dtype=np.float64)
        return pd.DataFrame(values, columns=names, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        return np.array([m["name"] for m in self.manifest_], dtype=object)

    def describe(self) -> list[dict[str, Any]]:
        """Manifest rows (copies), one per output column in output order; see the module docstring."""
        check_is_fitted(self)
        return [{**m, "inputs": list(m["inputs"])} for m in self.manifest_]

    def categorical_mask(self) -> np.ndarray:
        """True for binary/one-hot output columns (what SMOTENC must keep 0/1)."""
        check_is_fitted(self)
        return np.array([m["kind"] in CATEGORICAL_KINDS for m in self.manifest_], dtype=bool)

    def _check_columns(self, X: pd.DataFrame) -> None:
        """Every configured column must exist; ratio and bucket sources must be numeric."""
        sources = {"numeric": list(self.numeric), "categorical": list(self.categorical),
                   "features.ratios": [c for pair in self.ratios for c in pair],
                   "features.buckets": list(self.buckets or {})}
        if not 0 <= self.rare_min_share < 1:
            raise InputError(f"features.rare_min_share must be in [0, 1), got {self.rare_min_share}.")
        if bad := [p for p in self.ratios if len(p) != 2]:
            raise InputError(f"features.ratios: each entry must be [numerator, denominator], got {bad}.")
        for where, cols in sources.items():
            if missing := sorted(set(cols) - set(X.columns)):
                raise InputError(f"{where}: column(s) {missing} not found among the customer columns.")
        for where in ("numeric", "features.ratios", "features.buckets"):
            if text := sorted({c for c in sources[where] if not pd.api.types.is_numeric_dtype(X[c])}):
                raise InputError(f"{where}: column(s) {text} are not numeric.")
        for col, edges in (self.buckets or {}).items():
            if len(edges) == 0 or np.any(np.diff(np.asarray(edges, dtype=float)) <= 0):
                raise InputError(f"features.buckets.{col}: edges must be a non-empty increasing list, got {edges}.")

    def _manifest(self, continuous, logged, ratio_sources, binary, buckets, columns) -> list[dict[str, Any]]:
        """One description per output column, in output order."""
        rows = []
        for c, lg in zip(continuous, logged.tolist()):
            steps = ["ratio"] * (c in ratio_sources) + ["log1p"] * lg + ["standard_scaled"] * bool(self.scale)
            rows.append(_entry(f"log__{c}" if lg else c, "numeric", ratio_sources.get(c, [c]), "+".join(steps)))
        rows += [_entry(c, "binary", [c], "identity") for c in binary]
        rows += [_entry(name, "onehot", [c], "bucket", f"bucket__{c}", level)
                 for c, edges in buckets.items() for name, level in _bucket_levels(c, edges)]
        if self.categorical:
            encoder = columns.named_transformers_["onehot"]
            for col, cats, rare in zip(self.categorical, encoder.categories_, encoder.infrequent_categories_):
                # Same order as OneHotEncoder's output: frequent levels sorted, then the infrequent group.
                levels = [str(v) for v in cats if rare is None or v not in rare] + [INFREQUENT] * (rare is not None)
                rows += [_entry(_safe(f"{col}={lv}"), "onehot", [col], "onehot", col, lv) for lv in levels]
        return rows


def _entry(name: str, kind: str, inputs: list[str], transform: str, group: str | None = None,
           level: str | None = None) -> dict[str, Any]:
    return {"name": name, "kind": kind, "inputs": inputs, "group": group, "level": level,
            "transform": transform or "identity"}


# Every type a saved StaticFeatures may hold (part of the transform's trust list).
TRUSTED_TYPES = qualified_names(StaticFeatures, Pipeline, ColumnTransformer, FunctionTransformer, OneHotEncoder,
                                StandardScaler, _derive, _log1p_where)
