"""Train/test assignment by customer: stratified and seeded, or read from a customers column (split.column).

The test split is made first and touched by nothing but final scoring (DESIGN.md leakage rule 1), so
both splits must hold both classes or the final scores would be meaningless.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from pipeline.core.errors import InputError, show_rows, show_values
from pipeline.core.params import SplitParams
from pipeline.core.schema import SPLIT, TARGET, TEST, TRAIN
from pipeline.data.validate_customers import columns_hint, distinct, rows_where

log = logging.getLogger(__name__)


def pop_split_column(frame: pd.DataFrame, p: SplitParams, file_label: str,
                     protected: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.Series | None]:
    """Take split.column out of the raw customers so it is never validated or used as a feature."""
    if p.column is None:
        return frame, None
    if p.column not in frame.columns:
        raise InputError(f"{file_label}: split column '{p.column}' (split.column) not found; "
                         f"columns are {columns_hint(frame.columns)}.")
    if p.column in protected:
        raise InputError(f"params: split.column '{p.column}' is also the id or target column.")
    return frame.drop(columns=[p.column]), frame[p.column]


def _random_split(customers: pd.DataFrame, p: SplitParams, seed: int, file_label: str) -> np.ndarray:
    """Stratified by target so both splits keep the (often small) positive rate; row order fixes the result."""
    if not 0 < p.test_size < 1:
        raise InputError(f"params: split.test_size must be between 0 and 1, got {p.test_size}.")
    positions = np.arange(len(customers))
    try:
        _, test = train_test_split(positions, test_size=p.test_size, stratify=customers[TARGET].to_numpy(),
                                   random_state=seed)
    except ValueError as err:   # too few customers of a class for a stratified split
        counts = customers[TARGET].value_counts().to_dict()
        raise InputError(f"{file_label}: cannot make a stratified {p.test_size:g} test split of {len(customers)} "
                         f"customers (class counts {counts}): {err}") from err
    labels = np.full(len(customers), TRAIN, dtype=object)
    labels[test] = TEST
    return labels


def _column_split(values: pd.Series, column: str, file_label: str) -> np.ndarray:
    """The user's own split: 'train'/'test' in any case; anything else (blank included) is an error."""
    labels = values.astype("string").str.strip().str.lower()
    bad = ~labels.isin([TRAIN, TEST]).fillna(False).astype(bool)
    if bad.any():
        raise InputError(f"{file_label}: split column '{column}' must hold 'train' or 'test'; "
                         f"{show_rows(rows_where(bad))} have {show_values(distinct(values[bad]))}.")
    return labels.to_numpy(dtype=object)


def _check_splits(labels: np.ndarray, target: pd.Series, file_label: str, source: str) -> None:
    for name in (TRAIN, TEST):
        classes = set(target[labels == name].tolist())
        if classes != {0, 1}:
            got = "no customers" if not classes else f"only class {classes.pop()}"
            raise InputError(f"{file_label}: the {name} split ({source}) has {got}; both splits need both classes.")


def train_test_split_ids(customers: pd.DataFrame, p: SplitParams, seed: int,
                         file_label: str = "customers") -> pd.Series:
    """'train'/'test' per customer (same index as `customers`, which holds ID and TARGET).

    With split.column the column of that name in `customers` decides; else a seeded stratified split.
    """
    if p.column is not None:
        if p.column not in customers.columns:
            raise InputError(f"{file_label}: split column '{p.column}' (split.column) not found.")
        labels, source = _column_split(customers[p.column], p.column, file_label), f"column '{p.column}'"
    else:
        labels, source = _random_split(customers, p, seed, file_label), f"random, seed {seed}"
    _check_splits(labels, customers[TARGET].reset_index(drop=True), file_label, source)
    log.debug("split: %d train / %d test customers (%s)", (labels == TRAIN).sum(), (labels == TEST).sum(), source)
    return pd.Series(labels, index=customers.index, name=SPLIT)

