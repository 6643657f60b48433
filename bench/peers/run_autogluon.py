"""AutoGluon's TabularPredictor, medium_quality preset, with a time limit.

    bench/.venvs/autogluon/bin/python bench/peers/run_autogluon.py --train train.csv --test test.csv --target churn \
        --out result.json --budget 60

TabularPredictor(label=target, eval_metric="roc_auc", path=<out's folder>/autogluon, verbosity=0)
.fit(train, presets="medium_quality", time_limit=S), then predict_proba on the test rows. The tables go
in as read from CSV: AutoGluon infers its own feature types.
"""
from __future__ import annotations

import time

import pandas as pd
from autogluon.tabular import TabularPredictor
from common import parse_args, positive_column, read_split, write_result


def main() -> None:
    args = parse_args(__doc__, budget_help="AutoGluon time_limit, seconds")
    split = read_split(args, categorical=False)
    train = pd.concat([split.X_train, split.y_train.rename(args.target)], axis=1)
    predictor = TabularPredictor(label=args.target, eval_metric="roc_auc", path=str(args.out.parent / "autogluon"),
                                 verbosity=0)
    started = time.perf_counter()
    predictor.fit(train, presets="medium_quality", time_limit=args.budget)
    fit_seconds = time.perf_counter() - started
    p = positive_column(predictor.predict_proba(split.X_test), predictor.class_labels)
    board = predictor.leaderboard(silent=True)
    write_result(args, split, p, fit_seconds, models_tried=len(board), best_model=predictor.model_best,
                 models=board["model"].tolist(), budget_s=args.budget)


if __name__ == "__main__":
    main()
