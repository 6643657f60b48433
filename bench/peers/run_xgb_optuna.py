"""XGBoost tuned by Optuna: the classic hand-rolled tuner a data scientist would write.

    bench/.venvs/xgb_optuna/bin/python bench/peers/run_xgb_optuna.py --train train.csv --test test.csv \
        --target churn --out result.json --budget 50

--budget TPE trials (TPESampler(seed)), each scored by 5-fold stratified CV ROC-AUC on the train rows;
the best parameters are then refit on all train rows. Categoricals are one-hot encoded (train levels;
missing and unseen levels are all-zero rows), numerics go in as they are (XGBoost handles NaN).
"""
from __future__ import annotations

import time

import numpy as np
import optuna
import pandas as pd
from common import (
    categorical_columns,
    parse_args,
    positive_column,
    read_split,
    write_result,
)
from sklearn.model_selection import StratifiedKFold, cross_val_score
from xgboost import XGBClassifier

FOLDS = 5


def one_hot(X: pd.DataFrame) -> pd.DataFrame:
    """Dummies of the (train-levelled) categoricals, so train and test get the same columns."""
    return pd.get_dummies(X, columns=categorical_columns(X), dtype=float)


def space(trial: optuna.Trial) -> dict:
    return {"max_depth": trial.suggest_int("max_depth", 2, 10),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "n_estimators": trial.suggest_int("n_estimators", 50, 1000, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20.0, log=True),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
            "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True)}


def model(params: dict, seed: int) -> XGBClassifier:
    return XGBClassifier(**params, tree_method="hist", eval_metric="auc", random_state=seed)


def main() -> None:
    args = parse_args(__doc__, budget_help="Optuna trials")
    split = read_split(args)
    X_train, X_test = one_hot(split.X_train), one_hot(split.X_test)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=args.seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=args.seed))
    started = time.perf_counter()
    study.optimize(lambda t: float(np.mean(cross_val_score(model(space(t), args.seed), X_train, split.y_train,
                                                           cv=folds, scoring="roc_auc"))), n_trials=int(args.budget))
    final = model(study.best_params, args.seed).fit(X_train, split.y_train)
    fit_seconds = time.perf_counter() - started
    p = positive_column(final.predict_proba(X_test), final.classes_)
    write_result(args, split, p, fit_seconds, models_tried=len(study.trials), best_cv_roc_auc=study.best_value,
                 best_params=study.best_params, trials=int(args.budget))


if __name__ == "__main__":
    main()
