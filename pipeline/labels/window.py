"""The label windows: which cutoff, checked against the log, and the period of each split.

A random split labels every customer at one cutoff T. The out-of-time split (split.method: time) fits at
T - horizon (labels from [T - horizon, T)) and tests at T (labels from [T, T + horizon)): "fit now, score
the next period", and no test-period event reaches training.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.params import LabelParams
from pipeline.core.schema import EVENT_TYPE, TEST, TRAIN
from pipeline.data.validate_events import parse_cutoff

KINDS = ("churn", "repeat", "event")
SPLIT_METHODS = ("random", "time")
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Windows:
    """The cutoff of each split: both T for a random split; T - horizon and T out of time."""
    train: pd.Timestamp
    test: pd.Timestamp
    horizon: pd.Timedelta

    @property
    def out_of_time(self) -> bool:
        return self.train != self.test

    def cutoff(self, split: str) -> pd.Timestamp:
        return {TRAIN: self.train, TEST: self.test}[split]


def target_name(p: LabelParams) -> str:
    """The target's name in reports and meta.json, e.g. churn_60d."""
    return f"{p.kind}_{p.horizon_days:g}d"


def check_params(p: LabelParams, method: str) -> None:
    if p.kind not in KINDS:
        raise InputError(f"params: label.kind must be one of {list(KINDS)}, got {p.kind!r}.")
    if method not in SPLIT_METHODS:
        raise InputError(f"params: split.method must be one of {list(SPLIT_METHODS)}, got {method!r}.")
    if not p.horizon_days > 0:
        raise InputError(f"params: label.horizon_days must be positive, got {p.horizon_days:g}.")
    if p.min_history_days < 0:
        raise InputError(f"params: label.min_history_days must be >= 0, got {p.min_history_days:g}.")
    if p.kind == "event" and not p.event_types:
        raise InputError("params: label.kind 'event' needs label.event_types, the event types whose occurrence "
                         "is the positive outcome.")
    if p.event_types is not None and not p.event_types:
        raise InputError("params: label.event_types is an empty list; use null for every event type.")


def check_event_types(p: LabelParams, events: pd.DataFrame, has_type: bool, file_label: str) -> None:
    """label.event_types must name types the log has (a typo would silently label everyone alike)."""
    if p.event_types is None:
        return
    if not has_type:
        raise InputError(f"{file_label}: label.event_types {p.event_types} needs an event type column "
                         "(data.event_type_column), and the log has none.")
    known = set(events[EVENT_TYPE].dropna().unique().tolist())
    if unknown := [t for t in p.event_types if t not in known]:
        raise InputError(f"{file_label}: label.event_types {unknown} do not occur in column "
                         f"'{EVENT_TYPE}'; the log's types are {sorted(known)[:20]}.")


def resolve(p: LabelParams, timestamps: pd.Series, method: str, file_label: str,
            default: pd.Timestamp | None = None) -> Windows:
    """The cutoffs of both splits, checked: history before each, and the whole label window inside the log.
    label.cutoff, else `default` (the simulator's snapshot), else the latest cutoff the log covers."""
    horizon = pd.Timedelta(days=p.horizon_days)
    first, last = timestamps.min(), timestamps.max()
    # A log covers the day of its last event: date-only exports put every event at midnight.
    end = last.normalize() + DAY
    cutoff = parse_cutoff(p.cutoff, "label.cutoff") if p.cutoff is not None else default
    cutoff = end - horizon if cutoff is None else cutoff
    earliest = cutoff - horizon if method == "time" else cutoff
    if cutoff + horizon > end:
        raise InputError(f"{file_label}: the label window [{cutoff}, {cutoff + horizon}) runs past the end of the "
                         f"log (its last event is at {last}); set an earlier label.cutoff (at most {end - horizon}) "
                         "or a shorter label.horizon_days.")
    if earliest <= first:
        what = "the training cutoff (label.cutoff - horizon_days, split.method time)" if method == "time" else \
            "label.cutoff"
        raise InputError(f"{file_label}: {what} {earliest} is not after the log's first event ({first}): no "
                         "history to build features from; set a later label.cutoff.")
    return Windows(train=earliest, test=cutoff, horizon=horizon)
