"""LightGBM family: leaf-wise gradient boosting, early-stopped, pruned per boosting round; configs/lightgbm.yaml.

One fit (a CV fold's training part, or the whole train set for the final refit): the early-stopping
rows are carved from the training rows and get no SMOTE rows (pipeline/models/boosting.py); early
stopping and pruning both follow the CV objective (auc, average_precision or binary_logloss on the
carved rows). The model is fitted on the matrix's values: LightGBM refuses JSON-like characters in
feature names, which one-hot names of user categories may hold, so the column names come from
info.json (`feature_columns`). Saved as LightGBM's own text model, up to the best iteration.
"""
from __future__ import annotations

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
from pipeline.models.family import BuildContext, Family, FitData, FitHooks, check_params, stop_at_deadline

PARAMS = ("num_leaves", "max_depth", "learning_rate", "n_estimators", "min_child_samples", "subsample",
          "colsample_bytree", "reg_alpha", "reg_lambda", "min_split_gain", "scale_pos_weight")
METRIC = {"roc_auc": "auc", "average_precision": "average_precision", "log_loss": "binary_logloss"}
MODEL_FILE = "model.txt"


def build(params: dict[str, Any], ctx: BuildContext) -> Any:
    """An unfitted LGBMClassifier; scale_pos_weight may stay 'balanced' / 'sqrt' until fit sees its rows.

    deterministic + force_col_wise: the same inputs give the same trees whatever the thread count. CPU
    only: the PyPI wheel has no CUDA build, so ctx.device is not used.
    """
    from lightgbm import LGBMClassifier

    check_params("lightgbm", params, PARAMS)
    kwargs = {**params, "n_estimators": int(params.get("n_estimators", N_ESTIMATORS_MAX)),
              "scale_pos_weight": params.get("scale_pos_weight", 1.0)}
    if kwargs.get("subsample", 1.0) < 1.0:
        kwargs["subsample_freq"] = 1   # LightGBM bags rows only when a frequency is set
    return LGBMClassifier(**kwargs, random_state=ctx.seed, deterministic=True, force_col_wise=True, verbosity=-1,
                          n_jobs=ctx.threads)


def _pruning_callback(hooks: FitHooks, report_every: int) -> Any:
    """Report the early-stopping score to the trial every few rounds (LightGBM calls it after each round)."""
    def callback(env: Any) -> None:
        if (env.iteration + 1) % report_every == 0:
            _, _, value, _ = env.evaluation_result_list[0]
            hooks.report(env.iteration, float(value), f"boosting round {env.iteration + 1}")

    return callback


def _deadline_callback(hooks: FitHooks) -> Any:
    """At the time budget's end a trial is pruned; a final refit stops with the rounds it has."""
    from lightgbm.callback import EarlyStopException

    def callback(env: Any) -> None:
        if stop_at_deadline(hooks):
            raise EarlyStopException(env.iteration, env.evaluation_result_list)

    return callback


def fit(model: Any, data: FitData, hooks: FitHooks, report_every: int = REPORT_EVERY) -> Any:
    """Early stopping on rows carved from the training rows, on the CV objective; prunes with a trial."""
    import lightgbm

    X_fit, y_fit, X_es, y_es = carve_and_resample(data.X, data.y, data.sampler, data.seed)
    model.set_params(scale_pos_weight=resolve_pos_weight(model.get_params()["scale_pos_weight"], pos_ratio(y_fit)),
                     metric=METRIC[hooks.metric])
    callbacks = [lightgbm.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)]
    if hooks.trial is not None:
        callbacks.append(_pruning_callback(hooks, report_every))
    if hooks.deadline is not None:
        callbacks.append(_deadline_callback(hooks))
    model.fit(_values(X_fit), np.asarray(y_fit), eval_X=(_values(X_es),), eval_y=(np.asarray(y_es),), callbacks=callbacks)
    return model


def _values(X: Any) -> np.ndarray:
    return X.to_numpy(np.float64) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=np.float64)


def _booster(model: Any) -> Any:
    """The trees: the fitted classifier's booster, or a loaded Booster itself."""
    return getattr(model, "booster_", model)


def predict(model: Any, X: pd.DataFrame) -> np.ndarray:
    # A fitted classifier predicts with its best iteration; a loaded model holds just those trees.
    rounds = getattr(model, "best_iteration_", None) or None
    return np.asarray(_booster(model).predict(_values(X), num_iteration=rounds), dtype=float)


def save(model: Any, directory: Path) -> None:
    _booster(model).save_model(directory / MODEL_FILE)   # up to the best iteration when early stopping ran


def load(directory: Path, device: str) -> Any:
    from lightgbm import Booster

    path = directory / MODEL_FILE
    if not path.is_file():
        raise InputError(f"{path}: model file not found; rerun the tune stage.")
    return Booster(model_file=str(path))


def contributions(model: Any, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Exact TreeSHAP from LightGBM itself, in log-odds space, over the trees predict uses."""
    rounds = getattr(model, "best_iteration_", None) or None
    out = _booster(model).predict(_values(X), num_iteration=rounds, pred_contrib=True)
    return out[:, :-1].astype(np.float64), out[:, -1].astype(np.float64)


FAMILY = Family(name="lightgbm", label="LightGBM", inputs="tabular", params=PARAMS, build=build, fit=fit,
                predict=predict, save=save, load=load, feature_names=lambda model: None, reports_steps=True,
                # like XGBoost: a slow learning rate looks worse early, so 200 rounds before the median pruner acts
                warmup_steps=200, explain="permutation", contributions=contributions, contribution_units="log-odds",
                balanced={"scale_pos_weight": "balanced"},
                # Small leaves, a slow rate and bagging: near the best on tabular data of this size (FLAML's and
                # AutoGluon's first LightGBM configurations are alike); early stopping picks the rounds.
                start_order=1, start_points=({"num_leaves": 15, "max_depth": -1, "learning_rate": 0.05, "min_child_samples": 20,
                               "subsample": 0.8, "colsample_bytree": 0.8, "reg_alpha": 1.0e-8, "reg_lambda": 1.0,
                               "imbalance": "none"},))
