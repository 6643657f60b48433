"""Greedy ensemble selection with replacement (Caruana et al. 2004, as AutoGluon's WeightedEnsemble).

The members are the tuned families; their out-of-fold (OOF) probabilities come from models that never saw
those rows, so a blend of them can be scored on the same rows without leakage. The blend weights, however,
are fitted parameters too: choosing them on the rows they are scored on would overstate the ensemble's CV
score (with many members the greedy search fits noise). `cross_fitted` therefore chooses the weights of
fold k on the other folds' rows only and scores them on fold k, which gives the ensemble an honest CV score
comparable with the single families'.

`score(y, p)` follows the scikit-learn and pipeline.evaluation.definitions convention: labels first.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Score = Callable[[np.ndarray, np.ndarray], float]
Folds = list[tuple[np.ndarray, np.ndarray]]


def _check(oof: np.ndarray, y: np.ndarray, rounds: int) -> tuple[np.ndarray, np.ndarray]:
    oof, y = np.asarray(oof, dtype=float), np.asarray(y)
    if oof.ndim != 2 or oof.shape[1] < 1:
        raise ValueError(f"oof must be 2-D (n_rows, n_members) with at least one member; got shape {oof.shape}.")
    if y.shape != (oof.shape[0],):
        raise ValueError(f"y must be 1-D with one label per oof row ({oof.shape[0]}); got shape {y.shape}.")
    if not np.isfinite(oof).all():
        bad = np.flatnonzero(~np.isfinite(oof).all(axis=0)).tolist()
        raise ValueError(f"oof holds NaN or infinite values in member column(s) {bad}; expected probabilities.")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1; got {rounds}.")
    return oof, y


def greedy_weights(oof: np.ndarray, y: np.ndarray, score: Score, higher_is_better: bool = True,
                   rounds: int = 25) -> np.ndarray:
    """Member weights (n_members,), multiples of 1/rounds summing to 1, by greedy selection with replacement.

    Round 1 picks the best single member; each later round adds the member whose addition gives the best
    score of the running average. Exact ties go to the lowest member index, so the result is deterministic.
    All `rounds` rounds always run: with replacement the weights converge, and no patience rule is needed.
    """
    oof, y = _check(oof, y, rounds)
    sign = 1.0 if higher_is_better else -1.0
    counts = np.zeros(oof.shape[1], dtype=int)
    total = np.zeros(oof.shape[0])                   # running sum of the chosen members' columns
    for size in range(1, rounds + 1):
        gains = [sign * score(y, (total + oof[:, j]) / size) for j in range(oof.shape[1])]
        best = int(np.argmax(gains))                 # argmax returns the first maximum: lowest index wins
        counts[best] += 1
        total += oof[:, best]
    return counts / counts.sum()


def blend(p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The ensemble's probabilities: (n_rows, n_members) @ (n_members,)."""
    return np.asarray(p, dtype=float) @ np.asarray(weights, dtype=float)


@dataclass(frozen=True)
class CrossFit:
    fold_scores: list[float]              # the blend's score on each fold, weights chosen without that fold
    mean: float                           # unweighted mean of fold_scores, like cross_val_score(...).mean()
    oof: np.ndarray                       # (n_rows,) the ensemble's own out-of-fold probabilities
    fold_weights: list[np.ndarray]        # the weights chosen for fold k, on the other folds' rows


def _check_folds(folds: Folds, n_rows: int) -> None:
    scored = np.concatenate([np.asarray(val, dtype=int) for _, val in folds]) if folds else np.array([], int)
    if len(scored) != n_rows or not np.array_equal(np.sort(scored), np.arange(n_rows)):
        raise ValueError(f"the folds' scored rows must cover each of the {n_rows} oof rows exactly once; "
                         f"got {len(scored)} rows, {len(np.unique(scored))} distinct.")
    for k, (fit, val) in enumerate(folds):
        if leaked := np.intersect1d(fit, val).size:   # the weights would see rows they are scored on
            raise ValueError(f"fold {k}: {leaked} row(s) are both fit and scored rows; expected disjoint sets.")


def cross_fitted(oof: np.ndarray, y: np.ndarray, folds: Folds, score: Score, higher_is_better: bool = True,
                 rounds: int = 25, choose: Callable[..., np.ndarray] = greedy_weights) -> CrossFit:
    """The ensemble's honest CV score: fold k's rows are blended with weights chosen on the other folds.

    `folds` are the (fit_rows, val_rows) pairs the members' OOF predictions were made with; `choose` is
    called as choose(oof[fit_rows], y[fit_rows], score, higher_is_better, rounds).
    """
    oof, y = _check(oof, y, rounds)
    _check_folds(folds, len(y))
    ensemble = np.empty(len(y))
    scores: list[float] = []
    weights: list[np.ndarray] = []
    for fit, val in folds:
        w = np.asarray(choose(oof[fit], y[fit], score, higher_is_better, rounds), dtype=float)
        ensemble[val] = blend(oof[val], w)
        scores.append(float(score(y[val], ensemble[val])))
        weights.append(w)
    return CrossFit(fold_scores=scores, mean=float(np.mean(scores)), oof=ensemble, fold_weights=weights)
