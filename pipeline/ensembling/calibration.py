"""Probability calibration fitted on out-of-fold scores, applied to the model refit on all rows.

Why: SMOTE and class weights inflate the predicted probabilities (the model is trained on a class balance
that the customers do not have), and a tuned ROC-AUC says nothing about calibration, since any monotone
distortion keeps the ranking. Two remedies, as in scikit-learn's CalibratedClassifierCV(ensemble=False):
sigmoid (Platt scaling on the logit: two parameters, suits small data and smooth monotone distortions) and
isotonic (a step function: fits any monotone distortion but needs more rows, else it overfits). The
calibrator is fitted on the cross-validated (out-of-fold) scores, whose rows the models never saw, and the
method, "none" included, is chosen by the CV log loss of calibrators fitted on K-1 parts of those scores and
scored on the held-out part: never on the test split, which stays for the final evaluation.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

# Probabilities are clipped to [EPS, 1 - EPS] before a logit (logit(0) and logit(1) are infinite) and after
# isotonic regression (whose steps reach exactly 0 or 1, so a single unlucky row would make log loss infinite).
EPS = 1e-6
METHODS = ("none", "sigmoid", "isotonic")
PARAM_KEYS = {"none": set(), "sigmoid": {"a", "b"}, "isotonic": {"x", "y"}}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class Calibrator:
    method: str                                          # one of METHODS
    params: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable: floats and lists of floats

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown calibration method {self.method!r}; expected one of {METHODS}.")
        if set(self.params) != PARAM_KEYS[self.method]:
            raise ValueError(f"{self.method} calibrator needs params {sorted(PARAM_KEYS[self.method])}; "
                             f"got {sorted(self.params)}.")
        if self.method == "isotonic" and not 0 < len(self.params["x"]) == len(self.params["y"]):
            raise ValueError(f"isotonic params x and y must be non-empty and of equal length; got "
                             f"{len(self.params['x'])} and {len(self.params['y'])}.")

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of class 1 for raw probabilities `p`."""
        p = np.asarray(p, dtype=float)
        if self.method == "sigmoid":
            z = self.params["a"] * _logit(p) + self.params["b"]
            return np.exp(-np.logaddexp(0.0, -z))       # 1 / (1 + exp(-z)) without overflow warnings
        if self.method == "isotonic":                    # np.interp holds the end values: out_of_bounds="clip"
            return np.clip(np.interp(p, self.params["x"], self.params["y"]), EPS, 1 - EPS)
        return p

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        if not isinstance(d, dict) or "method" not in d:
            raise ValueError(f"expected a dict with 'method' and 'params'; got {d!r}.")
        return cls(method=d["method"], params=dict(d.get("params", {})))


def fit_calibrator(method: str, p: np.ndarray, y: np.ndarray) -> Calibrator:
    """A calibrator of `method` fitted on raw probabilities `p` and 0/1 labels `y`."""
    p, y = np.asarray(p, dtype=float), np.asarray(y)
    if method == "sigmoid":   # Platt on logit(p); C=1e6 is all but unpenalised: two parameters need no shrinkage
        lr = LogisticRegression(C=1e6, solver="lbfgs").fit(_logit(p).reshape(-1, 1), y)
        return Calibrator("sigmoid", {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])})
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1, increasing=True).fit(p, y)
        return Calibrator("isotonic", {"x": [float(v) for v in iso.X_thresholds_],
                                       "y": [float(v) for v in iso.y_thresholds_]})
    return Calibrator(method)    # "none", or an unknown name, which Calibrator rejects


def _check(p: np.ndarray, y: np.ndarray, folds: int, methods: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    p, y = np.asarray(p, dtype=float), np.asarray(y)
    if p.ndim != 1 or y.shape != p.shape:
        raise ValueError(f"p and y must be 1-D of equal length; got shapes {p.shape} and {y.shape}.")
    if not np.isfinite(p).all() or not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError("p must be finite probabilities and y 0/1 labels; got NaN/inf in p or other labels.")
    if folds < 2:
        raise ValueError(f"folds must be >= 2; got {folds}.")
    if not methods or set(methods) - set(METHODS):
        raise ValueError(f"methods must be a non-empty subset of {METHODS}; got {tuple(methods)}.")
    return p, y


def choose_calibrator(p: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0,
                      methods: Sequence[str] = METHODS) -> tuple[Calibrator, dict[str, float]]:
    """The method with the lowest CV log loss on (p, y), refit on all rows, and each method's CV log loss.

    Ties go to the earlier method in `methods`, so "none" wins a tie. With fewer than 2 positives or 2
    negatives nothing can be cross-validated, and the answer is "none".
    """
    p, y = _check(p, y, folds, methods)
    minority = int(min(y.sum(), len(y) - y.sum()))
    if minority < 2:
        return Calibrator("none"), {"none": float(log_loss(y, p, labels=[0, 1]))}
    # StratifiedKFold needs each class in every fold: fewer folds when the minority class is small
    cv = StratifiedKFold(n_splits=min(folds, minority), shuffle=True, random_state=seed)
    splits = list(cv.split(np.zeros(len(y)), y))
    losses: dict[str, float] = {}
    for method in methods:
        held_out = np.empty(len(y))       # pooled held-out predictions: one log loss over all rows
        for fit, val in splits:
            held_out[val] = fit_calibrator(method, p[fit], y[fit]).apply(p[val])
        losses[method] = float(log_loss(y, held_out, labels=[0, 1]))
    best = min(methods, key=lambda m: losses[m])    # min keeps the first of equal values
    return fit_calibrator(best, p, y), losses
