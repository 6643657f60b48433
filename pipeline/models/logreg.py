"""Logistic regression family: penalty (l1 / l2 / elasticnet), C, class weight; search space in configs/logreg.yaml.

`build` returns the plain classifier, no scaler: the features stage already one-hot encodes and
standardises (fitted on train only), and a second scaler would only hide a broken features stage.
The saga solver is used because it is the one solver that fits all three penalties.

scikit-learn >= 1.8 deprecates `penalty` (removed in 1.10): the penalty is expressed through
`l1_ratio` alone (0 = l2, 1 = l1, in between = elasticnet). We still tune a readable `penalty`
choice and translate it here, so `build` never passes the deprecated argument.
"""
from __future__ import annotations

import logging
from typing import Any

import optuna
from sklearn.linear_model import LogisticRegression

from pipeline.models.space import suggest, suggest_param

log = logging.getLogger(__name__)

PARAMS = ("penalty", "C", "l1_ratio", "class_weight", "max_iter")
PENALTY_L1_RATIO = {"l2": 0.0, "l1": 1.0}   # elasticnet takes its tuned l1_ratio
DEFAULT_L1_RATIO = 0.5                      # elasticnet with no l1_ratio in the space
SAGA_TOL = 1e-3                             # saga's default 1e-4 costs minutes on 20k rows for no AUC gain
MAX_ITER = 1000                             # saga on standardised features converges in tens to hundreds of epochs
CONDITIONAL = ("l1_ratio",)


def search_space(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Draw one parameter set; l1_ratio is drawn only for elasticnet (conditional parameter)."""
    params = suggest(trial, space, skip=CONDITIONAL)
    if params.get("penalty") == "elasticnet" and "l1_ratio" in space:
        params["l1_ratio"] = suggest_param(trial, "l1_ratio", space["l1_ratio"])
    return params


def l1_ratio_for(params: dict[str, Any]) -> float:
    """Translate penalty (+ l1_ratio) into the single l1_ratio that sklearn >= 1.8 understands."""
    penalty = params.get("penalty", "l2")
    if penalty == "elasticnet":
        return float(params.get("l1_ratio", DEFAULT_L1_RATIO))
    if penalty not in PENALTY_L1_RATIO:
        raise ValueError(f"logreg penalty must be one of ['l1', 'l2', 'elasticnet'], got {penalty!r}.")
    return PENALTY_L1_RATIO[penalty]


def build(params: dict[str, Any], seed: int, device: str = "cpu") -> LogisticRegression:
    """An unfitted LogisticRegression (saga); `device` is accepted for a uniform interface and ignored."""
    if unknown := sorted(set(params) - set(PARAMS)):
        raise ValueError(f"logreg got unknown parameter(s) {unknown}; expected a subset of {list(PARAMS)}.")
    l1_ratio = l1_ratio_for(params)
    return LogisticRegression(
        # lbfgs is an order of magnitude faster for pure l2; only l1/elasticnet need saga.
        solver="lbfgs" if l1_ratio == 0 else "saga",
        tol=1e-4 if l1_ratio == 0 else SAGA_TOL,
        C=float(params.get("C", 1.0)),
        l1_ratio=l1_ratio,
        class_weight=params.get("class_weight"),
        max_iter=int(params.get("max_iter", MAX_ITER)),
        random_state=seed,  # saga shuffles samples each epoch: the seed makes it repeatable
    )
