"""Imputation of the static features, fitted on train rows only (leakage rule 2) and applied unchanged.

`impute_split` fits on the train split and fills both splits; `apply_imputer` is what the saved
transform runs on test and new customers. Missing-value flags (`<col>__missing`) are added for
columns with missing train values, because missingness is often signal.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (makes IterativeImputer importable)
from sklearn.impute import IterativeImputer, KNNImputer, MissingIndicator, SimpleImputer
from sklearn.linear_model import BayesianRidge  # IterativeImputer's default estimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from pipeline.core.errors import InputError
from pipeline.core.params import ImputeParams
from pipeline.core.persist import qualified_names
from pipeline.core.schema import ID, TARGET

log = logging.getLogger(__name__)

NUMERIC_STRATEGIES = ("median", "mean", "constant", "knn", "iterative")
CATEGORICAL_STRATEGIES = ("most_frequent", "missing")
MISSING_LEVEL = "missing"
SUFFIX = "__missing"


@dataclass(frozen=True)
class Imputed:
    train: pd.DataFrame
    test: pd.DataFrame
    fitted: Pipeline
    columns: dict[str, list[str]]
    report: dict[str, Any]


def _text_nan(X: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """sklearn's imputers see np.nan, not None, as missing in text columns; the "str" dtype maps None -> NaN."""
    return X.assign(**{c: X[c].astype("str") for c in columns})


def _flags(X: Any) -> Any:
    return X.astype("float64")  # 0/1 floats: later stages treat indicators as plain numbers


def _flag_names(_: Any, names: Any) -> list[str]:
    return [str(n).removeprefix("missingindicator_") + SUFFIX for n in names]


def _numeric_imputer(p: ImputeParams, seed: int) -> Any:
    if p.numeric == "knn":  # distances on raw scales: wide columns (income) dominate the neighbour choice
        return KNNImputer(n_neighbors=p.knn_neighbors)
    if p.numeric == "iterative":
        return IterativeImputer(random_state=seed)
    return SimpleImputer(strategy=p.numeric, fill_value=p.fill_value)


# Every type a saved imputer may hold (pipeline.core.persist loads nothing else).
TRUSTED_TYPES = (*qualified_names(Pipeline, ColumnTransformer, SimpleImputer, KNNImputer, IterativeImputer,
                                  MissingIndicator, FunctionTransformer, BayesianRidge, _text_nan, _flags, _flag_names),
                 "sklearn.impute._iterative._ImputerTriplet", "numpy.dtype", "numpy.random.mtrand.RandomState")


def fit_imputer(train: pd.DataFrame, numeric: list[str], categorical: list[str], p: ImputeParams,
                *, seed: int) -> Pipeline:
    """Fit on train rows only; `seed` feeds IterativeImputer. Indicators only for columns missing in train."""
    if p.numeric not in NUMERIC_STRATEGIES or p.categorical not in CATEGORICAL_STRATEGIES or p.knn_neighbors < 1:
        raise InputError(f"params: impute.numeric must be one of {list(NUMERIC_STRATEGIES)}, impute.categorical one of "
                         f"{list(CATEGORICAL_STRATEGIES)}, knn_neighbors >= 1; got {p.numeric!r}, {p.categorical!r}, "
                         f"{p.knn_neighbors}.")
    features = [*numeric, *categorical]
    if absent := [c for c in features if c not in train.columns]:
        raise InputError(f"train table lacks feature columns {absent}.")
    if empty := [c for c in features if train[c].isna().all()]:
        raise InputError(f"columns {empty} are entirely missing in train: nothing to impute them from; drop them.")
    cat = SimpleImputer(strategy="most_frequent") if p.categorical == "most_frequent" else \
        SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL)
    # Flags only for columns missing in train; new missingness in test/new rows is imputed, never an error.
    flags = Pipeline([("flag", MissingIndicator(features="missing-only", error_on_new=False)),
                      ("name", FunctionTransformer(_flags, feature_names_out=_flag_names))])
    columns = ColumnTransformer(
        [("num", _numeric_imputer(p, seed), numeric), ("cat", cat, categorical),
         ("ind", flags if p.add_indicator else "drop", features)],
        remainder="drop", verbose_feature_names_out=False)
    text = FunctionTransformer(_text_nan, kw_args={"columns": categorical}, feature_names_out="one-to-one")
    return Pipeline([("text_nan", text), ("impute", columns)]).set_output(transform="pandas").fit(train[features])


def apply_imputer(fitted: Pipeline, frame: pd.DataFrame) -> pd.DataFrame:
    """Impute `frame` with the train-fitted imputer; id/target pass through, row order and index kept."""
    features = list(getattr(fitted, "feature_names_in_", []))  # unset when fitted on no feature columns
    if absent := [c for c in features if c not in frame.columns]:
        raise InputError(f"rows to impute lack feature columns {absent}.")
    keep = [c for c in (ID, TARGET) if c in frame.columns]
    parts = [frame[keep], fitted.transform(frame[features])]
    # Joined by position, not label, so a duplicated index (e.g. concatenated files) cannot misalign rows.
    return pd.concat([part.reset_index(drop=True) for part in parts], axis=1).set_axis(frame.index)


def fill_summary(fitted: Pipeline, train: pd.DataFrame, test: pd.DataFrame, numeric: list[str],
                 categorical: list[str], p: ImputeParams) -> dict[str, dict[str, Any]]:
    """Per feature column: kind, strategy, fill value (None when it varies by row), values filled per split."""
    ct = fitted.named_steps["impute"]
    num, cat = ct.named_transformers_["num"], ct.named_transformers_["cat"]
    out = {}
    for kind, cols, imp, strategy in (("numeric", numeric, num, p.numeric),
                                      ("categorical", categorical, cat, p.categorical)):
        stats = getattr(imp, "statistics_", [None] * len(cols))  # knn/iterative: the fill varies by row
        for col, value in zip(cols, stats):
            out[col] = {"kind": kind, "strategy": strategy, "fill_value": value,
                        "filled_train": int(train[col].isna().sum()), "filled_test": int(test[col].isna().sum())}
    return out


def impute_split(train: pd.DataFrame, test: pd.DataFrame, numeric: list[str], categorical: list[str],
        p: ImputeParams, *, seed: int) -> Imputed:
    """Drop columns with no train values (counted), fit on train, apply unchanged to both splits."""
    empty = [c for c in [*numeric, *categorical] if c in train.columns and train[c].isna().all()]
    if empty:
        log.warning("impute: dropping %d column(s) entirely missing in train: %s", len(empty), empty)
    numeric = [c for c in numeric if c not in empty]
    categorical = [c for c in categorical if c not in empty]
    fitted = fit_imputer(train, numeric, categorical, p, seed=seed)
    out_train, out_test = apply_imputer(fitted, train), apply_imputer(fitted, test)
    indicators = [c for c in out_train.columns if c.endswith(SUFFIX) and c not in (*numeric, *categorical)]
    columns = {"numeric": numeric, "categorical": categorical, "indicators": indicators}
    filled = fill_summary(fitted, train, test, numeric, categorical, p)
    report = {"rows": {"train": len(train), "test": len(test)}, "numeric_strategy": p.numeric,
              "categorical_strategy": p.categorical, "indicators": indicators,
              "dropped_all_missing": empty, "columns": filled}
    return Imputed(out_train, out_test, fitted, columns, report)
