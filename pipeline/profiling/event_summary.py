"""Event-log description for the eda stage, and simple per-customer aggregates to relate to the target.

The description covers the whole kept log (both splits); the aggregates are built for the customers
they are given (eda passes train only), with event types chosen from those customers' events.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.schema import EVENT_TYPE, ID, TARGET, TIMESTAMP
from pipeline.profiling.stats import describe_numeric, histogram, level_labels, share

log = logging.getLogger(__name__)

DAY = pd.Timedelta(days=1)
RECENT_DAYS = 30
MAX_WEEKLY_TYPES = 5                   # lines in the events-over-time chart besides the total


def as_of_time(events: pd.DataFrame, meta: dict[str, Any], key: str = "as_of") -> pd.Timestamp:
    """Reference time for recency: meta's as_of (the cutoff; `as_of_train` for the training customers, who are
    measured at an earlier cutoff out of time), else the latest kept event."""
    value = meta.get(key) or meta.get("as_of")
    return pd.Timestamp(value) if value else events[TIMESTAMP].max()


def type_counts(events: pd.DataFrame) -> list[dict[str, Any]]:
    """Events and distinct customers per event type, most frequent first (ties by name)."""
    types = level_labels(events[EVENT_TYPE])
    grouped = events[ID].groupby(types).agg(["size", "nunique"])
    rows = sorted(grouped.itertuples(), key=lambda r: (-r.size, r.Index))
    return [{"type": r.Index, "count": int(r.size), "share": share(int(r.size), len(events)),
             "customers": int(r.nunique)} for r in rows]


def weekly_counts(events: pd.DataFrame, types: list[str], as_of: pd.Timestamp) -> dict[str, Any]:
    """Events per calendar week (Monday start), in total and for the given types; empty weeks are 0.

    A week is flagged partial when the log starts after its Monday or as_of falls before its end,
    so a dip at either end is not read as a trend.
    """
    ts = events[TIMESTAMP]
    week = ts.dt.normalize() - pd.to_timedelta(ts.dt.day_of_week, unit="D")
    weeks = pd.date_range(week.min(), week.max(), freq="7D")
    partial = [bool(w < ts.min().normalize() or as_of < w + 7 * DAY) for w in weeks]
    total = week.value_counts().reindex(weeks, fill_value=0)
    by_type: dict[str, list[int]] = {}
    if types:
        labels = level_labels(events[EVENT_TYPE])
        keep = labels.isin(types)
        table = week[keep].groupby([week[keep], labels[keep]]).size().unstack(fill_value=0)
        table = table.reindex(index=weeks, columns=types, fill_value=0)
        by_type = {t: table[t].astype(int).tolist() for t in types}
    return {"week_start": [d.date().isoformat() for d in weeks], "total": total.astype(int).tolist(),
            "by_type": by_type, "partial": partial}


def per_customer(events: pd.DataFrame, splits: dict[str, pd.DataFrame], bins: int) -> dict[str, Any]:
    """Distribution of events per customer (zeros included) per split, and its histogram by class."""
    counts = events[ID].value_counts()
    series = {name: pd.Series(counts.reindex(frame[ID], fill_value=0).to_numpy(float)) for name, frame in splits.items()}
    out: dict[str, Any] = {}
    for name, c in series.items():
        zero = int((c == 0).sum())
        out[name] = {"customers": len(c), "events": int(c.sum()), "zero_events": zero, "zero_share": share(zero, len(c)),
                     **{k: v for k, v in describe_numeric(c).items() if k not in ("n", "missing", "n_unique")}}
    y_train = splits["train"][TARGET].to_numpy()
    out["histogram"] = histogram(series["train"], series["test"], y_train, bins)
    return out


def summarise_events(events: pd.DataFrame, splits: dict[str, pd.DataFrame], meta: dict[str, Any],
                     bins: int) -> dict[str, Any]:
    """Size, time span, per-customer distribution, types, weekly volume and value columns of the log."""
    first, last = events[TIMESTAMP].min(), events[TIMESTAMP].max()
    types = type_counts(events) if meta.get("has_event_type") and EVENT_TYPE in events else []
    value_columns = [c for c in meta.get("event_numeric", []) if c in events]
    return {
        "n_events": len(events),
        "n_customers_with_events": int(events[ID].nunique()),
        "time": {"first": first, "last": last, "span_days": (last - first) / DAY if len(events) else None,
                 "as_of": as_of_time(events, meta) if len(events) else None, "cutoff": meta.get("cutoff")},
        "per_customer": per_customer(events, splits, bins),
        "types": types,
        "weekly": (weekly_counts(events, [t["type"] for t in types[:MAX_WEEKLY_TYPES]], as_of_time(events, meta))
                   if len(events) else None),
        "numeric": {c: describe_numeric(events[c]) for c in value_columns},
    }


def customer_aggregates(events: pd.DataFrame, ids: pd.Series, as_of: pd.Timestamp, max_types: int,
                        value_columns: list[str]) -> pd.DataFrame:
    """One row per id (in the order given): counts, recency, counts per type, sums/means of value columns."""
    ev = events[events[ID].isin(set(ids)) & (events[TIMESTAMP] < as_of)]   # out of time later events are labels
    grouped = ev.groupby(ID)
    index = pd.Index(ids, name=ID)
    out = pd.DataFrame(index=index)
    out["event count"] = grouped.size().reindex(index, fill_value=0)
    recent = ev[ev[TIMESTAMP] >= as_of - RECENT_DAYS * DAY]
    out[f"events in last {RECENT_DAYS} days"] = recent.groupby(ID).size().reindex(index, fill_value=0)
    # Customers without events have no recency: left missing, so relations use only those with events.
    out["days since last event"] = ((as_of - grouped[TIMESTAMP].max()) / DAY).reindex(index)
    out["days since first event"] = ((as_of - grouped[TIMESTAMP].min()) / DAY).reindex(index)
    if EVENT_TYPE in ev and len(ev):
        types = [t["type"] for t in type_counts(ev)[:max_types]]   # chosen on these (train) customers' events
        labels = level_labels(ev[EVENT_TYPE])
        table = ev[ID].groupby([ev[ID], labels]).size().unstack(fill_value=0)
        table = table.reindex(index=index, columns=types, fill_value=0)
        for t in types:
            out[f"count of {t}"] = table[t]
    for column in value_columns:
        out[f"sum of {column}"] = grouped[column].sum().reindex(index, fill_value=0.0)
        out[f"mean of {column}"] = grouped[column].mean().reindex(index)
    return out.reset_index(drop=True).astype(np.float64)
