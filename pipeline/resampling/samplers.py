"""Over-samplers of the minority class (SMOTE family) that are safe inside any training fold.

`make_sampler` picks SMOTE, SMOTENC (categorical columns), SMOTEN (all categorical) or random
over-sampling from params; tuning calls it inside each CV fold's training part (leakage rule 3),
the resample stage on the whole train set. No synthetic row is ever scored.

imblearn's over-samplers return the original rows first, unchanged and in order, then the new
rows. `GuardedSampler` checks that and rebuilds its output from the originals, so real rows keep
their exact values and the synthetic rows are exactly the tail.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC, RandomOverSampler
from sklearn.base import BaseEstimator, clone

from pipeline.core.errors import InputError
from pipeline.core.params import ResampleParams

log = logging.getLogger(__name__)
METHODS = ("smote", "smotenc", "random_over", "none")
STRATEGIES = ("auto", "minority", "not majority", "not minority", "all")
NAMES = {SMOTE: "smote", SMOTENC: "smotenc", SMOTEN: "smoten", RandomOverSampler: "random_over"}


def too_large_for_smote(p: ResampleParams, n_rows: int | None) -> bool:
    """SMOTE's neighbour search does not scale (17 min for 800k rows): none above resample.max_rows."""
    return p.method in ("smote", "smotenc") and p.max_rows is not None and n_rows is not None and n_rows > p.max_rows


def make_sampler(p: ResampleParams, categorical_mask: np.ndarray | None, seed: int,
                 groups: list[list[int]] | None = None, n_rows: int | None = None) -> GuardedSampler | None:
    """The sampler for one training set (a CV fold's training part, or the full train set) of `n_rows` rows.

    smote/smotenc -> SMOTENC when any column is categorical (mask true: binary/one-hot, kept 0/1),
    SMOTEN when all are, plain SMOTE when none; random_over -> RandomOverSampler; none -> None, and None
    for smote/smotenc above resample.max_rows rows.
    `groups`: column indices of one-hot groups (one 1 per row), resampled as one categorical.
    """
    if p.method not in METHODS:
        raise InputError(f"resample.method: expected one of {list(METHODS)}, got {p.method!r}.")
    strategy = p.sampling_strategy
    if not (strategy in STRATEGIES or isinstance(strategy, float) and 0 < strategy <= 1):
        raise InputError(f"resample.sampling_strategy: expected a ratio in (0, 1] or one of {list(STRATEGIES)}, "
                         f"got {strategy!r}.")
    if p.method == "none" or too_large_for_smote(p, n_rows):
        return None
    mask = np.zeros(0, bool) if categorical_mask is None else np.asarray(categorical_mask, dtype=bool)
    common = dict(sampling_strategy=strategy, random_state=seed)
    if p.method == "random_over":
        return GuardedSampler(RandomOverSampler(**common))
    if mask.any() and mask.all():
        return GuardedSampler(SMOTEN(k_neighbors=p.k_neighbors, **common), groups)
    if mask.any():
        # Column indices as a list: imblearn 0.14 compares categorical_features == "auto" (an array is ambiguous).
        categorical = np.flatnonzero(mask).tolist()
        return GuardedSampler(SMOTENC(categorical_features=categorical, k_neighbors=p.k_neighbors, **common), groups)
    if p.method == "smotenc":
        log.info("resample: no categorical columns, so smotenc runs as plain SMOTE")
    return GuardedSampler(SMOTE(k_neighbors=p.k_neighbors, **common))


class GuardedSampler(BaseEstimator):
    """An imblearn over-sampler made safe for any training fold (a step of imblearn's Pipeline).

    At fit time, on the rows it is given only: no-op when the minority already meets a float
    sampling_strategy or y has one class; k_neighbors shrinks to (minority - 1) when the minority
    is tiny, and a single minority row falls back to random over-sampling (both logged).
    Fitted: `sampler_` (the inner sampler actually used, or None), `n_synthetic_`.
    """

    def __init__(self, sampler: Any, groups: list[list[int]] | None = None):
        self.sampler = sampler
        self.groups = groups

    def fit(self, X: Any, y: Any, **params: Any) -> GuardedSampler:
        self.fit_resample(X, y)
        return self

    def fit_resample(self, X: Any, y: Any, **params: Any) -> tuple[Any, Any]:
        """Originals first (untouched, same order), then the synthetic rows; same types as X and y."""
        values, target = np.asarray(X, dtype=np.float64), np.asarray(y)
        self.sampler_ = self._effective_sampler(np.unique(target, return_counts=True)[1])
        new_x, new_y = values[:0], target[:0]
        if self.sampler_ is not None:
            new_x, new_y = self._synthesise(values, target)
        self.n_synthetic_ = len(new_y)
        return _append(X, new_x), _append(y, new_y)

    def _effective_sampler(self, counts: np.ndarray) -> Any:
        strategy = self.sampler.sampling_strategy
        if len(counts) < 2 or isinstance(strategy, float) and counts.min() >= strategy * counts.max():
            log.info("resample: class counts %s already meet sampling_strategy=%s; no rows added",
                     counts.tolist(), strategy)
            return None
        sampler, n_min = clone(self.sampler), int(counts.min())
        k = getattr(sampler, "k_neighbors", None)
        if isinstance(k, int) and n_min <= k:     # k-NN needs k + 1 minority rows (tiny CV folds)
            if n_min < 2:
                log.warning("resample: 1 minority row, cannot interpolate; random over-sampling instead")
                return RandomOverSampler(sampling_strategy=strategy, random_state=sampler.random_state)
            log.warning("resample: %d minority rows; k_neighbors reduced from %d to %d", n_min, k, n_min - 1)
            sampler.set_params(k_neighbors=n_min - 1)
        return sampler

    def _synthesise(self, values: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        groups = self.groups if isinstance(self.sampler_, (SMOTENC, SMOTEN)) and self.groups else []
        data, keep = _collapse(values, groups)
        if groups and isinstance(self.sampler_, SMOTENC):
            categorical = set(self.sampler_.categorical_features)
            mask = [i in categorical for i in keep] + [True] * len(groups)
            self.sampler_.set_params(categorical_features=np.flatnonzero(mask).tolist())
        x_res, y_res = self.sampler_.fit_resample(data, target)
        x_res, n = np.asarray(x_res, dtype=np.float64), len(data)
        if not (np.array_equal(x_res[:n], data, equal_nan=True) and np.array_equal(y_res[:n], target)):
            raise RuntimeError("imblearn did not return the original rows first; synthetic rows are not identifiable")
        return _expand(x_res[n:], values.shape[1], keep, groups), y_res[n:]


def _collapse(values: np.ndarray, groups: list[list[int]]) -> tuple[np.ndarray, list[int]]:
    """Replace each one-hot group by one code column (len(group) = all zeros), so SMOTENC keeps groups valid."""
    grouped = {i for g in groups for i in g}
    keep = [i for i in range(values.shape[1]) if i not in grouped]
    codes = [np.where(values[:, g].any(axis=1), values[:, g].argmax(axis=1), len(g)) for g in groups]
    return np.column_stack([values[:, keep], *codes]) if groups else values, keep


def _expand(data: np.ndarray, n_columns: int, keep: list[int], groups: list[list[int]]) -> np.ndarray:
    if not groups:
        return data
    values = np.zeros((len(data), n_columns))
    values[:, keep] = data[:, :len(keep)]
    for j, group in enumerate(groups):
        code = data[:, len(keep) + j].astype(int)
        rows = code < len(group)
        values[np.flatnonzero(rows), np.asarray(group)[code[rows]]] = 1.0
    return values


def _append(original: Any, new: np.ndarray) -> Any:
    if isinstance(original, pd.DataFrame):
        extra = pd.DataFrame(new, columns=original.columns)
        return pd.concat([original, extra], ignore_index=True) if len(new) else original.reset_index(drop=True)
    if isinstance(original, pd.Series):
        extra = pd.Series(new, dtype=original.dtype, name=original.name)
        return pd.concat([original, extra], ignore_index=True) if len(new) else original.reset_index(drop=True)
    return np.concatenate([np.asarray(original), new.astype(np.asarray(original).dtype, copy=False)])
