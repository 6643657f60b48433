"""Controlled damage to an event log, to measure what a model reads from it (explain stage, bench_order).

`permute_times` keeps every event, every value and each customer's set of timestamps, and only
destroys the ORDER: a model that uses counts and totals loses nothing, one that reads the sequence
loses the order-only signal. `drop_event_type` removes every event of one type.
Neither modifies its input.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.schema import EVENT_TYPE, ID, TIMESTAMP


def permute_times(events: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Randomly reassign each customer's timestamps among its events (vectorised, seeded)."""
    ordered = events.sort_values([ID, TIMESTAMP], kind="stable").reset_index(drop=True)
    codes = pd.factorize(ordered[ID])[0]
    # lexsort: by customer first, then by a random key -> a random order of each customer's events
    order = np.lexsort((np.random.default_rng(seed).random(len(ordered)), codes))
    shuffled = ordered.iloc[order].reset_index(drop=True)
    shuffled[TIMESTAMP] = ordered[TIMESTAMP].to_numpy()   # k-th time of the customer goes to a random event
    return shuffled.sort_values([ID, TIMESTAMP], kind="stable").reset_index(drop=True)


def drop_event_type(events: pd.DataFrame, event_type: str) -> tuple[pd.DataFrame, int]:
    """The events without any of type `event_type`, and how many were removed."""
    if EVENT_TYPE not in events.columns:
        raise InputError(f"events have no '{EVENT_TYPE}' column; cannot drop type {event_type!r}.")
    hit = (events[EVENT_TYPE] == event_type).to_numpy()
    return events.loc[~hit].reset_index(drop=True), int(hit.sum())


def event_types(events: pd.DataFrame) -> list[str]:
    """Distinct, non-missing event types, sorted (empty without an event_type column)."""
    if EVENT_TYPE not in events.columns:
        return []
    return sorted(str(t) for t in events[EVENT_TYPE].dropna().unique())
