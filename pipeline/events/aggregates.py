"""Per-customer aggregates of the event log: RFM, type mix, gaps, activity trend, recency per type.

`EventAggregator` is fitted on the training customers' events (event-type vocabulary, numeric value
columns, start of the history) and turns any customers' events into one float64 row per customer:

    agg = EventAggregator(p.windows_days, p.max_event_types).fit(events, as_of, customer_ids=train_ids)
    train_x, test_x = agg.transform(events, train_ids, as_of), agg.transform(events, test_ids, as_of)

Only events strictly before `as_of` are used (leakage rule 5), in fit and in transform, whatever
the caller passed. Everything is vectorised over the events sorted by (customer, time): group
offsets + `np.add.reduceat` / `np.maximum.reduceat` / `np.bincount`, no per-customer Python loop.

The grouping of events per customer lives in `pipeline.events.grouping` (shared with `pipeline.events.sequence_encoder`).

Output columns (prefix `ev_`; <c> = a numeric value column, <t> = a vocabulary type or `other`,
<w> = a window of `windows_days`). "never" = `history_days(as_of) + 1`, where history_days is the
length in days of the fitted history (as_of minus the earliest training event), so it is larger
than any recency a training-period event can have.

  ev_has_events              1 if the customer has an event before as_of, else 0
  ev_count                   events before as_of                                     (no events: 0)
  ev_recency_days            days from the last event to as_of                       (no events: never)
  ev_tenure_days             days from the first event to as_of                      (no events: 0)
  ev_events_per_30d          ev_count / max(tenure, 30 days) * 30                    (no events: 0)
  ev_gap_{mean,std,max}_days gaps between consecutive events (std: ddof=0)           (< 2 events: 0)
  ev_gap_last_days           gap between the last two events                        (< 2 events: 0)
  ev_<c>_n                   non-missing (finite) values of c
  ev_<c>_{sum,mean,std,max}  over the non-missing values of c (std: ddof=0)          (none: 0)
  ev_count_last_<w>d         events in [as_of - w days, as_of)
  ev_trend_<w>d              (count_last_w + 1) / (earlier_rate_w + 1), earlier_rate_w = events
                             before the window per w days over max(days from the first event to
                             the window start, w); < 1 = fading, > 1 = rising      (no events: 1)
  ev_count__<t>, ev_share__<t>   events of type t, and their share of ev_count    (none: 0)
  ev_days_since__<t>         days from the last event of type t to as_of          (never: never)
The type columns exist only when the events have an `event_type` column at fit.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from pipeline.core.errors import InputError
from pipeline.core.schema import EVENT_TYPE
from pipeline.events.grouping import (
    DAY_NS,
    NAT_NS,
    OTHER,
    CustomerIds,
    GroupedEvents,
    as_of_ns,
    fit_events,
    fit_vocabulary,
    group_events,
    numeric_value_columns,
    type_codes,
    value_column,
)

log = logging.getLogger(__name__)

PREFIX = "ev_"


def column_labels(names: Sequence[str], reserved: Sequence[str] = ()) -> list[str]:
    """Names made safe for column names (XGBoost rejects [ ] <), kept unique by a numeric suffix."""
    taken, labels = set(reserved), []
    for name in names:
        base = re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_") or "x"
        label, i = base, 2
        while label in taken:
            label, i = f"{base}_{i}", i + 1
        taken.add(label)
        labels.append(label)
    return labels


def _reduce(ufunc: np.ufunc, values: np.ndarray, g: GroupedEvents, dtype: type | None = None) -> np.ndarray:
    """Per-group reduction of an event-level array (every group is non-empty by construction)."""
    if len(g.starts) == 0:
        return np.zeros(0, dtype or np.float64)
    return ufunc.reduceat(values, g.starts, dtype=dtype)


class EventAggregator(BaseEstimator):
    """Event log -> one row of `ev_*` aggregates per customer (see the module docstring for columns)."""

    def __init__(self, windows_days: Sequence[int] = (30, 90), max_event_types: int = 30):
        self.windows_days = windows_days
        self.max_event_types = max_event_types

    def fit(self, events: pd.DataFrame, as_of: pd.Timestamp | str,
            customer_ids: CustomerIds | None = None) -> EventAggregator:
        """Learn the type vocabulary, value columns and history start from these events only.

        Pass the train customers' events, or the whole log with `customer_ids` = the train ids
        (same result, no filtered copy of the table). Events at/after `as_of` are ignored.
        """
        ts, keep = fit_events(events, as_of, customer_ids)
        has_event_type = EVENT_TYPE in events.columns
        vocabulary = fit_vocabulary(events[EVENT_TYPE], keep, self.max_event_types) if has_event_type else []
        # int ns, not a Timestamp: the fitted state stays plain numbers (saved with skops)
        start = int(ts[keep].min()) if keep.any() else as_of_ns(as_of)
        return self.set_fitted(numeric_value_columns(events), has_event_type, vocabulary, start, int(keep.sum()))

    def set_fitted(self, value_columns: list[str], has_event_type: bool, vocabulary: list[str],
                   history_start_ns: int, n_events: int) -> EventAggregator:
        """The fitted state from what a fit learned (here, or out of core in pipeline.events.aggregates_sql)."""
        self.value_columns_ = list(value_columns)
        self.has_event_type_ = bool(has_event_type)
        self.vocabulary_ = list(vocabulary)
        self.history_start_ns_ = int(history_start_ns)
        self.windows_ = [int(w) for w in self.windows_days]
        if any(w <= 0 for w in self.windows_):
            raise InputError(f"windows_days must be positive, got {list(self.windows_days)}.")
        self.value_labels_ = column_labels(self.value_columns_)
        self.type_labels_ = column_labels(self.vocabulary_, reserved=[OTHER]) + [OTHER]
        self.feature_names_out_ = self._feature_names()
        log.info("event features: fitted on %d events, %d types (+other), value columns %s",
                 n_events, len(self.vocabulary_), self.value_columns_)
        return self

    def get_feature_names_out(self, input_features: object = None) -> list[str]:
        check_is_fitted(self)
        return list(self.feature_names_out_)

    def _feature_names(self) -> list[str]:
        names = [f"{PREFIX}{n}" for n in ("has_events", "count", "recency_days", "tenure_days",
                                          "events_per_30d", "gap_mean_days", "gap_std_days",
                                          "gap_max_days", "gap_last_days")]
        for label in self.value_labels_:
            names += [f"{PREFIX}{label}_{stat}" for stat in ("n", "sum", "mean", "std", "max")]
        for w in self.windows_:
            names += [f"{PREFIX}count_last_{w}d", f"{PREFIX}trend_{w}d"]
        if self.has_event_type_:
            for kind in ("count", "share", "days_since"):
                names += [f"{PREFIX}{kind}__{label}" for label in self.type_labels_]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise InputError(f"event value column names clash with event feature names: {dupes}; rename them.")
        return names

    def never_days(self, as_of: pd.Timestamp | str) -> float:
        """Fill for 'never happened' recencies: the fitted history length at `as_of` plus one day."""
        check_is_fitted(self)
        return max((as_of_ns(as_of) - self.history_start_ns_) / DAY_NS, 0.0) + 1.0

    def transform(self, events: pd.DataFrame, customer_ids: CustomerIds,
                  as_of: pd.Timestamp | str) -> pd.DataFrame:
        """One float64 row per id of `customer_ids`, in that order, from its events before `as_of`."""
        check_is_fitted(self)
        self._check_columns(events)
        g = group_events(events, as_of, customer_ids)
        names = self.feature_names_out_
        position = {name: j for j, name in enumerate(names)}
        # Fortran order: each feature is one contiguous column, written once, no second copy.
        out = np.zeros((len(g.index), len(names)), dtype=np.float64, order="F")
        for name, values, fill in self._features(events, g):
            column = out[:, position[name]]
            column[:] = fill
            column[g.rows] = values
        log.info("event features: %d customers (%d with events), %d events used, %d at/after as_of ignored",
                 len(g.index), len(g.starts), len(g.ts), g.n_dropped)
        return pd.DataFrame(out, index=g.index, columns=names, copy=False)

    def _check_columns(self, events: pd.DataFrame) -> None:
        needed = list(self.value_columns_) + ([EVENT_TYPE] if self.has_event_type_ else [])
        if missing := [c for c in needed if c not in events.columns]:
            raise InputError(f"events lack column(s) {missing} that the event features were fitted with.")

    def _features(self, events: pd.DataFrame, g: GroupedEvents) -> Iterator[tuple[str, np.ndarray, float]]:
        """(name, per-group values, fill for customers without events), one feature at a time."""
        never = self.never_days(pd.Timestamp(g.as_of_ns))
        yield from _activity_features(g, never)
        yield from _gap_features(g)
        for column, label in zip(self.value_columns_, self.value_labels_):
            yield from _value_features(value_column(events, column, g), label, g)
        yield from _window_features(g, self.windows_)
        if self.has_event_type_:
            codes = type_codes(events[EVENT_TYPE], self.vocabulary_, g)
            yield from _type_features(codes, self.type_labels_, g, never)


def _activity_features(g: GroupedEvents, never: float) -> Iterator[tuple[str, np.ndarray, float]]:
    """has_events, count, recency, tenure and the average rate."""
    counts = g.counts.astype(np.float64)
    tenure = (g.as_of_ns - g.ts[g.starts]) / DAY_NS
    yield f"{PREFIX}has_events", np.ones(len(g.starts)), 0.0
    yield f"{PREFIX}count", counts, 0.0
    yield f"{PREFIX}recency_days", (g.as_of_ns - g.ts[g.ends - 1]) / DAY_NS, never
    yield f"{PREFIX}tenure_days", tenure, 0.0
    # at least 30 days, so a customer whose only event was yesterday is not "30 events a month"
    yield f"{PREFIX}events_per_30d", counts / np.maximum(tenure, 30.0) * 30.0, 0.0


def _gap_features(g: GroupedEvents) -> Iterator[tuple[str, np.ndarray, float]]:
    """Mean / std / max / last of the gaps between a customer's consecutive events, in days."""
    gaps = np.empty(len(g.ts), dtype=np.float64)
    if len(g.ts):
        gaps[0] = 0.0
        np.subtract(g.ts[1:], g.ts[:-1], out=gaps[1:])
        gaps[g.starts] = 0.0            # a customer's first event has no gap (not one to the previous customer)
        gaps /= DAY_NS
    n_gaps = np.maximum(g.counts - 1, 1)
    span = (g.ts[g.ends - 1] - g.ts[g.starts]) / DAY_NS
    mean = span / n_gaps                # the gaps telescope: their sum is last - first
    deviation = gaps - mean[g.group]
    deviation[g.starts] = 0.0
    np.square(deviation, out=deviation)
    # ddof=0, so a customer with two events (one gap) has std 0 instead of NaN
    std = np.sqrt(_reduce(np.add, deviation, g) / n_gaps)
    del deviation
    yield f"{PREFIX}gap_mean_days", mean, 0.0
    yield f"{PREFIX}gap_std_days", std, 0.0
    yield f"{PREFIX}gap_max_days", _reduce(np.maximum, gaps, g), 0.0
    yield f"{PREFIX}gap_last_days", gaps[g.ends - 1], 0.0


def _value_features(values: np.ndarray, label: str, g: GroupedEvents) -> Iterator[tuple[str, np.ndarray, float]]:
    """n / sum / mean / std / max of one numeric column over a customer's non-missing values."""
    missing = np.isnan(values)
    n = g.counts - _reduce(np.add, missing, g, dtype=np.int64)
    safe_n = np.maximum(n, 1)
    np.copyto(values, -np.inf, where=missing)
    maximum = _reduce(np.maximum, values, g)
    np.copyto(values, 0.0, where=missing)
    total = _reduce(np.add, values, g)
    mean = total / safe_n
    yield f"{PREFIX}{label}_n", n.astype(np.float64), 0.0
    yield f"{PREFIX}{label}_sum", total, 0.0
    yield f"{PREFIX}{label}_mean", mean, 0.0
    yield f"{PREFIX}{label}_max", np.where(n > 0, maximum, 0.0), 0.0
    # two-pass std (ddof=0, as for gaps): robust where E[x^2] - mean^2 would cancel; in place, one temporary
    deviation = mean[g.group]
    np.subtract(values, deviation, out=deviation)
    deviation[missing] = 0.0
    np.square(deviation, out=deviation)
    yield f"{PREFIX}{label}_std", np.sqrt(_reduce(np.add, deviation, g) / safe_n), 0.0


def _window_features(g: GroupedEvents, windows: Sequence[int]) -> Iterator[tuple[str, np.ndarray, float]]:
    """Events in each recent window, and that count against the customer's earlier rate."""
    first = g.ts[g.starts]
    for w in windows:
        window_start = g.as_of_ns - w * DAY_NS
        recent = _reduce(np.add, g.ts >= window_start, g, dtype=np.int64).astype(np.float64)
        # the earlier period counts as at least one window long, so one early event is not a burst
        earlier_days = np.maximum((window_start - first) / DAY_NS, w)
        earlier_rate = (g.counts - recent) / earlier_days * w
        yield f"{PREFIX}count_last_{w}d", recent, 0.0
        # add-one smoothing keeps the ratio finite for customers with no earlier events
        yield f"{PREFIX}trend_{w}d", (recent + 1.0) / (earlier_rate + 1.0), 1.0


def _type_features(codes: np.ndarray, labels: Sequence[str], g: GroupedEvents,
                   never: float) -> Iterator[tuple[str, np.ndarray, float]]:
    """Count, share and days since the last occurrence of each type (vocabulary + other)."""
    n_types = len(labels)
    key = g.group.astype(np.int64) * n_types + codes
    per_type = np.bincount(key, minlength=len(g.starts) * n_types).reshape(-1, n_types)
    last = np.full(len(g.starts) * n_types, NAT_NS, dtype=np.int64)
    np.maximum.at(last, key, g.ts)      # unbuffered max per (customer, type): the latest occurrence
    last = last.reshape(-1, n_types)
    del key
    for j, label in enumerate(labels):
        yield f"{PREFIX}count__{label}", per_type[:, j].astype(np.float64), 0.0
    for j, label in enumerate(labels):
        yield f"{PREFIX}share__{label}", per_type[:, j] / g.counts, 0.0
    for j, label in enumerate(labels):
        seen = per_type[:, j] > 0
        age_ns = g.as_of_ns - np.where(seen, last[:, j], g.as_of_ns)   # no int64 overflow from the NaT fill
        yield f"{PREFIX}days_since__{label}", np.where(seen, age_ns / DAY_NS, never), never
