"""Random forest family: trees, depth, leaf size, max features, class weight; search space in configs/forest.yaml."""
from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import optuna
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.ensemble import RandomForestClassifier

from pipeline.models.space import suggest

log = logging.getLogger(__name__)

PARAMS = ("n_estimators", "max_depth", "min_samples_leaf", "max_features", "class_weight")
MIN_CHUNK_ROWS = 2000   # below this, splitting rows over threads costs more than it saves


class DeterministicRandomForest(RandomForestClassifier):
    """A RandomForestClassifier whose probabilities are bit-identical from run to run.

    scikit-learn adds the trees' votes in whatever order its threads finish, and float addition
    is not associative, so n_jobs=-1 gives last-bit differences between identical runs. Here each
    row's votes are summed in tree order, and the parallelism goes over row chunks instead.
    Fitting is unchanged (and deterministic: random_state fixes bootstraps and feature draws).
    """

    def predict_proba(self, X: Any) -> np.ndarray:
        serial = copy.copy(self)   # shallow: shares the fitted trees; n_jobs=1 sums in tree order
        serial.n_jobs = 1
        n_rows = X.shape[0]
        n_chunks = max(1, min(effective_n_jobs(self.n_jobs), n_rows // MIN_CHUNK_ROWS))
        if n_chunks == 1:
            return RandomForestClassifier.predict_proba(serial, X)
        chunks = np.array_split(np.arange(n_rows), n_chunks)
        rows = (X.iloc[idx] if hasattr(X, "iloc") else X[idx] for idx in chunks)
        # threads: tree prediction releases the GIL, and the fitted trees are not copied
        parts = Parallel(n_jobs=n_chunks, prefer="threads")(
            delayed(RandomForestClassifier.predict_proba)(serial, part) for part in rows)
        return np.vstack(parts)


def search_space(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Draw one parameter set; the forest has no conditional parameters."""
    return suggest(trial, space)


def build(params: dict[str, Any], seed: int, device: str = "cpu") -> DeterministicRandomForest:
    """An unfitted forest; `device` is accepted for a uniform interface and ignored (CPU only)."""
    if unknown := sorted(set(params) - set(PARAMS)):
        raise ValueError(f"forest got unknown parameter(s) {unknown}; expected a subset of {list(PARAMS)}.")
    return DeterministicRandomForest(**params, random_state=seed, n_jobs=-1)
