"""Multi-fidelity at scale: the search cross-validates on a seeded, stratified sample of the train rows,
sized to the budget; the final refits use every row.

At 800,000 training rows no trial of any family finished 5-fold CV within tune.timeout 180 s
(bench/README.md, bench_scale.py), so no family had a model. With `tune.search_rows: auto` the
trials see at most ROWS_PER_BUDGET_SECOND x tune.timeout rows (54,000 at 180 s); the default data
(16,000 rows) is searched whole, as before. The calibrators, thresholds and ensemble weights are
chosen on the sample's out-of-fold scores (never on a row's own fold), then applied to the refits.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
from sklearn.model_selection import train_test_split

from pipeline.core.errors import InputError
from pipeline.core.params import TuneParams
from pipeline.tuning.train_data import TrainData

log = logging.getLogger(__name__)

ROWS_PER_BUDGET_SECOND = 300   # 180 s -> 54,000 rows: a 5-fold LightGBM trial there takes about 25 s on one core
MIN_ROWS = 100                 # below this a fixed search_rows leaves folds too small to rank anything


def search_rows(s: TuneParams, n_rows: int) -> int:
    """How many train rows the trials cross-validate on (n_rows: all of them)."""
    setting = s.search_rows
    if setting is None:
        return n_rows
    if setting == "auto":
        return n_rows if s.timeout is None else min(n_rows, max(MIN_ROWS, int(ROWS_PER_BUDGET_SECOND * s.timeout)))
    if isinstance(setting, bool) or not isinstance(setting, int) or setting < MIN_ROWS:
        raise InputError(f"params: tune.search_rows must be auto, null or an integer >= {MIN_ROWS}, got {setting!r}.")
    return min(n_rows, setting)


def subset(data: TrainData, rows: np.ndarray) -> TrainData:
    """The train data restricted to `rows` (sorted positions), every field aligned."""
    return dataclasses.replace(data, ids=data.ids[rows], X=data.X.iloc[rows].reset_index(drop=True), y=data.y[rows],
                               seq=None if data.seq is None else data.seq.subset(rows))


def search_sample(data: TrainData, n: int, seed: int) -> TrainData:
    """A seeded sample of `n` rows with the train set's class shares (the same rows for every family)."""
    if n >= len(data):
        return data
    rows, _ = train_test_split(np.arange(len(data)), train_size=n, stratify=data.y, random_state=seed)
    log.info("tune: the search cross-validates on %s of the %s train rows (tune.search_rows); the final fits use all",
             f"{n:,}", f"{len(data):,}")
    return subset(data, np.sort(rows))
