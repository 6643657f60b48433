"""XGBoost family: early-stopped boosting (hist) with Optuna pruning per boosting round; configs/xgb.yaml.

One fit (a CV fold's training part, or the whole train set for the final refit): the early-stopping
rows are carved from the training rows and get no SMOTE rows (pipeline/models/boosting.py), then
    model = build(params, ctx); fit(model, FitData(X, y, sampler, seed), hooks)
reports the early-stopping score every REPORT_EVERY rounds and stops when the pruner says so.
Saved as XGBoost's own binary JSON (model.ubj; no code runs on load). GPU when ctx.device is cuda.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.models.boosting import (
    EARLY_STOPPING_ROUNDS,
    N_ESTIMATORS_MAX,
    REPORT_EVERY,
    carve_and_resample,
    pos_ratio,
    resolve_pos_weight,
)
from pipeline.models.family import (
    BuildContext,
    Family,
    FitData,
    FitHooks,
    check_params,
    predict_positive,
    stop_at_deadline,
)

log = logging.getLogger(__name__)

PARAMS = ("max_depth", "learning_rate", "n_estimators", "subsample", "colsample_bytree", "min_child_weight",
          "gamma", "reg_alpha", "reg_lambda", "scale_pos_weight")
EVAL_METRIC = {"roc_auc": "auc", "average_precision": "aucpr"}
EVAL_SET_NAME = "validation_0"  # the name XGBClassifier.fit gives the first eval_set entry
MODEL_FILE = "model.ubj"


def build(params: dict[str, Any], ctx: BuildContext) -> Any:
    """An unfitted XGBClassifier; scale_pos_weight may stay 'balanced' / 'sqrt' until fit sees its rows."""
    from xgboost import XGBClassifier

    check_params("xgb", params, PARAMS)
    kwargs = {**params, "n_estimators": int(params.get("n_estimators", N_ESTIMATORS_MAX)),
              "scale_pos_weight": params.get("scale_pos_weight", 1.0)}
    # hist is deterministic on CPU for a fixed seed (row/column subsampling is seeded); "cuda"
    # runs the same algorithm on the GPU, where float summation order may differ slightly.
    return XGBClassifier(**kwargs, tree_method="hist", device=ctx.device, random_state=ctx.seed,
                         n_jobs=None if ctx.threads < 1 else ctx.threads,
                         early_stopping_rounds=EARLY_STOPPING_ROUNDS, eval_metric="auc")


def _pruning_callback(hooks: FitHooks, metric_name: str | None, report_every: int) -> Any:
    """An XGBoost TrainingCallback that reports the early-stopping score to the trial every few rounds
    (metric_name None: no reports) and stops at the time budget."""
    from xgboost.callback import TrainingCallback

    class PruningCallback(TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, list[float]]]) -> bool:
            if (epoch + 1) % report_every == 0 and metric_name is not None:
                hooks.report(epoch, float(evals_log[EVAL_SET_NAME][metric_name][-1]),
                             f"boosting round {epoch + 1}")
            # At the time budget's end a trial is pruned and a final refit stops, keeping its rounds so far;
            # otherwise early stopping decides.
            return stop_at_deadline(hooks)

    return PruningCallback()


def fit(model: Any, data: FitData, hooks: FitHooks, report_every: int = REPORT_EVERY) -> Any:
    """Early stopping on rows carved from the training rows; prunes when the trial's metric has an XGBoost twin."""
    X_fit, y_fit, X_es, y_es = carve_and_resample(data.X, data.y, data.sampler, data.seed)
    # Early stopping follows the CV objective in trials and in the final refit alike (log loss has no
    # XGBoost twin here: AUC then); pruning needs a trial.
    metric = hooks.metric if hooks.metric in EVAL_METRIC else "roc_auc"
    prune = hooks.trial is not None and hooks.metric in EVAL_METRIC
    callbacks = ([_pruning_callback(hooks, EVAL_METRIC[metric] if prune else None, report_every)]
                 if prune or hooks.deadline is not None else None)
    model.set_params(scale_pos_weight=resolve_pos_weight(model.get_params()["scale_pos_weight"], pos_ratio(y_fit)),
                     eval_metric=EVAL_METRIC[metric], callbacks=callbacks)
    try:
        model.fit(X_fit, y_fit, eval_set=[(X_es, y_es)], verbose=False)
    finally:
        model.set_params(callbacks=None)   # don't keep the trial (and its storage) inside the model
    log.debug("xgb: best iteration %s of %d", getattr(model, "best_iteration", None), model.get_params()["n_estimators"])
    return model


def save(model: Any, directory: Path) -> None:
    from xgboost import XGBClassifier

    if not isinstance(model, XGBClassifier):
        raise TypeError(f"xgb: expected an XGBClassifier, got {type(model).__name__}.")
    model.save_model(directory / MODEL_FILE)   # sklearn API: keeps best_iteration and feature names


def load(directory: Path, device: str) -> Any:
    from xgboost import XGBClassifier

    path = directory / MODEL_FILE
    if not path.is_file():
        raise InputError(f"{path}: model file not found; rerun the tune stage.")
    model = XGBClassifier()
    model.load_model(path)
    return model.set_params(device=device)   # a model tuned on a GPU still scores on a CPU-only box


def contributions(model: Any, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Exact TreeSHAP from XGBoost itself, in log-odds (margin) space, over the trees predict uses."""
    from xgboost import DMatrix

    rounds = getattr(model, "best_iteration", None)
    limit = (0, rounds + 1) if rounds is not None else (0, 0)   # early stopping keeps the rounds up to best
    out = model.get_booster().predict(DMatrix(X), pred_contribs=True, iteration_range=limit)
    return out[:, :-1].astype(np.float64), out[:, -1].astype(np.float64)


FAMILY = Family(name="xgb", label="XGBoost", inputs="tabular", params=PARAMS, build=build, fit=fit,
                predict=predict_positive, save=save, load=load, reports_steps=True,
                # a slow learning rate always looks worse early: 200 rounds before the median pruner may stop it
                warmup_steps=200, explain="permutation", contributions=contributions, contribution_units="log-odds",
                balanced={"scale_pos_weight": "balanced"},
                # Shallow trees and a slow rate (a depth-2/3 XGBoost without resampling beat the tuned one on a
                # real churn table); early stopping picks the rounds.
                start_order=2, start_points=({"max_depth": 3, "learning_rate": 0.05, "subsample": 0.8, "colsample_bytree": 0.8,
                               "min_child_weight": 2.0, "gamma": 1.0e-5, "reg_alpha": 1.0e-5, "reg_lambda": 1.0,
                               "imbalance": "none"},))
