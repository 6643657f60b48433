"""The label of each customer at one cutoff, from the qualifying events of [cutoff, cutoff + horizon).

Only the window's events decide the label; the events before the cutoff decide who is scored (customers
with history, or the customers table's rows) and nothing else here.
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


def label_at(events: pd.DataFrame, cutoff: pd.Timestamp, horizon: pd.Timedelta, p: LabelParams,
             customer_ids: pd.Series | None = None) -> Labels:
    """Customers at `cutoff` (those with an event before it, or `customer_ids` when a table lists them) and
    their labels. `events`: the validated log (ID, TIMESTAMP, [EVENT_TYPE]), any order."""
    ts, ids = events[TIMESTAMP], events[ID]
    first = ts[ts < cutoff].groupby(ids[ts < cutoff]).min()
    scored = pd.Index(first.index if customer_ids is None else customer_ids, dtype=object)
    history_days = ((cutoff - first.reindex(scored)) / pd.Timedelta(days=1)).fillna(0.0).to_numpy()
    keep = history_days >= p.min_history_days
    scored = scored[keep]
    window = (ts >= cutoff) & (ts < cutoff + horizon)
    if p.event_types is not None:
        window &= events[EVENT_TYPE].isin(p.event_types)
    hit = scored.isin(pd.unique(ids[window]))
    target = ~hit if p.kind == "churn" else hit
    frame = pd.DataFrame({ID: scored.to_numpy(dtype=object), TARGET: target.astype(np.int8)})
    return Labels(frame, int((~keep).sum()))


def check_classes(labels: Labels, cutoff: pd.Timestamp, p: LabelParams, file_label: str, split: str) -> None:
    """Both classes must occur, or there is nothing to learn (or to test)."""
    counts = labels.frame[TARGET].value_counts()
    n = len(labels.frame)
    if n == 0:
        raise InputError(f"{file_label}: no customer has {p.min_history_days:g}+ days of history before the "
                         f"{split} cutoff {cutoff} (label.min_history_days); lower it or choose a later cutoff.")
    for value, name in ((1, "positives"), (0, "negatives")):
        if not counts.get(value, 0):
            raise InputError(f"{file_label}: label {p.kind!r} over {p.horizon_days:g} days at the {split} cutoff "
                             f"{cutoff} has no {name} among {n:,} customers; check label.kind, label.event_types "
                             "and label.horizon_days.")
