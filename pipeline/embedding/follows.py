"""`FollowsProfile`: whether an event of type a is followed, sooner or later, by one of type b in a recent window.

Process mining's "eventually follows" relation, per customer and pair (a, b), a != b, over the events of the
last `window_days` before as_of: 1 when the first a of the window comes before its last b. A complaint
followed by a failed payment differs from a failed payment followed by a complaint although every count and
recency is the same; consecutive-pair shares (pipeline/embedding/transitions.py) see it only when the two
are adjacent. The `top` pairs kept carry the most order information among the training customers: many
enough customers have both types in the window, and their order is the least decided (see `fit`); no labels
are used.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from pipeline.events.aggregates import column_labels
from pipeline.events.sequences import FIRST_TYPE_ID, SequenceBatch

PREFIX = "seq_follows__"    # matrix columns: seq_follows__<a>__<b>
MIN_BOTH = 0.01             # a pair is a candidate when at least this share of training customers has both types


def follows_flags(batch: SequenceBatch, ages_days: np.ndarray, window_days: float, n_types: int,
                  both: bool = False) -> np.ndarray:
    """[n, n_types, n_types] bool: in the window, the first event of type a precedes the last of type b
    (both=True: the window holds an a and a b, in any order)."""
    n, length = batch.types.shape
    types = np.where(batch.types >= n_types, 1, batch.types)
    inside = ages_days < window_days
    position = np.broadcast_to(np.arange(length), (n, length))
    first = np.full((n, n_types), length, dtype=np.int64)
    last = np.full((n, n_types), -1, dtype=np.int64)
    rows = np.broadcast_to(np.arange(n)[:, None], (n, length))
    np.minimum.at(first, (rows[inside], types[inside]), position[inside])
    np.maximum.at(last, (rows[inside], types[inside]), position[inside])
    if both:
        return (first < length)[:, :, None] & (last >= 0)[:, None, :]
    return first[:, :, None] < last[:, None, :]


class FollowsProfile(BaseEstimator):
    def __init__(self, top: int = 25, window_days: float = 90.0):
        self.top = top
        self.window_days = window_days

    def fit(self, batch: SequenceBatch, ages_days: np.ndarray) -> FollowsProfile:
        """Pairs of real types (no padding, a != b) with the most order information on these (training) customers."""
        self.n_types_ = int(batch.n_types)
        self.names_ = column_labels(list(batch.type_names) or [str(i) for i in range(self.n_types_)])
        share = follows_flags(batch, ages_days, self.window_days, self.n_types_).mean(axis=0).ravel()
        both = follows_flags(batch, ages_days, self.window_days, self.n_types_, both=True).mean(axis=0).ravel()
        a, b = np.divmod(np.arange(share.size), self.n_types_)
        usable = (a != b) & (a >= FIRST_TYPE_ID - 1) & (b >= FIRST_TYPE_ID - 1) & (both >= MIN_BOTH)
        # Order information: among the customers with both types, how undecided "a before b" is. A pair nearly
        # always in one order (many logins around every page view) says little; a pair whose order is a coin
        # flip (a complaint and a failed payment) says the most, however rare it is above MIN_BOTH.
        given = np.divide(share, both, out=np.zeros_like(share), where=both > 0)
        spread = np.where(usable, given * (1 - given), -1.0)
        order = np.lexsort((np.arange(share.size), -both, -spread))
        self.pairs_ = [int(p) for p in order[:self.top] if spread[p] > 0]
        return self

    @property
    def columns(self) -> list[str]:
        check_is_fitted(self, "pairs_")
        return [f"{PREFIX}{self.names_[p // self.n_types_]}__{self.names_[p % self.n_types_]}" for p in self.pairs_]

    def transform(self, batch: SequenceBatch, ages_days: np.ndarray) -> np.ndarray:
        """[n, len(pairs_)] 0/1 flags (0 for a customer without both types in the window)."""
        check_is_fitted(self, "pairs_")
        flags = follows_flags(batch, ages_days, self.window_days, self.n_types_).reshape(len(batch), -1)
        return flags[:, self.pairs_].astype(np.float64)
