"""Stage impute: fill missing static features with imputers fitted on train rows only (leakage rule 2).

Reads   <prepared>/train.parquet, test.parquet, meta.json ("numeric", "categorical" lists)
Writes  <out>/train.parquet, test.parquet, columns.json {"numeric", "categorical", "indicators"}
        --model   the fitted sklearn Pipeline (joblib: a pickle, so load it from trusted sources only)
        --report  per column: values filled in train and test, strategy and fill value
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (makes IterativeImputer importable)
from sklearn.impute import IterativeImputer, KNNImputer, MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.core.io import atomic_dir, atomic_path, read_json, read_table, write_json
from pipeline.core.params import ImputeParams, add_params_arg, load_params
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


def run(train: pd.DataFrame, test: pd.DataFrame, numeric: list[str], categorical: list[str],
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


def read_prepared(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise InputError(f"{meta_path}: not found; run the prepare stage first.")
    meta = read_json(meta_path)
    if absent := [k for k in ("numeric", "categorical") if not isinstance(meta.get(k), list)]:
        raise InputError(f"{meta_path}: lacks the column lists {absent}.")
    train, test = (read_table(folder / f"{s}.parquet", f"prepared {s}", (ID,)) for s in ("train", "test"))
    return train, test, meta


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_params_arg(parser)
    for flag in ("--prepared", "--out", "--model", "--report"):
        parser.add_argument(flag, type=Path, required=True)
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    params = load_params(args.params)
    train, test, meta = read_prepared(args.prepared)
    result = run(train, test, meta["numeric"], meta["categorical"], params.impute, seed=params.seed)
    with atomic_dir(args.out) as tmp:  # everything is computed before the first write
        result.train.to_parquet(tmp / "train.parquet", index=False)
        result.test.to_parquet(tmp / "test.parquet", index=False)
        write_json(result.columns, tmp / "columns.json")
    with atomic_path(args.model) as tmp:
        joblib.dump(result.fitted, tmp)
    write_json(result.report, args.report)
    n_imputed = sum(1 for c in result.report["columns"].values() if c["filled_train"] + c["filled_test"])
    log.info("impute: %d train rows, %d columns imputed, %d indicators",
             len(result.train), n_imputed, len(result.columns["indicators"]))


if __name__ == "__main__":
    # Run the importable module's main, so the pickled imputer refers to pipeline.impute._text_nan
    # (not __main__._text_nan, which no other process can load).
    from pipeline.impute import main as module_main

    module_main()
