"""Speed and memory of the event features at scale (a script, not a test).

    python bench/bench_features.py --customers 1000000 --events-per-customer 30

Generates a synthetic event log (its own generator: 6 event types, an `amount` column that is NaN
for non-monetary events, timestamps over one year, sorted by customer_id and timestamp, ids and
types as pandas' default `str` dtype) and writes it to a temporary Parquet file, the way the
`features` stage reads data/interim/prepared/events.parquet. Each measured step then runs in a fresh
process (spawn), which reads the Parquet file and fits + transforms on every customer, so each peak
RSS (ru_maxrss) is that step's own, loading of the events included.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from anywhere without installing

TYPES = ["login", "page_view", "purchase", "support_ticket", "payment_failed", "email_open"]
TYPE_P = [0.35, 0.30, 0.15, 0.05, 0.05, 0.10]
MONETARY = {"purchase", "payment_failed"}
AS_OF = pd.Timestamp("2026-01-01")


def make_events(n_customers: int, events_per_customer: float, seed: int = 0) -> pd.DataFrame:
    """A realistic-looking event log: varied activity levels, late starters, NaN amounts."""
    rng = np.random.default_rng(seed)
    rate = events_per_customer * rng.gamma(2.0, 0.5, n_customers)        # mean = events_per_customer
    counts = rng.poisson(rate)
    counts[rng.random(n_customers) < 0.02] = 0                           # some customers never active
    customer = np.repeat(np.arange(n_customers, dtype=np.int64), counts)
    start = rng.uniform(0, 300, n_customers)[customer]                   # joined some time in the year
    seconds = ((start + rng.random(len(customer)) * (365 - start)) * 86_400).astype(np.int64)
    order = np.argsort(customer << 32 | seconds, kind="stable")          # sorted by (customer, time)
    customer, seconds = customer[order], seconds[order]
    kinds = rng.choice(len(TYPES), size=len(customer), p=TYPE_P)
    amount = np.round(rng.lognormal(3.5, 1.0, len(customer)), 2)
    amount[~np.isin(kinds, [TYPES.index(t) for t in MONETARY]) | (rng.random(len(customer)) < 0.03)] = np.nan
    ids = pd.Index([f"C{i:07d}" for i in range(n_customers)], dtype="str")
    return pd.DataFrame({
        "customer_id": ids.take(customer),
        "timestamp": (AS_OF - pd.Timedelta(days=365)) + pd.to_timedelta(seconds, unit="s"),
        "event_type": pd.Index(TYPES, dtype="str").take(kinds),
        "amount": amount,
    })


def _measure(step: str, events_path: str, ids_path: str, queue: mp.Queue) -> None:
    """Child process: read the events, fit + transform one step, report seconds and peak RSS."""
    from pipeline.events.aggregates import EventAggregator
    from pipeline.events.sequence_encoder import SequenceEncoder

    t0 = time.perf_counter()
    events = pd.read_parquet(events_path)
    customer_ids = pd.read_parquet(ids_path)["customer_id"]
    t1 = time.perf_counter()
    rss_read = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if step == "event_features":
        model = EventAggregator(windows_days=(30, 90), max_event_types=30).fit(events, AS_OF)
        t2 = time.perf_counter()
        out = model.transform(events, customer_ids, AS_OF)
        shape = out.shape
    else:
        model = SequenceEncoder(max_len=64, max_event_types=30).fit(events, AS_OF)
        t2 = time.perf_counter()
        out = model.transform(events, customer_ids, AS_OF)
        shape = out.values.shape
    t3 = time.perf_counter()
    queue.put({"step": step, "read_s": t1 - t0, "fit_s": t2 - t1, "transform_s": t3 - t2,
               "read_rss_gib": rss_read,
               "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
               "shape": shape, "n_events": len(events)})


def run_step(step: str, events_path: Path, ids_path: Path) -> dict:
    ctx = mp.get_context("spawn")          # a fresh interpreter: the peak RSS is this step's alone
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(step, str(events_path), str(ids_path), queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events-per-customer", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    events = make_events(args.customers, args.events_per_customer, args.seed)
    ids = pd.Index([f"C{i:07d}" for i in range(args.customers)], dtype="str")
    customer_ids = pd.DataFrame({"customer_id": ids})
    with tempfile.TemporaryDirectory() as tmp:
        events_path, ids_path = Path(tmp) / "events.parquet", Path(tmp) / "customers.parquet"
        events.to_parquet(events_path, index=False)
        customer_ids.to_parquet(ids_path, index=False)
        n_events = len(events)
        del events, customer_ids, ids
        print(f"generated {args.customers:,} customers, {n_events:,} events in {time.perf_counter() - t0:.1f} s")
        print(f"machine: {platform.processor() or platform.machine()}, {mp.cpu_count()} cpus, "
              f"python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}")
        print(f"{'step':<16}{'read s':>8}{'fit s':>8}{'transform s':>13}{'fit+transform s':>17}"
              f"{'events/s':>12}{'RSS after read GiB':>20}{'peak RSS GiB':>14}  output shape")
        for step in ("event_features", "sequences"):
            r = run_step(step, events_path, ids_path)
            total = r["fit_s"] + r["transform_s"]
            print(f"{step:<16}{r['read_s']:>8.1f}{r['fit_s']:>8.1f}{r['transform_s']:>13.1f}{total:>17.1f}"
                  f"{r['n_events'] / total:>12,.0f}{r['read_rss_gib']:>20.2f}{r['peak_rss_gib']:>14.2f}"
                  f"  {r['shape']}")


if __name__ == "__main__":
    main()
