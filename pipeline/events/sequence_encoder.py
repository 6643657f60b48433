"""`SequenceEncoder`: an event log -> `SequenceBatch` of each customer's last `max_len` events.

Fitted on the training customers' events (type vocabulary, channel means and standard deviations;
`fit(events, as_of, customer_ids=train_ids)` restricts a whole log), it turns any customers' events
into the LAST `max_len` events strictly before `as_of` of each customer, in time order, left-aligned
(the layout pipeline/events/sequences.py describes).

Value channels, each standardised with the fitted mean/std, then NaN -> 0 (= the training mean):
  <c>             each numeric value column of the events (NaN for e.g. non-monetary events)
  log_gap_hours   log1p(hours since the customer's previous event); NaN for the first event ever
                  (the previous event counts even when truncation dropped it)
  log_age_days    log1p(days from the event to as_of)
  dow_sin/cos     the day of the week on a circle (Sunday next to Monday)
  hour_sin/cos    the time of day on a circle, only when the training timestamps carry one (not all midnight)
EBES (2025) found that dropping time features costs a GRU far more than shuffling its events' order.
Padding positions are 0 in every array; `lengths` tells real from padding. pack_padded_sequence
refuses length 0, so a model clamps `lengths` to at least 1: the all-zero step then means "no events".
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from pipeline.core.errors import InputError
from pipeline.core.schema import EVENT_TYPE
from pipeline.events.grouping import (
    CustomerIds,
    GroupedEvents,
    fit_vocabulary,
    group_events,
    numeric_value_columns,
    type_codes,
    value_column,
)
from pipeline.events.sequences import FIRST_TYPE_ID, UNKNOWN, SequenceBatch

log = logging.getLogger(__name__)

GAP_CHANNEL, AGE_CHANNEL = "log_gap_hours", "log_age_days"
WEEK_CHANNELS, DAY_CHANNELS = ("dow_sin", "dow_cos"), ("hour_sin", "hour_cos")
EPOCH_WEEKDAY = 3   # 1970-01-01 was a Thursday (Monday = 0)
HOUR_NS, DAY_NS = 3_600 * 10**9, 86_400 * 10**9


class SequenceEncoder(BaseEstimator):
    """Event log -> `SequenceBatch` of the last `max_len` events per customer."""

    def __init__(self, max_len: int = 64, max_event_types: int = 30):
        self.max_len = max_len
        self.max_event_types = max_event_types

    def fit(self, events: pd.DataFrame, as_of: pd.Timestamp | str,
            customer_ids: CustomerIds | None = None) -> SequenceEncoder:
        """Learn the type vocabulary and each channel's mean/std from these events only.

        Pass the train customers' events, or the whole log with `customer_ids` = the train ids
        (same result, no filtered copy of the table). Events at/after `as_of` are ignored.
        """
        if self.max_len < 1:
            raise InputError(f"max_len must be at least 1, got {self.max_len}.")
        g = group_events(events, as_of, customer_ids)
        self.value_columns_ = numeric_value_columns(events)
        self.has_event_type_ = EVENT_TYPE in events.columns
        self.vocabulary_ = []
        if self.has_event_type_:
            self.vocabulary_ = fit_vocabulary(events[EVENT_TYPE], g.kept_mask(len(events)), self.max_event_types)
        self.time_of_day_ = bool(len(g.ts)) and bool(np.any(g.ts % DAY_NS))
        self.channels_ = [*self.value_columns_, GAP_CHANNEL, AGE_CHANNEL, *WEEK_CHANNELS,
                          *(DAY_CHANNELS if self.time_of_day_ else ())]
        stats = np.array([_mean_std(raw) for raw in self._raw_channels(events, g)]).reshape(-1, 2)
        self.means_, self.stds_ = stats[:, 0], stats[:, 1]
        log.info("sequences: fitted on %d events, %d types (+other), channels %s",
                 len(g.ts), len(self.vocabulary_), self.channels_)
        return self

    @property
    def type_names_(self) -> list[str]:
        check_is_fitted(self)
        return ["<pad>", "<other>", *self.vocabulary_]

    def ages_days(self, batch: SequenceBatch) -> np.ndarray:
        """[n, L] days from each event to as_of, undoing the age channel's standardisation (padding: inf)."""
        check_is_fitted(self)
        j = self.channels_.index(AGE_CHANNEL)
        ages = np.expm1(batch.values[:, :, j].astype(np.float64) * self.stds_[j] + self.means_[j])
        return np.where(np.arange(batch.types.shape[1])[None, :] < batch.lengths[:, None], ages, np.inf)

    def transform(self, events: pd.DataFrame, customer_ids: CustomerIds,
                  as_of: pd.Timestamp | str) -> SequenceBatch:
        """The last `max_len` events before `as_of` of each id of `customer_ids`, in that row order."""
        check_is_fitted(self)
        if missing := [c for c in self.value_columns_ if c not in events.columns]:
            raise InputError(f"events lack value column(s) {missing} that the sequences were fitted with.")
        if self.has_event_type_ and EVENT_TYPE not in events.columns:
            raise InputError(f"events lack column '{EVENT_TYPE}' that the sequences were fitted with.")
        g = group_events(events, as_of, customer_ids)
        n, length = len(g.index), self.max_len
        lengths = np.zeros(n, dtype=np.int32)
        lengths[g.rows] = np.minimum(g.counts, length)
        sel, flat = _tail_slots(g, length)
        types = np.zeros((n, length), dtype=np.int32)
        types.reshape(-1)[flat] = self._type_ids(events, g, sel)
        values = np.zeros((n, length, len(self.channels_)), dtype=np.float32)
        slots = values.reshape(n * length, len(self.channels_))   # a view: filled in place
        for j, raw in enumerate(self._raw_channels(events, g)):
            slots[flat, j] = self._standardise(raw[sel], j)
        log.info("sequences: %d customers x %d steps x %d channels, %d events kept of %d before as_of",
                 n, length, len(self.channels_), len(sel), len(g.ts))
        return SequenceBatch(types=types, values=values, lengths=lengths,
                             customer_ids=np.asarray(g.index, dtype=object),
                             channels=list(self.channels_), type_names=self.type_names_)

    def _type_ids(self, events: pd.DataFrame, g: GroupedEvents, sel: np.ndarray) -> np.ndarray:
        if not self.has_event_type_:
            return np.full(len(sel), UNKNOWN, dtype=np.int32)
        codes = type_codes(events[EVENT_TYPE], self.vocabulary_, g)[sel]
        return np.where(codes == len(self.vocabulary_), UNKNOWN, codes + FIRST_TYPE_ID).astype(np.int32)

    def _raw_channels(self, events: pd.DataFrame, g: GroupedEvents) -> Iterator[np.ndarray]:
        """Each channel's unstandardised values for all kept events, one at a time (bounded memory)."""
        for column in self.value_columns_:
            yield value_column(events, column, g)
        yield _log_gaps(g)   # on the full history: the first kept step still sees its real previous event
        yield _log_ages(g)
        yield from _on_circle((g.ts // DAY_NS + EPOCH_WEEKDAY) % 7, 7)
        if self.time_of_day_:
            yield from _on_circle((g.ts % DAY_NS) / HOUR_NS, 24)

    def _standardise(self, raw: np.ndarray, j: int) -> np.ndarray:
        """(raw - mean) / std in float32, NaN -> 0 (the training mean); `raw` is overwritten."""
        raw -= self.means_[j]
        raw /= self.stds_[j]
        scaled = raw.astype(np.float32)
        np.copyto(scaled, 0.0, where=np.isnan(scaled))
        return scaled


def _tail_slots(g: GroupedEvents, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Which kept events fit in the last `length` of their customer, and their flat [row * L + pos] slot."""
    position = np.arange(len(g.ts), dtype=np.int64)
    position -= g.starts[g.group]                              # index within the customer, oldest = 0
    position -= np.maximum(g.counts - length, 0)[g.group]      # shift so the newest `length` are 0..L-1
    sel = np.flatnonzero(position >= 0)
    flat = g.rows[g.group[sel]] * length + position[sel]
    return sel, flat


def _log_gaps(g: GroupedEvents) -> np.ndarray:
    """log1p(hours since the previous event of the same customer); NaN for a customer's first event."""
    gaps = np.empty(len(g.ts), dtype=np.float64)
    if len(g.ts):
        gaps[0] = np.nan
        np.subtract(g.ts[1:], g.ts[:-1], out=gaps[1:])
        gaps[g.starts] = np.nan
    gaps /= HOUR_NS
    return np.log1p(gaps, out=gaps)


def _log_ages(g: GroupedEvents) -> np.ndarray:
    """log1p(days from each event to as_of); positive because only events before as_of are kept."""
    ages = np.empty(len(g.ts), dtype=np.float64)
    np.subtract(g.as_of_ns, g.ts, out=ages)       # one full-size array, reused in place below
    ages /= DAY_NS
    return np.log1p(ages, out=ages)


def _on_circle(position: np.ndarray, period: float) -> Iterator[np.ndarray]:
    """sin and cos of a cyclic quantity, so the end of the cycle sits next to its start."""
    angle = position * (2 * np.pi / period)
    yield np.sin(angle)
    yield np.cos(angle)


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and std (ddof=0) over the finite values; std 1 for a constant or empty channel."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    mean, std = float(finite.mean()), float(finite.std())
    return mean, std if std > 0 else 1.0
