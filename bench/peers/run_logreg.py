"""Plain scikit-learn logistic regression: the floor any AutoML tool should beat.

    bench/.venvs/logreg/bin/python bench/peers/run_logreg.py --train train.csv --test test.csv --target churn \
        --out result.json

One-hot categoricals (unknown levels ignored, missing is its own level), median-imputed and
standard-scaled numerics, LogisticRegression(max_iter=1000) at the default C. No tuning.
"""
from __future__ import annotations

import time

from common import (
    categorical_columns,
    parse_args,
    positive_column,
    read_split,
    write_result,
)
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def main() -> None:
    args = parse_args(__doc__)
    split = read_split(args, categorical=False)
    categorical = categorical_columns(split.X_train)
    numeric = [c for c in split.X_train.columns if c not in categorical]
    prep = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
                              ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)])
    model = make_pipeline(prep, LogisticRegression(max_iter=1000))
    started = time.perf_counter()
    model.fit(split.X_train, split.y_train)
    fit_seconds = time.perf_counter() - started
    p = positive_column(model.predict_proba(split.X_test), model.classes_)
    write_result(args, split, p, fit_seconds, models_tried=1, tool="scikit-learn LogisticRegression")


if __name__ == "__main__":
    main()
