"""Does the CoLES embedding earn its columns? A quick cross-validation on the training customers decides.

The self-supervised embedding learns who a customer is, which predicts the outcome on some logs and is only
extra columns on others: on a purchase-only log (one event type) its 16 columns cost every family 0.002-0.004
test ROC-AUC for the same tuning budget (bench/README.md). So the features stage compares one fixed gradient
boosting model with and without the embedding columns on the same stratified folds of the TRAINING matrix
(at most MAX_ROWS sampled customers), and keeps the columns only when the mean ROC-AUC gain reaches
`min_gain` and every fold gains. The encoder itself is kept either way: the sequence model may start from it. Under MIN_ROWS
training customers (or without a target) the check cannot tell, and the columns are kept.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

log = logging.getLogger(__name__)

MAX_ROWS = 20_000   # sampled training customers: bounds the check at scale
MIN_ROWS = 2_000    # below this the folds' noise (about 0.01 ROC-AUC) swamps any min_gain: the columns are kept
FOLDS = 3


@dataclass(frozen=True)
class EmbeddingCheck:
    kept: bool
    with_embedding: float | None      # mean CV ROC-AUC with the embedding columns (None: not checked)
    without_embedding: float | None   # ... without them
    gain: float | None
    min_gain: float
    rows: int

    def describe(self) -> dict:
        return asdict(self)


def fold_scores(X: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], seed: int) -> np.ndarray:
    scores = []
    for fit_rows, score_rows in folds:
        model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, max_leaf_nodes=15, early_stopping=False,
                                               random_state=seed)
        model.fit(X[fit_rows], y[fit_rows])
        scores.append(roc_auc_score(y[score_rows], model.predict_proba(X[score_rows])[:, 1]))
    return np.asarray(scores)


def check_embedding(matrix: pd.DataFrame, target: pd.Series, embedding_columns: list[str], min_gain: float,
                    seed: int) -> EmbeddingCheck:
    """CV ROC-AUC with and without the embedding columns on the same folds of the training matrix."""
    y = target.to_numpy().astype(int)
    if len(y) < MIN_ROWS:
        log.info("embedding check: %d training customers, under %d: the embedding columns are kept", len(y), MIN_ROWS)
        return EmbeddingCheck(True, None, None, None, min_gain, len(y))
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(y), size=min(len(y), MAX_ROWS), replace=False))
    X_all, y = matrix.to_numpy(dtype=np.float64)[rows], y[rows]
    keep = np.array([c not in set(embedding_columns) for c in matrix.columns])
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(X_all, y))
    with_, without = fold_scores(X_all, y, folds, seed), fold_scores(X_all[:, keep], y, folds, seed)
    gains = with_ - without
    gain = float(gains.mean())
    # Noise columns can gain 0.001 on average by luck; gaining on every fold as well rarely is luck.
    check = EmbeddingCheck(bool(gain >= min_gain and (gains > 0).all()), float(with_.mean()), float(without.mean()),
                           gain, min_gain, len(y))
    log.info("embedding check: CV ROC-AUC %.4f with the embedding, %.4f without (gain %+.4f, needed %+.4f): %s",
             check.with_embedding, check.without_embedding, gain, min_gain,
             "columns kept" if check.kept else "columns left out of the matrix (the encoder is kept)")
    return check
