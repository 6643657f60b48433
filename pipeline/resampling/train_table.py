"""The resampled train table of the resample stage: the real rows first, exactly as given, then synthetic ones.

Reads nothing but the train feature table and its manifest (the test split is never resampled, and no
synthetic row is ever scored: leakage rule 3). Output columns: customer_id (synthetic rows get
`synthetic-000001`, ...), target, is_synthetic, then the feature columns.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError, show_values
from pipeline.core.params import ResampleParams
from pipeline.core.schema import ID, TARGET
from pipeline.featurization.manifest import categorical_layout
from pipeline.resampling.samplers import NAMES, GuardedSampler, make_sampler, too_large_for_smote

log = logging.getLogger(__name__)

SYNTHETIC = "is_synthetic"
SYNTHETIC_PREFIX = "synthetic-"


def resample(X: pd.DataFrame, y: pd.Series, ids: pd.Series, p: ResampleParams,
             categorical_mask: np.ndarray | None, seed: int,
             groups: list[list[int]] | None = None) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series]:
    """(X_res, y_res, ids_res, is_synthetic): real rows first, exactly as given; then `synthetic-000001`, ..."""
    return resample_with(make_sampler(p, categorical_mask, seed, groups, n_rows=len(X)), X, y, ids)


def resample_with(sampler: GuardedSampler | None, X: pd.DataFrame, y: pd.Series,
                  ids: pd.Series) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series]:
    """`resample` with a given sampler (None: data unchanged); the sampler's fitted state stays readable."""
    if not len(X) == len(y) == len(ids):
        raise InputError(f"resample: X, y and ids differ in length ({len(X)}, {len(y)}, {len(ids)}).")
    x_res, y_res = sampler.fit_resample(X, y) if sampler is not None else (X, y)
    x_res, y_res = x_res.reset_index(drop=True), y_res.reset_index(drop=True).astype(y.dtype)
    new_ids = [f"{SYNTHETIC_PREFIX}{i:06d}" for i in range(1, len(x_res) - len(X) + 1)]
    if clash := sorted(set(new_ids) & set(ids)):
        raise InputError(f"resample: customer ids {clash[:5]} clash with the ids given to synthetic rows.")
    ids_res = pd.concat([ids.reset_index(drop=True), pd.Series(new_ids, dtype=ids.dtype)], ignore_index=True)
    return x_res, y_res, ids_res.rename(ids.name), pd.Series(np.arange(len(x_res)) >= len(X), name=SYNTHETIC)


def resample_train(train: pd.DataFrame, manifest: dict[str, Any], p: ResampleParams, seed: int,
        where: str = "manifest") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Resample a train feature table (customer_id, target, features): the table with is_synthetic, a report."""
    features = [c for c in train.columns if c not in (ID, TARGET, SYNTHETIC)]
    if bad := [c for c in features if not np.isfinite(train[c].to_numpy(np.float64)).all()]:
        raise InputError(f"train features: column(s) {show_values(bad)} hold NaN or infinite values; "
                         "SMOTE needs finite numbers.")
    mask, groups = categorical_layout(manifest, features, where)
    sampler = make_sampler(p, mask, seed, groups, n_rows=len(train))
    x, y, ids, synthetic = resample_with(sampler, train[features], train[TARGET], train[ID])
    used = getattr(sampler, "sampler_", None)
    capped = too_large_for_smote(p, len(train))
    if capped:
        log.info("resample: %s training rows is above resample.max_rows %s: no %s, the rows are kept as they are",
                 f"{len(train):,}", f"{p.max_rows:,}", p.method)
    report = {"method": NAMES.get(type(used), "none"), "requested_method": p.method,
              "sampling_strategy": p.sampling_strategy, "k_neighbors": getattr(used, "k_neighbors", None),
              "before": _counts(train[TARGET]), "after": _counts(y), "synthetic_rows": int(synthetic.sum())}
    if capped:
        report["skipped"] = (f"{len(train):,} training rows is above resample.max_rows {p.max_rows:,}: SMOTE's "
                             "neighbour search does not scale; tuning weighs classes or fits as is instead")
    return pd.concat([ids.rename(ID), y.rename(TARGET), synthetic, x], axis=1), report


def _counts(y: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in y.value_counts().sort_index().items()}
