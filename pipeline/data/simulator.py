"""Embedded synthetic customer simulator: a seeded subscription business with a known truth.

`simulate(p, seed)` draws the tables and `write_tables` writes them, each atomically
(`python -m pipeline.simulate` is the command line):
  DIR/customers.<fmt>  customer_id (str "C0000042"), churn (0/1), static features (numeric and categorical)
  DIR/events.<fmt>     customer_id, timestamp (< snapshot_date), event_type, amount (NaN unless monetary);
                       only the `event_types` listed (default all): the others still happen and drive the outcome
  DIR/truth.<fmt>      customer_id, true_probability -- the generating probability; NEVER a feature
Column names are the params.yaml `data.*` defaults, so DIR can be fed back in as `source: files`.

Generative story (all vectorised; one `np.random.default_rng(seed)` stream, so (params, seed) fixes everything):
1. Static attributes. Latents per customer: engagement e, satisfaction s (corr. with e) and financial stress
   (corr. with low income). Observed: age, income (lognormal, heavy tail), tenure_months (exponential),
   plan (basic/standard/premium) -> monthly_fee, support_calls (Poisson, more when unhappy), satisfaction
   (1-10), region (6 levels), channel (5 levels, "tv" rare), payment_method (4 levels).
2. Events over the last `history_days` before `snapshot_date` (or since signup, if later). Each type's
   count is Poisson (so the total is too), mean `events_per_customer` overall; rates follow engagement,
   tickets follow unhappiness, failed payments follow stress, ~3 % dormant customers have no events. Times
   are drawn i.i.d. per customer from a density that decays towards the snapshot for at-risk customers
   ("fading activity"), by inverse CDF. Amounts: purchases lognormal, payments the customer's fee.
3. Outcome. logit = intercept + static_logit(clean static values) + event_logit(events), where the event
   part uses recency, frequency, trend (last 30 days vs the 90 before), ticket and failed-payment counts,
   and an ORDER-ONLY term: +order_effect when, within the last 90 days, a support_ticket is followed
   (strictly later) by a payment_failed. Type counts and the multiset of a customer's timestamps are all
   the other event terms see, so permuting timestamps within a customer changes only the order term;
   with ~1 ticket and ~1 failure in the window, counts cannot tell the order (it is a coin flip).
   A second, stronger order-only term, +order_pattern_effect (default 0: off), spans the whole history:
   `browse_then_login`, more page_view -> login steps than login -> page_view steps between consecutive
   events (ties: most (page_view, login) pairs in page_view-first order). Reversing a customer's event order
   swaps the two sides, so given the counts it is a coin flip (about half of the customers with both
   types); it is local in the sequence and hardly visible to per-type recency.
   The intercept is solved by bisection so the mean true probability is `positive_rate`;
   churn ~ Bernoulli(true_probability). With `event_types` set, events.<fmt> keeps only those types (a
   retailer that sees only purchases); the truth uses every event, unobserved ones included.
4. Mess, applied after the truth is computed (the truth uses clean values, kept in `SimulatedData.clean`):
   age missing at random (more for store/partner channels: MAR), income missing more when high and
   satisfaction missing more when low (MNAR), region/payment_method missing completely at random, all
   scaled by `missing_rate`; on a share `outlier_rate` of rows one data-entry error: monthly_fee x100,
   age 999, income x100 or tenure typed in days (x30).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.errors import InputError
from pipeline.core.io import atomic_path, write_parquet
from pipeline.core.params import SyntheticParams

log = logging.getLogger(__name__)

ID, TARGET = "customer_id", "churn"
TIMESTAMP, EVENT_TYPE, AMOUNT = "timestamp", "event_type", "amount"
TRUE_PROBABILITY = "true_probability"
EVENT_TYPES = ("login", "page_view", "purchase", "support_ticket", "payment_ok", "payment_failed")
LOGIN, PAGE_VIEW, PURCHASE, TICKET, PAY_OK, PAY_FAILED = range(len(EVENT_TYPES))
# level -> (share of customers, log-odds effect on the outcome)
PLANS = {"basic": (0.50, 0.25), "standard": (0.33, 0.0), "premium": (0.17, -0.35)}
PLAN_FEES = (19.99, 39.99, 79.99)
REGIONS = {"north": (0.22, 0.0), "south": (0.20, 0.10), "east": (0.18, -0.05), "west": (0.18, 0.0),
           "central": (0.15, -0.10), "islands": (0.07, 0.30)}
CHANNELS = {"web": (0.45, 0.0), "store": (0.25, -0.20), "referral": (0.15, -0.35), "partner": (0.13, 0.30),
            "tv": (0.02, 0.60)}
PAYMENTS = {"card": (0.45, 0.0), "direct_debit": (0.25, -0.30), "paypal": (0.20, 0.05), "invoice": (0.10, 0.45)}
CATEGORICALS = {"plan": PLANS, "region": REGIONS, "channel": CHANNELS, "payment_method": PAYMENTS}
ORDER_WINDOW_DAYS = 90.0   # the ticket -> failed-payment pattern counts only among recent events
RECENT_DAYS, EARLIER_DAYS = 30.0, 90.0
LOG_INCOME_MEAN, LOG_INCOME_SD = 10.4, 0.6
DAY_NS = 86_400 * 10**9
TYPE_BITS = 3              # event type code packed into the low bits of the sort key


@dataclass(frozen=True)
class SimulatedData:
    """The three written tables, plus what is needed to re-apply the true outcome function.

    `clean` is the customer table before missing values and outliers (same columns, no churn); the truth
    uses these values. `intercept` is the solved intercept. See `outcome_logit`. `all_events` is the full
    log when `event_types` hides some types (None: `events` is the full log).
    """

    customers: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame
    clean: pd.DataFrame
    intercept: float
    all_events: pd.DataFrame | None = None


def simulate(p: SyntheticParams, seed: int) -> SimulatedData:
    """Draw customers, events and outcomes; fully determined by (p, seed)."""
    _check_params(p)
    rng = np.random.default_rng(seed)
    clean, latent = _draw_static(p.n_customers, rng)
    cust, days_before, code, tsec = _draw_event_arrays(clean, latent, p, rng)
    partial = static_logit(clean) + _event_logit_arrays(cust, days_before, code, p.n_customers, p)
    intercept = solve_intercept(partial, p.positive_rate)
    probability = _sigmoid(intercept + partial)
    churn = (rng.random(p.n_customers) < probability).astype(np.int64)
    customers = _add_mess(clean, p, rng)
    customers.insert(1, TARGET, churn)
    events = _events_frame(clean[ID], cust, code, tsec, clean, p, rng)
    truth = pd.DataFrame({ID: clean[ID], TRUE_PROBABILITY: probability})
    if not p.event_types:
        return SimulatedData(customers, events, truth, clean, float(intercept))
    return SimulatedData(customers, _observed(events, p.event_types), truth, clean, float(intercept), events)


def _observed(events: pd.DataFrame, event_types: list[str]) -> pd.DataFrame:
    """The written log: only events of `event_types` (after every draw, so nothing else changes)."""
    kept = events[events[EVENT_TYPE].isin(event_types)].reset_index(drop=True)
    categories = [t for t in EVENT_TYPES if t in event_types]
    return kept.assign(**{EVENT_TYPE: pd.Categorical(kept[EVENT_TYPE].astype(str), categories=categories)})


def outcome_logit(sim: SimulatedData, p: SyntheticParams, events: pd.DataFrame | None = None) -> np.ndarray:
    """The true generative logit, re-applied to `events` (default: the full log); aligned to sim.customers rows.

    Static terms come from the clean values in `sim.clean`, so this works on any (e.g. reordered or
    time-shuffled) event table with the simulator's column names. sigmoid of it is the true probability
    when `events` is the full log (`sim.all_events` when `event_types` hid some types).
    """
    if events is None:
        events = sim.events if sim.all_events is None else sim.all_events
    return sim.intercept + static_logit(sim.clean) + event_logit(events, sim.clean[ID], p)


def static_logit(clean: pd.DataFrame) -> np.ndarray:
    """Static part of the true logit, from the clean (un-messed) customer table."""
    age, income, sat = (clean[c].to_numpy(float) for c in ("age", "income", "satisfaction"))
    plan_fee = pd.Series(clean["plan"]).map(dict(zip(PLANS, PLAN_FEES))).to_numpy(float)
    z = (-0.30 * (sat - 6.5) - 0.45 * np.log1p(clean["tenure_months"].to_numpy(float) / 12)
         + 0.12 * np.minimum(clean["support_calls"].to_numpy(float), 8) + 0.35 * ((age - 45) / 15) ** 2
         - 0.30 * (np.log(income) - LOG_INCOME_MEAN) / LOG_INCOME_SD
         + 1.5 * np.log(clean["monthly_fee"].to_numpy(float) / plan_fee))   # paying above list price
    for column, levels in CATEGORICALS.items():
        z += clean[column].map({k: v[1] for k, v in levels.items()}).to_numpy(float)
    return z


def event_logit(events: pd.DataFrame, customer_ids: pd.Series | pd.Index, p: SyntheticParams) -> np.ndarray:
    """Event part of the true logit for each of `customer_ids` (in that order), from an event table.

    Events of other customers, of unknown types, or at/after the snapshot are ignored.
    """
    cust = _positions(events[ID], customer_ids)
    code = pd.Categorical(events[EVENT_TYPE], categories=list(EVENT_TYPES)).codes
    ts = events[TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    days_before = (pd.Timestamp(p.snapshot_date).value - ts) / DAY_NS
    keep = (cust >= 0) & (code >= 0) & (days_before > 0)
    return _event_logit_arrays(cust[keep], days_before[keep], code[keep], len(customer_ids), p)


def _positions(values: pd.Series, ids: pd.Series | pd.Index) -> np.ndarray:
    """Row position of each value in `ids`, -1 when absent (arrow hashing: ~10x pd.Index.get_indexer on text)."""
    values, ids = (pa.array(pd.Series(x).astype("str")).cast(pa.large_string()) for x in (values, ids))
    return pc.index_in(values, value_set=ids).fill_null(-1).to_numpy().astype(np.int64)


def solve_intercept(partial: np.ndarray, rate: float, iterations: int = 60) -> float:
    """Bisection for b with mean(sigmoid(b + partial)) == rate (the mean is increasing in b)."""
    lo, hi = -40.0, 40.0
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _sigmoid(mid + partial).mean() < rate else (lo, mid)
    return 0.5 * (lo + hi)


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))   # no overflow for large |x|


def _check_params(p: SyntheticParams) -> None:
    """Reject values the simulator cannot honour, naming the key."""
    bad = {"n_customers": p.n_customers < 1, "events_per_customer": p.events_per_customer < 0,
           "positive_rate": not 0 < p.positive_rate < 1, "history_days": p.history_days < 1,
           "missing_rate": not 0 <= p.missing_rate <= 1, "outlier_rate": not 0 <= p.outlier_rate <= 1}
    if wrong := [k for k, is_bad in bad.items() if is_bad]:
        shown = {k: getattr(p, k) for k in wrong}
        raise InputError(f"params: data.synthetic {shown} out of range (n_customers>=1, events_per_customer>=0, "
                         "0<positive_rate<1, history_days>=1, 0<=missing_rate<=1, 0<=outlier_rate<=1).")
    if not isinstance(p.event_types, (list, tuple)):
        raise InputError(f"params: data.synthetic.event_types should be a list of {list(EVENT_TYPES)}, "
                         f"got {p.event_types!r}.")
    if unknown := [t for t in p.event_types if t not in EVENT_TYPES]:
        raise InputError(f"params: data.synthetic.event_types has unknown type(s) {unknown}; allowed: "
                         f"{list(EVENT_TYPES)} (empty list: all).")
    try:
        pd.Timestamp(p.snapshot_date)
    except ValueError as err:
        raise InputError(f"params: data.synthetic.snapshot_date {p.snapshot_date!r} is not a date.") from err


def _choice(levels: dict[str, tuple[float, float]], n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw n categorical values (object array of level names) with the levels' shares."""
    names = np.array(list(levels), dtype=object)
    return names[rng.choice(len(names), size=n, p=[v[0] for v in levels.values()])]


def _draw_static(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Clean static table and the latents (engagement, satisfaction, stress, tenure days) that drive events."""
    engagement = rng.standard_normal(n)
    sat = 0.5 * engagement + np.sqrt(0.75) * rng.standard_normal(n)
    age = np.clip(np.rint(rng.normal(43, 14, n)), 18, 90)
    income_z = 0.25 * (age - 43) / 14 + np.sqrt(1 - 0.25**2) * rng.standard_normal(n)
    stress = -0.45 * income_z + np.sqrt(1 - 0.45**2) * rng.standard_normal(n)
    tenure_days = rng.exponential(700 * np.exp(0.3 * engagement)) + 1
    plan = rng.choice(len(PLANS), size=n, p=[v[0] for v in PLANS.values()])
    width = max(7, len(str(n - 1)))
    clean = pd.DataFrame({
        ID: "C" + pd.Series(np.arange(n)).astype(str).str.zfill(width),
        "age": age,
        "income": np.round(np.exp(LOG_INCOME_MEAN + LOG_INCOME_SD * income_z), 2),
        "tenure_months": (tenure_days // 30.44).astype(np.int64),
        "monthly_fee": np.round(np.asarray(PLAN_FEES)[plan] * np.exp(rng.normal(0, 0.08, n)), 2),
        "support_calls": rng.poisson(np.exp(-0.2 - 0.45 * sat + 0.3 * stress)).astype(np.int64),
        "satisfaction": np.clip(np.rint(6.5 + 1.8 * sat), 1, 10),
        "plan": np.array(list(PLANS), dtype=object)[plan],
        "region": _choice(REGIONS, n, rng), "channel": _choice(CHANNELS, n, rng),
        "payment_method": _choice(PAYMENTS, n, rng),
    })
    return clean, {"engagement": engagement, "sat": sat, "stress": stress, "tenure_days": tenure_days}


def _event_rates(latent: dict[str, np.ndarray], p: SyntheticParams,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per customer: expected count of each event type (n, 6), window length in days, decay over the window."""
    n, e, sat, stress = len(latent["sat"]), latent["engagement"], latent["sat"], latent["stress"]
    window = np.minimum(float(p.history_days), latent["tenure_days"])   # no events before signup
    at_risk = rng.random(n) < _sigmoid(-1.3 - 0.7 * e - 0.4 * sat)
    decay = np.where(at_risk, rng.uniform(1.5, 6.0, n), 0.0)           # intensity falls by e^-decay
    activity = np.exp(0.6 * e) * (rng.random(n) >= 0.03) * window / p.history_days   # 3 % dormant
    total = activity * p.events_per_customer / max(activity.mean(), 1e-12)
    weights = np.column_stack([12 * np.exp(0.3 * e), 10 * np.exp(0.4 * e), 2.5 * np.exp(0.3 * e),
                               2.0 * np.exp(-0.6 * sat + 0.4 * at_risk), np.full(n, 3.5),
                               1.6 * np.exp(0.9 * stress)])
    return total[:, None] * weights / weights.sum(axis=1, keepdims=True), window, decay


def _draw_event_arrays(clean: pd.DataFrame, latent: dict[str, np.ndarray], p: SyntheticParams,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events as arrays sorted by (customer, time): customer index, days before snapshot, type code, seconds."""
    n, horizon = len(clean), p.history_days * 86_400
    expected, window, decay = _event_rates(latent, p, rng)
    counts = rng.poisson(expected)
    per_customer = counts.sum(axis=1)
    code = np.repeat(np.tile(np.arange(len(EVENT_TYPES), dtype=np.int64), n), counts.ravel())
    u = rng.random(len(code))
    rate = np.repeat(decay, per_customer)
    frac = u.copy()   # position in the window, inverse CDF of a density proportional to exp(-decay * frac)
    fading = rate > 0
    frac[fading] = -np.log1p(u[fading] * np.expm1(-rate[fading])) / rate[fading]
    del u, rate, fading
    seconds_before = np.ceil(np.repeat(window, per_customer) * (1.0 - frac) * 86_400).astype(np.int64)
    del frac
    time_bits = int(horizon - 1).bit_length()
    shift = time_bits + TYPE_BITS
    if (n - 1).bit_length() + shift > 62:
        raise InputError(f"params: data.synthetic n_customers={n} with history_days={p.history_days} is too large.")
    # One int64 key per event (customer | seconds since window start | type): a single sort orders all.
    key = np.repeat(np.arange(n, dtype=np.int64) << shift, per_customer)
    key |= (horizon - np.clip(seconds_before, 1, horizon)) << TYPE_BITS
    key |= code
    del code, seconds_before
    key.sort()
    tsec = (key >> TYPE_BITS) & ((1 << time_bits) - 1)
    return ((key >> shift).astype(np.int32), (horizon - tsec) / 86_400, (key & ((1 << TYPE_BITS) - 1)).astype(np.int8), tsec)


def _event_logit_arrays(cust: np.ndarray, days_before: np.ndarray, code: np.ndarray, n: int,
                        p: SyntheticParams) -> np.ndarray:
    """Event part of the true logit: type counts, the customer's set of event times, and the order flags."""
    frequency = np.bincount(cust, minlength=n)
    recency = np.full(n, float(p.history_days))
    np.minimum.at(recency, cust, days_before)
    recent = np.bincount(cust[days_before < RECENT_DAYS], minlength=n)
    earlier = np.bincount(cust[(days_before >= RECENT_DAYS) & (days_before < RECENT_DAYS + EARLIER_DAYS)],
                          minlength=n)
    trend = np.clip(np.log((recent + 0.5) / (earlier * RECENT_DAYS / EARLIER_DAYS + 0.5)), -3, 3)
    types = np.bincount(cust.astype(np.int64) * len(EVENT_TYPES) + code,
                        minlength=n * len(EVENT_TYPES)).reshape(n, len(EVENT_TYPES))
    z = (0.45 * np.log1p(recency) - 0.25 * np.log1p(frequency) - 0.55 * trend
         + 0.30 * np.minimum(types[:, PAY_FAILED], 6) + 0.12 * np.minimum(types[:, TICKET], 8)
         + p.order_effect * complaint_then_failure(cust, days_before, code, n))
    if p.order_pattern_effect:   # off by default: not even computed, so the default logit is unchanged
        z += p.order_pattern_effect * browse_then_login(cust, days_before, code, n)
    return z


def complaint_then_failure(cust: np.ndarray, days_before: np.ndarray, code: np.ndarray, n: int) -> np.ndarray:
    """Per customer: a payment_failed strictly after the first support_ticket of the last 90 days (order-only)."""
    window = days_before < ORDER_WINDOW_DAYS
    ticket, failed = window & (code == TICKET), window & (code == PAY_FAILED)
    first_ticket = np.full(n, -1.0)        # in days before the snapshot: the earliest ticket is the largest
    np.maximum.at(first_ticket, cust[ticket], days_before[ticket])
    last_failed = np.full(n, np.inf)
    np.minimum.at(last_failed, cust[failed], days_before[failed])
    return last_failed < first_ticket


def browse_then_login(cust: np.ndarray, days_before: np.ndarray, code: np.ndarray, n: int) -> np.ndarray:
    """Per customer, whole history: net page_view -> login steps > 0, ties by pair order (order-only)."""
    order = np.lexsort((code, -days_before, cust))   # customer, then time, then type: any row order works
    c, t = cust[order].astype(np.int64), code[order]
    step = c[1:] == c[:-1]                           # consecutive events of one customer
    net = (np.bincount(c[1:][step & (t[:-1] == PAGE_VIEW) & (t[1:] == LOGIN)], minlength=n)
           - np.bincount(c[1:][step & (t[:-1] == LOGIN) & (t[1:] == PAGE_VIEW)], minlength=n))
    views = np.cumsum(t == PAGE_VIEW)
    first = np.searchsorted(c, c, side="left")       # position of the customer's first event
    views_before = views - np.where(first > 0, views[np.maximum(first - 1, 0)], 0)
    login = t == LOGIN
    view_first = np.bincount(c[login], weights=views_before[login], minlength=n)   # (page_view, login) pairs
    pairs = np.bincount(c, weights=t == PAGE_VIEW, minlength=n) * np.bincount(c, weights=login, minlength=n)
    return (net > 0) | ((net == 0) & (2 * view_first > pairs))


def _add_mess(clean: pd.DataFrame, p: SyntheticParams, rng: np.random.Generator) -> pd.DataFrame:
    """Missing values (MAR, MNAR, MCAR, scaled by missing_rate) and data-entry outliers on outlier_rate rows."""
    n, r, out = len(clean), p.missing_rate, clean.copy()
    income_z = (np.log(clean["income"].to_numpy()) - LOG_INCOME_MEAN) / LOG_INCOME_SD
    rates = {
        "age": r * np.where(clean["channel"].isin(["store", "partner"]), 2.5, 0.4),   # MAR: by channel
        "income": r * 2.5 * _sigmoid(2 * income_z - 1),                               # MNAR: the rich stay quiet
        "satisfaction": r * 3.0 * _sigmoid(5.0 - clean["satisfaction"].to_numpy()),  # MNAR: the unhappy skip it
        "region": np.full(n, 0.3 * r), "payment_method": np.full(n, 0.5 * r),          # MCAR
    }
    for column, rate in rates.items():
        out.loc[rng.random(n) < np.clip(rate, 0, 1), column] = np.nan
    typo = np.where(rng.random(n) < p.outlier_rate, rng.integers(0, 4, n), -1)
    out.loc[typo == 0, "monthly_fee"] *= 100     # cents typed into a euro field
    out.loc[(typo == 1) & out["age"].notna(), "age"] = 999.0   # placeholder age
    out.loc[typo == 2, "income"] *= 100          # two extra zeros
    out.loc[typo == 3, "tenure_months"] *= 30    # days typed as months
    return out


def _events_frame(ids: pd.Series, cust: np.ndarray, code: np.ndarray, tsec: np.ndarray, clean: pd.DataFrame,
                  p: SyntheticParams, rng: np.random.Generator) -> pd.DataFrame:
    """Event table with string ids, ns timestamps, categorical type, and amounts for monetary events."""
    start = pd.Timestamp(p.snapshot_date).value - p.history_days * DAY_NS
    amount = np.full(len(code), np.nan)
    purchase, payment = code == PURCHASE, (code == PAY_OK) | (code == PAY_FAILED)
    income_factor = (clean["income"].to_numpy() / np.exp(LOG_INCOME_MEAN)) ** 0.3
    amount[purchase] = np.round(rng.lognormal(3.3, 1.0, purchase.sum()) * income_factor[cust[purchase]], 2)
    amount[payment] = clean["monthly_fee"].to_numpy()[cust[payment]]
    id_array = pa.array(ids.to_numpy(dtype=object), type=pa.large_string()).take(pa.array(cust))
    return pd.DataFrame({
        ID: pd.array(id_array, dtype=ids.dtype) if isinstance(ids.dtype, pd.StringDtype) else id_array.to_pandas(),
        TIMESTAMP: (start + tsec * 10**9).view("datetime64[ns]"),
        EVENT_TYPE: pd.Categorical.from_codes(code, categories=list(EVENT_TYPES)),
        AMOUNT: amount,
    })


class Tables(Protocol):
    """What `write_tables` writes: SimulatedData, or pipeline.data.simulated_log.SimulatedLog."""
    customers: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame


def write_tables(sim: Tables, out: Path, fmt: str) -> list[Path]:
    """Write customers/events/truth as DIR/<name>.<fmt>, each file atomically."""
    paths = []
    for name, frame in (("customers", sim.customers), ("events", sim.events), ("truth", sim.truth)):
        path = Path(out) / f"{name}.{fmt}"
        if fmt == "parquet":
            write_parquet(frame, path)
        else:
            with atomic_path(path) as tmp:
                frame.to_csv(tmp, index=False)
        paths.append(path)
    return paths
