"""Per-customer aggregates of the event log: RFM, type mix, gaps, activity trend, recency per type.

`EventAggregator` is fitted on the training customers' events (event-type vocabulary, numeric value
columns, start of the history) and turns any customers' events into one float64 row per customer:

    agg = EventAggregator(p.windows_days, p.max_event_types).fit(events, as_of, customer_ids=train_ids)
    train_x, test_x = agg.transform(events, train_ids, as_of), agg.transform(events, test_ids, as_of)

Only events strictly before `as_of` are used (leakage rule 5), in fit and in transform, whatever
the caller passed. Everything is vectorised over the events sorted by (customer, time): group
offsets + `np.add.reduceat` / `np.maximum.reduceat` / `np.bincount`, no per-customer Python loop.

Also home of the helpers shared with `pipeline.sequences`: `group_events`, `fit_vocabulary`,
`type_codes`, `numeric_value_columns`.

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
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from pipeline.errors import InputError, show_values
from pipeline.schema import EVENT_TYPE, ID, TIMESTAMP

log = logging.getLogger(__name__)

PREFIX = "ev_"
OTHER = "other"                      # bucket for types outside the fitted vocabulary (and missing types)
DAY_NS = 86_400 * 10**9
NAT_NS = np.iinfo(np.int64).min      # datetime64 NaT viewed as int64

CustomerIds = pd.Index | np.ndarray | Sequence[str]


@dataclass(frozen=True)
class GroupedEvents:
    """The events before as_of of the requested customers, grouped by customer, in time order.

    Arrays of length k (kept events) are in (customer group, timestamp) order; arrays of length g
    describe the customer groups (customers with at least one kept event).
    """

    take: np.ndarray | None  # int64 [k]: row positions in the input events table; None = all, in order
    ts: np.ndarray        # int64 [k]: timestamps in ns
    group: np.ndarray     # int32 [k]: group of each event, 0..g-1
    starts: np.ndarray    # int64 [g]: offset of each group's first event
    counts: np.ndarray    # int64 [g]: events per group
    rows: np.ndarray      # int64 [g]: each group's row in the output (position in customer_ids)
    index: pd.Index       # the output rows' customer ids
    as_of_ns: int
    n_dropped: int        # events at/after as_of or with a missing timestamp

    @property
    def ends(self) -> np.ndarray:
        return self.starts + self.counts

    def gather(self, values: np.ndarray) -> np.ndarray:
        """A fresh array of the kept events' entries of an input column, in group order."""
        return values.copy() if self.take is None else values[self.take]

    def kept_mask(self, n_events: int) -> np.ndarray:
        """Boolean mask over the input events: True for the kept ones."""
        if self.take is None:
            return np.ones(n_events, dtype=bool)
        mask = np.zeros(n_events, dtype=bool)
        mask[self.take] = True
        return mask


def as_of_ns(as_of: pd.Timestamp | str) -> int:
    """The cutoff as int64 nanoseconds (naive timestamps, like the prepared events)."""
    stamp = pd.Timestamp(as_of)
    if stamp is pd.NaT or stamp.tz is not None:
        raise InputError(f"as_of must be a naive timestamp, got {as_of!r}.")
    return int(stamp.as_unit("ns").value)


def timestamps_ns(events: pd.DataFrame) -> np.ndarray:
    """The events' timestamps as int64 ns, whatever the datetime64 resolution (pandas 3 infers it)."""
    for column in (ID, TIMESTAMP):
        if column not in events.columns:
            raise InputError(f"events lack column '{column}'; got columns {list(events.columns)}.")
    stamps = events[TIMESTAMP]
    if not pd.api.types.is_datetime64_dtype(stamps.dtype):
        raise InputError(f"events column '{TIMESTAMP}' must be naive datetime64, got {stamps.dtype}.")
    return stamps.to_numpy(dtype="datetime64[ns]").view(np.int64)


def customer_index(customer_ids: CustomerIds) -> pd.Index:
    """The output rows' ids; they must be unique, since each id is one output row."""
    index = pd.Index(customer_ids, name=ID)
    if not index.is_unique:
        dupes = index[index.duplicated()].unique()
        raise InputError(f"customer_ids must be unique; duplicated: {show_values(dupes)}.")
    return index


def _event_rows(ids: pd.Series, index: pd.Index | None) -> tuple[np.ndarray, pd.Index]:
    """Output row of each event (-1: not a requested customer), via runs of equal adjacent ids.

    The prepared events are sorted by customer, so comparing neighbours (vectorised) and looking up
    one id per run beats hashing every event's id (30M events, 1M customers: ~2 s against ~11 s);
    unsorted input still works, it only has more runs.
    """
    values = ids.array
    if len(values) == 0:
        return np.zeros(0, np.int32), index if index is not None else pd.Index([], name=ID)
    changed = values[1:] != values[:-1]
    if isinstance(changed, pd.api.extensions.ExtensionArray):
        changed = changed.to_numpy(dtype=bool, na_value=True)
    run_starts = np.flatnonzero(np.concatenate(([True], np.asarray(changed, dtype=bool))))
    run_ids = pd.Index(values.take(run_starts))
    if index is None:  # fit: one group per distinct id seen (missing ids: -1, dropped)
        run_rows, uniques = pd.factorize(run_ids)
        index = pd.Index(uniques, name=ID)
    else:
        run_rows = index.get_indexer(run_ids)
    run_lengths = np.diff(np.append(run_starts, len(values)))
    return np.repeat(run_rows.astype(np.int32), run_lengths), index   # int32: compact at 30M events


def group_events(events: pd.DataFrame, as_of: pd.Timestamp | str,
                 customer_ids: CustomerIds | None = None) -> GroupedEvents:
    """Keep the events before `as_of` of `customer_ids` (None: every customer), grouped in time order."""
    cutoff = as_of_ns(as_of)
    ts = timestamps_ns(events)
    index = None if customer_ids is None else customer_index(customer_ids)
    valid = (ts != NAT_NS) & (ts < cutoff)      # leakage rule 5: nothing at/after as_of, ever
    n_dropped = int(len(ts) - np.count_nonzero(valid))
    row, index = _event_rows(events[ID], index)
    kept = valid & (row >= 0)
    take = None                                 # the usual case (all kept, in order): no full-size gathers
    if not kept.all():
        take = np.flatnonzero(kept)
        row, ts = row[take], ts[take]
    if not _grouped_in_time_order(row, ts, len(index)):
        order = np.lexsort((ts, row))           # stable: ties keep the input order
        take = order if take is None else take[order]
        row, ts = row[order], ts[order]
    starts = np.flatnonzero(np.concatenate(([True], row[1:] != row[:-1])))
    if not len(row):
        starts = np.zeros(0, np.int64)
    counts = np.diff(np.append(starts, len(row)))
    group = np.repeat(np.arange(len(starts), dtype=np.int32), counts)
    return GroupedEvents(take=take, ts=ts, group=group, starts=starts, counts=counts,
                         rows=row[starts].astype(np.int64), index=index, as_of_ns=cutoff, n_dropped=n_dropped)


def fit_events(events: pd.DataFrame, as_of: pd.Timestamp | str,
               customer_ids: CustomerIds | None) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps ns, mask) of the events a fit may learn from: before as_of, of `customer_ids` if given."""
    ts = timestamps_ns(events)
    keep = (ts != NAT_NS) & (ts < as_of_ns(as_of))     # leakage rule 5 holds for fitted state too
    if customer_ids is not None:                        # e.g. the train customers: rule 2 without a copy
        row, _ = _event_rows(events[ID], customer_index(customer_ids))
        keep &= row >= 0
    return ts, keep


def _grouped_in_time_order(row: np.ndarray, ts: np.ndarray, n_rows: int) -> bool:
    """True when each customer's events are contiguous and time-sorted (the prepared layout)."""
    if len(row) < 2:
        return True
    same = row[1:] == row[:-1]
    if not np.all((ts[1:] >= ts[:-1]) | ~same):
        return False
    n_runs = len(row) - np.count_nonzero(same)
    return n_runs == np.count_nonzero(np.bincount(row, minlength=n_rows))


def _factorize(types: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes (-1 = missing) and distinct values; free for a categorical column (Parquet dictionary)."""
    if isinstance(types.dtype, pd.CategoricalDtype):
        return types.cat.codes.to_numpy(), pd.Index(types.cat.categories)
    codes, uniques = pd.factorize(types, use_na_sentinel=True)
    return codes, pd.Index(uniques)


def fit_vocabulary(types: pd.Series, keep: np.ndarray, max_types: int) -> list[str]:
    """The `max_types` most frequent types among the kept events (ties: by name); OTHER is the bucket."""
    codes, uniques = _factorize(types)
    counts = np.bincount(codes[keep & (codes >= 0)], minlength=len(uniques))
    by_name: dict[str, int] = {}
    for value, n in zip(uniques, counts):       # a few dozen distinct types: a plain loop is fine
        by_name[str(value)] = by_name.get(str(value), 0) + int(n)
    ranked = sorted((-n, name) for name, n in by_name.items() if n > 0 and name != OTHER)
    return [name for _, name in ranked[:max_types]]


def type_codes(types: pd.Series, vocabulary: Sequence[str], g: GroupedEvents) -> np.ndarray:
    """int32 code per kept event of `g`: i for vocabulary[i]; len(vocabulary) for other/unseen/missing."""
    codes, uniques = _factorize(types)
    lookup = pd.Index(vocabulary).get_indexer(uniques.astype(str))
    lookup = np.where(lookup < 0, len(vocabulary), lookup).astype(np.int32)
    # the sentinel -1 (missing type) picks the appended `other` code
    return np.append(lookup, np.int32(len(vocabulary)))[g.gather(codes)]


def numeric_value_columns(events: pd.DataFrame) -> list[str]:
    """The numeric value columns of an event log: every numeric, non-boolean column but the keys."""
    return [c for c in events.columns
            if c not in (ID, TIMESTAMP, EVENT_TYPE)
            and pd.api.types.is_numeric_dtype(events[c].dtype) and not pd.api.types.is_bool_dtype(events[c].dtype)]


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


def value_column(events: pd.DataFrame, column: str, g: GroupedEvents) -> np.ndarray:
    """float64 values of `column` for the kept events of `g` (a fresh array); infinities -> NaN."""
    series = events[column]
    if isinstance(series.dtype, pd.api.extensions.ExtensionDtype):   # nullable ints/floats: NA -> NaN
        raw = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        raw = series.to_numpy(dtype=np.float64)                       # a view for float64: no copy
    values = g.gather(raw)
    np.copyto(values, np.nan, where=np.isinf(values))
    return values


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
        self.value_columns_ = numeric_value_columns(events)
        self.has_event_type_ = EVENT_TYPE in events.columns
        self.vocabulary_ = (fit_vocabulary(events[EVENT_TYPE], keep, self.max_event_types)
                            if self.has_event_type_ else [])
        self.history_start_ = pd.Timestamp(int(ts[keep].min()) if keep.any() else as_of_ns(as_of))
        self.windows_ = [int(w) for w in self.windows_days]
        if any(w <= 0 for w in self.windows_):
            raise InputError(f"windows_days must be positive, got {list(self.windows_days)}.")
        self.value_labels_ = column_labels(self.value_columns_)
        self.type_labels_ = column_labels(self.vocabulary_, reserved=[OTHER]) + [OTHER]
        self.feature_names_out_ = self._feature_names()
        log.info("event features: fitted on %d events, %d types (+other), value columns %s",
                 int(keep.sum()), len(self.vocabulary_), self.value_columns_)
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
        return max((as_of_ns(as_of) - self.history_start_.value) / DAY_NS, 0.0) + 1.0

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
