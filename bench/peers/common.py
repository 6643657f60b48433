"""What every peer script shares: its command line, reading the split, scoring, writing result.json.

Imported as `common` by bench/peers/run_<peer>.py, which runs in the peer's own venv (each has pandas and
scikit-learn), so this module uses nothing else.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

STARTED = time.perf_counter()        # import time of the peer script itself is in the bench's wall clock


@dataclass(frozen=True)
class Split:
    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series


def parse_args(doc: str, budget_help: str | None = None) -> argparse.Namespace:
    """--train/--test/--target/--out (and --budget when the peer has one)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--test", type=Path, required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--out", type=Path, required=True, help="result.json")
    ap.add_argument("--seed", type=int, default=0)
    if budget_help:
        ap.add_argument("--budget", type=float, required=True, help=budget_help)
    return ap.parse_args()


def read_split(args: argparse.Namespace, categorical: bool = True) -> Split:
    """The peers' train/test tables; with `categorical`, text columns become pandas categoricals of the train levels."""
    train, test = pd.read_csv(args.train), pd.read_csv(args.test)
    if args.target not in train.columns:
        raise SystemExit(f"{args.train}: no target column {args.target!r}; columns are {list(train.columns)}")
    X_train, X_test = train.drop(columns=[args.target]), test.drop(columns=[args.target])
    for column in categorical_columns(X_train) if categorical else ():
        levels = sorted(X_train[column].dropna().astype(str).unique())
        X_train[column] = pd.Categorical(X_train[column].astype("string"), categories=levels)
        X_test[column] = pd.Categorical(X_test[column].astype("string"), categories=levels)  # unseen -> NaN
    return Split(X_train, train[args.target].astype(int), X_test, test[args.target].astype(int))


def categorical_columns(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]


def scores(y: pd.Series, p: np.ndarray) -> dict[str, float]:
    """Test ROC-AUC, average precision and Brier score of P(target=1), via scikit-learn."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    return {"roc_auc": float(roc_auc_score(y, p)), "average_precision": float(average_precision_score(y, p)),
            "brier": float(brier_score_loss(y, p))}


def positive_column(proba: Any, classes: Any) -> np.ndarray:
    """P(class 1) from a predict_proba result (array n x 2 or DataFrame) and the model's classes."""
    frame = proba if isinstance(proba, pd.DataFrame) else pd.DataFrame(np.asarray(proba), columns=list(classes))
    frame.columns = [int(c) for c in frame.columns]
    return frame[1].to_numpy(float)


def write_result(args: argparse.Namespace, split: Split, p_test: np.ndarray, fit_seconds: float,
                 **info: Any) -> None:
    """result.json: test metrics, the seconds spent in fit, and what the tool says it tried."""
    result = {**scores(split.y_test, p_test), "fit_seconds": round(fit_seconds, 2),
              "script_seconds": round(time.perf_counter() - STARTED, 2),
              "n_train": len(split.X_train), "n_test": len(split.X_test), "n_features": split.X_train.shape[1], **info}
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
