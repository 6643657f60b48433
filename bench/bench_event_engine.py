"""The event log at scale, side by side: today's pandas path against DuckDB out of core (issue 15).

    python bench/bench_event_engine.py --sizes 1000000,10000000 --data /tmp/bench-events [--memory-limit 12GB]

Per size, the simulator's event log (default params, chunks of 1M customers with seeds 0, 1, ... and ids made
unique per chunk) is written once as raw Parquet parts, each in time order as a log export would be, with an
80/20 train/test split of the customers. Each engine then runs two steps, each in its own process as DVC runs
stages:
  prepare   the event-log part of the prepare stage: read the raw parts, drop events at/after the cutoff, sort
            by (customer, time), write one Parquet file. pandas: read_parquet + sort_values (mergesort, as
            prepare does); duckdb: one COPY ... ORDER BY, spilling past --memory-limit. (The stage's per-value
            checks are not part of it: they are per row, so they would run chunk by chunk.)
  features  the aggregates of the features stage from that file: fit on the train customers' events (leakage
            rule 2), aggregate train and test customers, write the table. pandas: EventAggregator.fit/transform
            on the whole log in memory; duckdb: pipeline.events.aggregates_sql (a Parquet scan). Both read the
            duckdb step's file when it exists, so a pandas prepare that ran out of memory does not hide its
            features step.
Wall seconds and peak RSS (os.wait4) per step and, where both features steps finished, the largest difference
between their tables. A process above --rss-cap GiB is
stopped and reported as such (the machine has 24 GiB and no swap). Results: stdout and
bench/results/event_engine.json. Not a test: run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results"
CHUNK = 1_000_000
ENGINES = ("pandas", "duckdb")


STEPS = ("prepare", "features")


def make_data(customers: int, folder: Path) -> dict:
    """The raw event log as Parquet parts (each in time order) and the train/test ids; reused when present."""
    from pipeline.core.params import SyntheticParams
    from pipeline.core.schema import ID, TIMESTAMP
    from pipeline.data.simulator import simulate

    info = folder / "info.json"
    if info.exists():
        return json.loads(info.read_text())
    (folder / "raw").mkdir(parents=True, exist_ok=True)
    ids, n_events = [], 0
    for k, start in enumerate(range(0, customers, CHUNK)):
        p = dataclasses.replace(SyntheticParams(), n_customers=min(CHUNK, customers - start))
        events = simulate(p, seed=k).events
        events[ID] = f"p{k:03d}-" + events[ID].astype(str)   # unique across chunks
        ids.append(events[ID].drop_duplicates())
        events = events.sort_values(TIMESTAMP, kind="stable", ignore_index=True)
        events.to_parquet(folder / "raw" / f"part-{k:03d}.parquet", index=False)
        n_events += len(events)
        print(f"  data: part {k}, {len(events):,} events", file=sys.stderr, flush=True)
        del events
    everyone = pd.concat(ids, ignore_index=True)
    train = np.random.default_rng(0).random(len(everyone)) < 0.8
    pd.DataFrame({ID: everyone, "train": train}).to_parquet(folder / "ids.parquet", index=False)
    meta = {"customers": int(len(everyone)), "events": n_events, "as_of": SyntheticParams().snapshot_date,
            "parquet_bytes": sum(f.stat().st_size for f in (folder / "raw").iterdir())}
    info.write_text(json.dumps(meta))
    return meta


def prepare_step(engine: str, folder: Path, as_of: str, engine_args: dict) -> None:
    from pipeline.core.schema import ID, TIMESTAMP

    out = folder / f"prepared_{engine}.parquet"
    if engine == "pandas":
        events = pd.read_parquet(folder / "raw")
        events = events[events[TIMESTAMP] < pd.Timestamp(as_of)]
        events = events.sort_values([ID, TIMESTAMP], kind="mergesort", ignore_index=True)
        events.to_parquet(out, index=False)
        return
    import duckdb

    config = {k: str(v) for k, v in engine_args.items()} | {"enable_progress_bar": "false"}
    with duckdb.connect(config=config) as con:
        con.execute(f"COPY (SELECT * FROM read_parquet('{folder / 'raw'}/*.parquet') "
                    f"WHERE {TIMESTAMP} < TIMESTAMP '{as_of}' ORDER BY {ID}, {TIMESTAMP}) TO '{out}' (FORMAT parquet)")


def features_step(engine: str, folder: Path, as_of: str, engine_args: dict) -> None:
    from pipeline.core.schema import ID
    from pipeline.events.aggregates import EventAggregator
    from pipeline.events.aggregates_sql import duckdb_aggregates, duckdb_fit

    prepared = folder / "prepared_duckdb.parquet"
    prepared = prepared if prepared.exists() else folder / "prepared_pandas.parquet"
    ids = pd.read_parquet(folder / "ids.parquet")
    train_ids, test_ids = ids.loc[ids["train"], ID].to_numpy(), ids.loc[~ids["train"], ID].to_numpy()
    agg = EventAggregator()
    if engine == "pandas":
        events = pd.read_parquet(prepared)
        agg.fit(events, as_of, customer_ids=train_ids)
        tables = [agg.transform(events, part, as_of) for part in (train_ids, test_ids)]
    else:
        duckdb_fit(agg, prepared, as_of, customer_ids=train_ids, **engine_args)
        tables = [duckdb_aggregates(agg, prepared, part, as_of, **engine_args) for part in (train_ids, test_ids)]
    pd.concat(tables).to_parquet(folder / f"out_{engine}.parquet")


def child(step: str, engine: str, folder: Path, memory_limit: str) -> None:
    as_of = json.loads((folder / "info.json").read_text())["as_of"]
    engine_args = {"memory_limit": memory_limit, "temp_directory": str(folder / "duckdb_tmp")}
    (prepare_step if step == "prepare" else features_step)(engine, folder, as_of, engine_args)


def run_step(step: str, engine: str, folder: Path, memory_limit: str, cap_gib: float) -> dict:
    """One step of one engine in its own process: wall seconds and peak RSS; stopped above cap_gib."""
    (folder / (f"prepared_{engine}.parquet" if step == "prepare" else f"out_{engine}.parquet")).unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--child", f"{step}:{engine}", "--data", str(folder),
           "--memory-limit", memory_limit]
    started, over = time.perf_counter(), threading.Event()
    proc = subprocess.Popen(cmd)

    def watch() -> None:   # ru_maxrss says the peak only afterwards; this stops a run before the machine runs out
        handle = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                if handle.memory_info().rss > cap_gib * 2**30:
                    over.set()
                    os.kill(proc.pid, signal.SIGKILL)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()
    _, status, usage = os.wait4(proc.pid, 0)
    row = {"seconds": round(time.perf_counter() - started, 1), "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2)}
    if over.is_set():
        row["stopped_over_gib"] = cap_gib
    elif (code := os.waitstatus_to_exitcode(status)) != 0:
        row["failed"] = code   # -9 without the cap: the kernel's OOM killer (the machine has no swap)
    return row


def spot_difference(folder: Path, memory_limit: str) -> float:
    """Where pandas could not run the whole log: the duckdb table's rows of the first part's customers against
    EventAggregator.transform on that part alone (their events are all in it), with the same fitted state."""
    from pipeline.core.schema import ID
    from pipeline.events.aggregates import EventAggregator
    from pipeline.events.aggregates_sql import duckdb_fit

    as_of = json.loads((folder / "info.json").read_text())["as_of"]
    ids = pd.read_parquet(folder / "ids.parquet")
    agg = duckdb_fit(EventAggregator(), folder / "prepared_duckdb.parquet", as_of,
                     customer_ids=ids.loc[ids["train"], ID].to_numpy(), memory_limit=memory_limit)
    part = pd.read_parquet(sorted((folder / "raw").iterdir())[0])
    wanted = part[ID].unique()
    expected = agg.transform(part, wanted, as_of)
    got = pd.read_parquet(folder / "out_duckdb.parquet").loc[wanted]
    x, y = expected.to_numpy(), got[expected.columns].to_numpy()
    return float(np.max(np.abs(x - y) / np.maximum(1.0, np.abs(x))))


def max_difference(folder: Path) -> float | None:
    """Largest |pandas - duckdb| relative to max(1, |pandas|), over every cell; None unless both finished."""
    paths = [folder / f"out_{e}.parquet" for e in ENGINES]
    if not all(p.exists() for p in paths):
        return None
    a, b = (pd.read_parquet(p) for p in paths)
    if not (a.index.equals(b.index) and list(a.columns) == list(b.columns)):
        return float("inf")
    x, y = a.to_numpy(), b.to_numpy()
    return float(np.max(np.abs(x - y) / np.maximum(1.0, np.abs(x)))) if x.size else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--data", type=Path, default=Path("/tmp/bench-events"))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--memory-limit", default="12GB", help="DuckDB's memory_limit (it spills to disk past it)")
    ap.add_argument("--rss-cap", type=float, default=22.0, help="stop a step's process above this many GiB")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child.split(":"), args.data, args.memory_limit)
    engines = args.engines.split(",")
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        folder = args.data / str(size)
        row = {**make_data(size, folder)}
        for step in STEPS:
            for engine in sorted(engines, key=lambda e: e != "duckdb"):   # duckdb first: its file feeds both
                print(f"{size:,} customers: {step} {engine} ...", file=sys.stderr, flush=True)
                row[f"{step}:{engine}"] = run_step(step, engine, folder, args.memory_limit, args.rss_cap)
                print(f"  {row[f'{step}:{engine}']}", file=sys.stderr, flush=True)
        row["max_relative_difference"] = max_difference(folder)
        if row["max_relative_difference"] is None and (folder / "out_duckdb.parquet").exists():
            row["spot_check_difference"] = spot_difference(folder, args.memory_limit)
        results[str(size)] = row
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "event_engine.json").write_text(json.dumps(results, indent=2))
    print("| customers | events | raw Parquet GB | step | engine | seconds | peak GiB |")
    print("|---|---|---|---|---|---|---|")
    for size, row in results.items():
        for step in STEPS:
            for engine in engines:
                r = row[f"{step}:{engine}"]
                note = (f" (stopped above {r['stopped_over_gib']} GiB)" if "stopped_over_gib" in r
                        else " (killed: out of memory)" if r.get("failed") == -9
                        else f" (failed {r['failed']})" if "failed" in r else "")
                print(f"| {int(size):,} | {row['events']:,} | {row['parquet_bytes'] / 1e9:.2f} | {step} | {engine} "
                      f"| {r['seconds']}{note} | {r['peak_rss_gib']} |")
        print(f"\n{int(size):,}: largest relative difference between the engines' tables: "
              f"{row['max_relative_difference']}"
              + (f"; first part's customers against pandas on that part: {row['spot_check_difference']}"
                 if "spot_check_difference" in row else ""))


if __name__ == "__main__":
    main()
