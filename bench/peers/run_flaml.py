"""FLAML's AutoML with a time budget, its defaults otherwise.

    bench/.venvs/flaml/bin/python bench/peers/run_flaml.py --train train.csv --test test.csv --target churn \
        --out result.json --budget 60

AutoML().fit(X_train, y_train, task="classification", metric="roc_auc", time_budget=S, seed=0, verbose=0),
then predict_proba on the test rows. Text columns are pandas categoricals (FLAML's own handling).
"""
from __future__ import annotations

import time

from common import parse_args, positive_column, read_split, write_result
from flaml import AutoML


def main() -> None:
    args = parse_args(__doc__, budget_help="FLAML time_budget, seconds")
    split = read_split(args)
    automl = AutoML()
    started = time.perf_counter()
    automl.fit(split.X_train, split.y_train, task="classification", metric="roc_auc", time_budget=args.budget,
               seed=args.seed, verbose=0)
    fit_seconds = time.perf_counter() - started
    p = positive_column(automl.predict_proba(split.X_test), automl.classes_)
    # config_history holds only the improvements; the per-learner iteration counts are every trial
    per_learner = dict(getattr(automl, "_iter_per_learner", {}))
    write_result(args, split, p, fit_seconds, models_tried=sum(per_learner.values()) or len(automl.config_history),
                 trials_per_learner=per_learner, best_model=automl.best_estimator, best_config=automl.best_config,
                 best_cv_roc_auc=1 - automl.best_loss, budget_s=args.budget)


if __name__ == "__main__":
    main()
