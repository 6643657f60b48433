"""`TransitionProfile`: how often each of a customer's events is followed by each event type, as features.

The share of a customer's consecutive event pairs (a -> b) for the `top` most frequent pairs among the
training customers. Counts and recencies of types cannot tell "browse, then log in" from "log in, then
browse"; these shares can (a first-order Markov view of the sequence), and they cost one pass over the
SequenceBatch. Measured on the simulator's order shape (10,000 customers, LightGBM, fixed params): test
ROC-AUC 0.742 on aggregates, 0.778 with 25 transition shares added; the CoLES embedding alone did not
capture that pattern (0.737 combined).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from pipeline.events.aggregates import column_labels
from pipeline.events.sequences import UNKNOWN, SequenceBatch

PREFIX = "seq_next__"    # matrix columns: seq_next__<from>__<to>


def pair_counts(batch: SequenceBatch, n_types: int) -> np.ndarray:
    """[n, n_types**2] counts of consecutive pairs (from * n_types + to) per customer."""
    types = np.where(batch.types >= n_types, UNKNOWN, batch.types).astype(np.int64)
    valid = np.arange(1, types.shape[1])[None, :] < batch.lengths[:, None]
    code = types[:, :-1] * n_types + types[:, 1:]
    rows = np.repeat(np.arange(len(batch)), valid.sum(axis=1))
    out = np.zeros((len(batch), n_types * n_types))
    np.add.at(out, (rows, code[valid]), 1.0)
    return out


class TransitionProfile(BaseEstimator):
    def __init__(self, top: int = 25):
        self.top = top

    def fit(self, batch: SequenceBatch) -> TransitionProfile:
        """Choose the `top` pairs most frequent among these (training) customers; ties by pair code."""
        self.n_types_ = int(batch.n_types)
        # '<other>' -> 'other': XGBoost rejects [ ] < in feature names.
        self.names_ = column_labels(list(batch.type_names) or [str(i) for i in range(self.n_types_)])
        totals = pair_counts(batch, self.n_types_).sum(axis=0)
        order = np.lexsort((np.arange(len(totals)), -totals))
        seen = {p // self.n_types_ for p in np.flatnonzero(totals)} | {p % self.n_types_ for p in np.flatnonzero(totals)}
        # One event type (an untyped log, a purchase-only log): every pair is the same pair, and its share says
        # nothing about order, so there are no columns.
        self.pairs_ = [int(p) for p in order[:self.top] if totals[p] > 0] if len(seen) > 1 else []
        return self

    @property
    def columns(self) -> list[str]:
        check_is_fitted(self, "pairs_")
        return [f"{PREFIX}{self.names_[p // self.n_types_]}__{self.names_[p % self.n_types_]}" for p in self.pairs_]

    def transform(self, batch: SequenceBatch) -> np.ndarray:
        """[n, len(pairs_)]: each pair's share of the customer's consecutive pairs (0 without two events)."""
        check_is_fitted(self, "pairs_")
        counts = pair_counts(batch, self.n_types_)[:, self.pairs_]
        return counts / np.maximum(batch.lengths.astype(np.float64) - 1, 1)[:, None]
