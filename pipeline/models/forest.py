"""Random forest family: trees, depth, leaf size, max features, class weight; search space in configs/forest.yaml."""
from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.ensemble import RandomForestClassifier

from pipeline.core.persist import qualified_names
from pipeline.models.family import (
    BuildContext,
    Family,
    FitData,
    FitHooks,
    check_params,
    predict_positive,
    skops_storage,
    stop_at_deadline,
)

PARAMS = ("n_estimators", "max_depth", "min_samples_leaf", "max_features", "class_weight")
MIN_CHUNK_ROWS = 2000   # below this, splitting rows over threads costs more than it saves
TREE_CHUNK = 25         # trees grown between two looks at the time budget
MODEL_FILE = "model.skops"


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


TRUSTED_TYPES = (*qualified_names(DeterministicRandomForest), "sklearn.tree._classes.DecisionTreeClassifier",
                 "sklearn.tree._tree.Tree")


def build(params: dict[str, Any], ctx: BuildContext) -> DeterministicRandomForest:
    """An unfitted forest on every core; the device is irrelevant (CPU only)."""
    check_params("forest", params, PARAMS)
    return DeterministicRandomForest(**params, random_state=ctx.seed, n_jobs=ctx.threads)


def contributions(model: Any, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Saabas decision-path contributions, in probability space: along each tree's path every split adds
    (child value - parent value) to its feature; averaged over trees, bias + contributions = P(class 1)."""
    import scipy.sparse as sp

    X32 = X.to_numpy(np.float64).astype(np.float32)   # sklearn trees split on float32 values
    total = np.zeros(X.shape, dtype=np.float64)
    bias = 0.0
    for tree in model.estimators_:
        t = tree.tree_
        value = t.value[:, 0, :] / t.value[:, 0, :].sum(axis=1, keepdims=True)
        p1 = value[:, 1]
        parent = np.full(t.node_count, -1)
        for side in (t.children_left, t.children_right):
            inner = side >= 0
            parent[side[inner]] = np.flatnonzero(inner)
        child = np.flatnonzero(parent >= 0)
        # node-by-feature matrix: entering `child` adds p1[child] - p1[parent] to the parent's split feature
        step = sp.csr_matrix((p1[child] - p1[parent[child]], (child, t.feature[parent[child]])),
                             shape=(t.node_count, X.shape[1]))
        total += (tree.decision_path(X32) @ step).toarray()
        bias += p1[0]
    n = len(model.estimators_)
    return total / n, np.full(len(X), bias / n)


def fit(model: DeterministicRandomForest, data: FitData, hooks: FitHooks) -> DeterministicRandomForest:
    """Grow the trees in chunks, so the time budget can end a fit between chunks: a trial is pruned, a
    final refit keeps the trees it has. warm_start skips the seeds of the trees already grown, so the
    forest is the same one a single fit would grow."""
    X, y = (data.X, data.y) if data.sampler is None else data.sampler.fit_resample(data.X, data.y)
    total = model.n_estimators
    model.set_params(warm_start=True)
    with warnings.catch_warnings():
        # "balanced" class weights with warm_start warn about refits on other data; every chunk sees the same rows.
        warnings.filterwarnings("ignore", message=".*warm_start.*", category=UserWarning)
        for grown in range(min(TREE_CHUNK, total), total + TREE_CHUNK, TREE_CHUNK):
            model.set_params(n_estimators=min(grown, total)).fit(X, y)
            if model.n_estimators < total and stop_at_deadline(hooks):
                break
    return model.set_params(warm_start=False)


save, load = skops_storage(MODEL_FILE, TRUSTED_TYPES, "forest model")
FAMILY = Family(name="forest", label="Random forest", inputs="tabular", params=PARAMS, build=build,
                fit=fit, predict=predict_positive, save=save, load=load, explain="permutation",
                contributions=contributions, contribution_units="probability",
                balanced={"class_weight": "balanced_subsample"},
                # A forest of moderate trees is near its best untuned; more trees cost time, rarely AUC.
                start_order=3, start_points=({"n_estimators": 200, "max_depth": 14, "min_samples_leaf": 5, "max_features": "sqrt",
                               "imbalance": "none"},))
