"""The data stages on a user's files far past memory: 10M customers / 300M events on this 24 GiB machine (issue 15).

    .venv/bin/python bench/bench_big_files.py --customers 10000000 --data /work/big
    .venv/bin/python bench/bench_big_files.py --customers 200000 --data /tmp/small --set data.event_chunk_rows=1000000 \
        --set features.chunk_customers=50000 --set features.fit_customers=100000        # a quick rehearsal

A user with that many customers brings files, not the simulator: the raw customers.parquet and events.parquet are
written once (reused when present) from the simulator in parts of 1M customers (seeds 0, 1, ..., ids made unique
per part; each part's events in time order, as a log export would be), appended to one Parquet file each. Then
prepare, impute, outliers and features run as DVC runs them (`bench_scale.run_stage`: one process per stage, wall
seconds and peak RSS from os.wait4) with the repo's params.yaml except data.source/customers/events and the --set
keys: prepare validates the log chunk by chunk and sorts it with DuckDB (pipeline/data/event_chunks.py), features
fits on a sample and works chunk by chunk (pipeline/featurization/chunked.py). eda, which still reads the whole
log, is not run. Results: stdout and bench/results/big_files.json. Not a test: run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from bench_scale import run_stage  # noqa: E402

RESULTS = REPO / "bench" / "results"
PART = 1_000_000
STAGES = ("prepare", "impute", "outliers", "features")


def make_files(customers: int, folder: Path) -> dict:
    """raw/customers.parquet and raw/events.parquet, each appended part by part; reused when present."""
    from pipeline.core.params import SyntheticParams
    from pipeline.core.schema import ID, TIMESTAMP
    from pipeline.data.simulator import simulate

    info = folder / "info.json"
    if info.exists():
        return json.loads(info.read_text())
    (folder / "raw").mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    n_events, started = 0, time.perf_counter()
    for k, start in enumerate(range(0, customers, PART)):
        sim = simulate(dataclasses.replace(SyntheticParams(), n_customers=min(PART, customers - start)), seed=k)
        events = sim.events.sort_values(TIMESTAMP, kind="stable", ignore_index=True)
        for name, frame in (("customers", sim.customers), ("events", events)):
            frame = frame.assign(**{ID: f"p{k:03d}-" + frame[ID].astype(str)})   # unique across parts
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if name not in writers:
                writers[name] = pq.ParquetWriter(folder / "raw" / f"{name}.parquet", table.schema)
            writers[name].write_table(table.cast(writers[name].schema))
        n_events += len(events)
        print(f"  data: part {k}, {len(events):,} events", file=sys.stderr, flush=True)
        del sim, events
    for writer in writers.values():
        writer.close()
    meta = {"customers": customers, "events": n_events, "seconds": round(time.perf_counter() - started, 1),
            "bytes": {f.name: f.stat().st_size for f in (folder / "raw").iterdir()}}
    info.write_text(json.dumps(meta))
    return meta


def write_params(root: Path, data: Path, overrides: list[str]) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(source="files", customers=str(data / "raw" / "customers.parquet"),
                          events=str(data / "raw" / "events.parquet"))
    for item in overrides:
        key, value = item.split("=", 1)
        *path, last = key.split(".")
        section = params
        for name in path:
            section = section[name]
        section[last] = yaml.safe_load(value)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=10_000_000)
    ap.add_argument("--data", type=Path, required=True, help="folder for the raw files and the run")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="params override, e.g. "
                    "features.chunk_customers=500000")
    ap.add_argument("--stages", default=",".join(STAGES))
    args = ap.parse_args()
    data = make_files(args.customers, args.data)
    print(f"data: {data}", file=sys.stderr, flush=True)
    root = args.data / "run"
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "configs").exists():
        (root / "configs").symlink_to(REPO / "configs")
    write_params(root, args.data, args.set)
    rows = {}
    for stage in args.stages.split(","):
        print(f"{stage} ...", file=sys.stderr, flush=True)
        rows[stage] = run_stage(stage, root)
        print(f"  {rows[stage]}", file=sys.stderr, flush=True)
        if "failed" in rows[stage]:
            break
    result = {"data": data, "overrides": args.set, "stages": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "big_files.json").write_text(json.dumps(result, indent=2))
    print("| stage | seconds | peak RSS GiB |\n|---|---|---|")
    for stage, row in rows.items():
        print(f"| {stage} | {row['seconds']} | {row['peak_rss_gib']}{' (failed)' if 'failed' in row else ''} |")


if __name__ == "__main__":
    main()
