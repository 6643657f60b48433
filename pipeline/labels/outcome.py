"""The label of each customer at one cutoff, from the qualifying events of [cutoff, cutoff + horizon).

Only the window's events decide the label; the events before the cutoff decide who is scored and nothing
else here. A customer is scored when he has qualifying history: an event strictly before the cutoff, and for
churn and repeat with label.event_types, one of those types. Without it his first event may lie inside the
window, so the window would decide who is scored: a repeat customer's first purchase would count as the
repeat ("no history -> positive", an inflated test score), a churner who never showed the watched activity
would be a churner by definition. A customers table restricts who is scored; it never adds a customer
without history. For `event` any prior event suffices (its types are the outcome, e.g. a first upgrade, so
prior ones cannot be asked for), but one is needed: a table row with no event before the cutoff cannot be
known to have been a customer at the cutoff (the table is exported after the window), and a signup inside
the window often is the very event the label watches.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.params import LabelParams
from pipeline.core.schema import EVENT_TYPE, ID, TARGET, TIMESTAMP


@dataclass(frozen=True)
class Labels:
    frame: pd.DataFrame       # ID, TARGET (int8): the customers scored at this cutoff
    short_history: int        # customers left out for less than label.min_history_days of history
    no_history: int           # customers left out without qualifying history before the cutoff (see above)


def label_at(events: pd.DataFrame, cutoff: pd.Timestamp, horizon: pd.Timedelta, p: LabelParams,
             customer_ids: pd.Series | None = None) -> Labels:
    """Customers at `cutoff` (those with an event before it, or the table's `customer_ids` among them) with
    qualifying history, and their labels. `events`: the validated log (ID, TIMESTAMP, [EVENT_TYPE]), any order."""
    ts, ids = events[TIMESTAMP], events[ID]
    before = ts < cutoff
    first = ts[before].groupby(ids[before]).min()
    listed = pd.Index(first.index if customer_ids is None else customer_ids, dtype=object)
    known = listed.isin(_with_history(events[before], p))
    scored = listed[known]
    history_days = ((cutoff - first.reindex(scored)) / pd.Timedelta(days=1)).to_numpy()
    keep = history_days >= p.min_history_days
    scored = scored[keep]
    window = (ts >= cutoff) & (ts < cutoff + horizon)
    if p.event_types is not None:
        window &= events[EVENT_TYPE].isin(p.event_types)
    hit = scored.isin(pd.unique(ids[window]))
    target = ~hit if p.kind == "churn" else hit
    frame = pd.DataFrame({ID: scored.to_numpy(dtype=object), TARGET: target.astype(np.int8)})
    return Labels(frame, int((~keep).sum()), int((~known).sum()))


def _watches_types(p: LabelParams) -> bool:
    """Churn and repeat are about the watched activity, so they presuppose some of it before the cutoff."""
    return p.event_types is not None and p.kind in ("churn", "repeat")


def _with_history(past: pd.DataFrame, p: LabelParams) -> np.ndarray:
    """The ids with qualifying history among `past`, the events strictly before the cutoff (nothing later)."""
    if _watches_types(p):
        past = past[past[EVENT_TYPE].isin(p.event_types)]
    return pd.unique(past[ID])


def history_reason(p: LabelParams) -> str:
    """Why a customer without qualifying history is left out, for the warning (label.event_types named)."""
    types = f"{' or '.join(p.event_types)} event" if _watches_types(p) else "event"
    if p.kind == "repeat":
        return (f"a repeat presupposes a first {types} before the cutoff (one in the label window would count as "
                "the repeat)")
    if p.kind == "churn":
        return (f"churn presupposes activity ({types}) before the cutoff (else the label window alone decides "
                "the label)")
    return "no event before the cutoff shows they were customers at it (a first event in the window would decide it)"


def check_classes(labels: Labels, cutoff: pd.Timestamp, p: LabelParams, file_label: str, split: str) -> None:
    """Both classes must occur, or there is nothing to learn (or to test)."""
    counts = labels.frame[TARGET].value_counts()
    n = len(labels.frame)
    if n == 0:
        types = "" if not _watches_types(p) else f" with a {' or '.join(p.event_types)} event"
        raise InputError(f"{file_label}: no customer has {p.min_history_days:g}+ days of history{types} before the "
                         f"{split} cutoff {cutoff} (label.min_history_days, label.event_types); lower it or choose "
                         "a later cutoff.")
    for value, name in ((1, "positives"), (0, "negatives")):
        if not counts.get(value, 0):
            raise InputError(f"{file_label}: label {p.kind!r} over {p.horizon_days:g} days at the {split} cutoff "
                             f"{cutoff} has no {name} among {n:,} customers; check label.kind, label.event_types "
                             "and label.horizon_days.")
