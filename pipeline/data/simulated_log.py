"""The simulator as a raw event log whose outcome is written into the log (label.from_events).

With `label.from_events` the target is read off the log (pipeline/labels), so the log must carry the outcome.
It is a chain of label periods of `horizon_days`, each drawn from the simulator's truth:
1. The history before T - horizon (T = the snapshot) is the simulator's, unchanged.
2. At T - horizon the true probability (pipeline/data/simulator.py's logit, measured at that time, intercept
   solved for `positive_rate`) draws who churns; the events of [T - horizon, T) are redrawn: none for a
   churner, at least one for everyone else. So the training label of an out-of-time split is an outcome of
   the same process, not an accident of the history.
3. At T the true probability from the whole history draws churn again, and [T, T + horizon) is drawn the
   same way. The label `churn` built from the log at T (all event types) equals that draw, and its
   probability is the truth (the oracle row); other labels get no truth.
A period's events: 1 + Poisson(the customer's rate over the 90 days before its start x horizon), uniform in
the period, each repeating the type of a random past event of the customer (the global mix for a customer
without any), amounts drawn as the simulator draws them. A separate seeded stream: `simulate` is unchanged.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.params import SyntheticParams
from pipeline.data.simulator import (
    AMOUNT,
    EVENT_TYPE,
    EVENT_TYPES,
    ID,
    LOG_INCOME_MEAN,
    PAY_FAILED,
    PAY_OK,
    PURCHASE,
    TARGET,
    TIMESTAMP,
    TRUE_PROBABILITY,
    event_logit,
    simulate,
    solve_intercept,
    static_logit,
)

STREAM = 7_331     # second entropy word of this module's generator: independent of the history's stream
RATE_DAYS = 90.0   # a period's event rate is the customer's over this many days before it


@dataclass(frozen=True)
class SimulatedLog:
    customers: pd.DataFrame   # static features (with the simulator's mess), no target column
    events: pd.DataFrame      # history and both periods, sorted by customer and time; only p.event_types
    truth: pd.DataFrame       # ID, true_probability of churn over [T, T + horizon) -- NEVER a feature


def simulate_log(p: SyntheticParams, seed: int, horizon_days: float) -> SimulatedLog:
    """The whole chain; fully determined by (p, seed, horizon_days)."""
    sim = simulate(p, seed)
    rng = np.random.default_rng([seed, STREAM])
    history = sim.events if sim.all_events is None else sim.all_events
    ids, static = sim.clean[ID], static_logit(sim.clean)
    snapshot, horizon = pd.Timestamp(p.snapshot_date), pd.Timedelta(days=horizon_days)
    before = history[history[TIMESTAMP] < snapshot - horizon]
    churned, _ = _draw_outcome(before, ids, static, dataclasses.replace(p, snapshot_date=str(snapshot - horizon)), rng)
    history = _append(before, _period(before, churned, snapshot - horizon, horizon_days, sim.clean, rng))
    churned, probability = _draw_outcome(history, ids, static, p, rng)
    events = _append(history, _period(history, churned, snapshot, horizon_days, sim.clean, rng))
    if p.event_types:
        events = events[events[EVENT_TYPE].isin(p.event_types)].reset_index(drop=True)
        events[EVENT_TYPE] = pd.Categorical(events[EVENT_TYPE].astype(str),
                                            categories=[t for t in EVENT_TYPES if t in p.event_types])
    truth = pd.DataFrame({ID: ids.to_numpy(), TRUE_PROBABILITY: probability})
    return SimulatedLog(sim.customers.drop(columns=[TARGET]), events, truth)


def _draw_outcome(events: pd.DataFrame, ids: pd.Series, static: np.ndarray, p: SyntheticParams,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(churned, probability) at p.snapshot_date from the events before it."""
    partial = static + event_logit(events, ids, p)
    probability = 1.0 / (1.0 + np.exp(-(solve_intercept(partial, p.positive_rate) + partial)))
    return rng.random(len(ids)) < probability, probability


def _append(history: pd.DataFrame, period: pd.DataFrame) -> pd.DataFrame:
    both = pd.concat([history, period], ignore_index=True)
    both[EVENT_TYPE] = pd.Categorical(both[EVENT_TYPE].astype(str), categories=list(EVENT_TYPES))
    return both.sort_values([ID, TIMESTAMP], kind="mergesort").reset_index(drop=True)


def _period(history: pd.DataFrame, churned: np.ndarray, start: pd.Timestamp, horizon_days: float,
            clean: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Events of [start, start + horizon): none for a churner, 1 + Poisson(recent rate x horizon) otherwise."""
    ids = clean[ID].to_numpy(dtype=object)
    position = pd.Index(ids).get_indexer(history[ID].to_numpy(dtype=object))
    code = pd.Categorical(history[EVENT_TYPE].astype(str), categories=list(EVENT_TYPES)).codes.astype(np.int64)
    recent = (history[TIMESTAMP] >= start - pd.Timedelta(days=RATE_DAYS)).to_numpy()
    rate = np.bincount(position[recent], minlength=len(ids)) / RATE_DAYS
    counts = np.where(churned, 0, 1 + rng.poisson(rate * horizon_days))
    cust = np.repeat(np.arange(len(ids)), counts)
    types = _types(cust, position, code, len(ids), rng)
    offset = (rng.random(len(cust)) * horizon_days * 86_400).astype(np.int64) * 10**9   # whole seconds
    return pd.DataFrame({
        ID: ids[cust],
        TIMESTAMP: (start.value + offset).view("datetime64[ns]"),
        EVENT_TYPE: pd.Categorical.from_codes(types, categories=list(EVENT_TYPES)),
        AMOUNT: _amounts(cust, types, clean, rng),
    })


def _types(cust: np.ndarray, position: np.ndarray, code: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Each new event repeats the type of a uniformly drawn past event of its customer (global mix if none)."""
    order = np.argsort(position, kind="stable")
    sorted_codes = np.append(code[order], 0)          # one pad entry: a customer without history indexes it
    start = np.searchsorted(position[order], np.arange(n + 1))
    n_past = start[cust + 1] - start[cust]
    pick = start[cust] + (rng.random(len(cust)) * np.maximum(n_past, 1)).astype(np.int64)
    mix = np.bincount(code, minlength=len(EVENT_TYPES)) / len(code) if len(code) else None
    fallback = rng.choice(len(EVENT_TYPES), size=len(cust), p=mix)
    return np.where(n_past > 0, sorted_codes[pick], fallback).astype(np.int8)


def _amounts(cust: np.ndarray, types: np.ndarray, clean: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    amount = np.full(len(cust), np.nan)
    purchase, payment = types == PURCHASE, (types == PAY_OK) | (types == PAY_FAILED)
    income_factor = (clean["income"].to_numpy() / np.exp(LOG_INCOME_MEAN)) ** 0.3
    amount[purchase] = np.round(rng.lognormal(3.3, 1.0, purchase.sum()) * income_factor[cust[purchase]], 2)
    amount[payment] = clean["monthly_fee"].to_numpy()[cust[payment]]
    return amount
