"""The metrics a run can optimise and report, defined once: name, label for people, direction, scorer.

Tuning's CV objective, evaluate's ranking by CV score, explain's drops and the report's labels all read
this table. (pipeline/evaluation/metrics.py holds the vectorised bootstrap versions for the test set.)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score  # lazy: the report reads labels only

    return float(roc_auc_score(y, p))


def _average_precision(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, p))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, p, labels=[0, 1]))


@dataclass(frozen=True)
class Objective:
    name: str
    label: str                                   # for people: "ROC-AUC"
    higher_is_better: bool
    scorer: Callable[[np.ndarray, np.ndarray], float]

    def score(self, y: Any, p: Any) -> float:
        return self.scorer(np.asarray(y), np.asarray(p))

    @property
    def direction(self) -> str:
        """Optuna's study direction."""
        return "maximize" if self.higher_is_better else "minimize"

    @property
    def sign(self) -> float:
        """+1 when higher is better: `sign * (before - after)` is positive when `after` is worse."""
        return 1.0 if self.higher_is_better else -1.0


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("roc_auc", "ROC-AUC", True, _roc_auc),
    Objective("average_precision", "average precision", True, _average_precision),
    Objective("log_loss", "log loss", False, _log_loss),
)}
LABELS: dict[str, str] = {**{o.name: o.label for o in OBJECTIVES.values()}, "brier": "Brier score"}
