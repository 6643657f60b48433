"""Batch scoring at scale: wall time, customers/s and peak memory of `python -m pipeline.predict`.

    python bench/bench_predict.py --customers 1000000 [--root .] [--model best] [--format parquet]
                                  [--chunk-size 100000] [--explain] [--keep DIR]

Simulates fresh customers + events with pipeline.data.simulator (seed 2026, not the training seed) into a
temp directory, then scores them with the CLI on the fitted artifacts under --root (read only), in
its own process; prints wall seconds, customers/s and that process's peak RSS (os.wait4 rusage).
Not a test.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Run `cmd`; (wall seconds, peak RSS GiB of that process)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 2**20   # ru_maxrss is KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--root", type=Path, default=REPO, help="project with models/, reports/, data/interim/prepared")
    ap.add_argument("--model", default="best")
    ap.add_argument("--format", choices=("csv", "parquet"), default="parquet")
    ap.add_argument("--chunk-size", type=int, default=100_000)
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("--keep", type=Path, help="keep the simulated files and scores here")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-predict-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "new"
    if not (data / f"customers.{args.format}").is_file():
        seconds, rss = timed([sys.executable, "-m", "pipeline.simulate", "--out", str(data), "--format", args.format,
                              "--n-customers", str(args.customers), "--seed", "2026"], REPO)
        print(f"simulate: {seconds:.1f} s, peak RSS {rss:.2f} GiB")
    out = work / f"scores.{args.format}"
    cmd = [sys.executable, "-m", "pipeline.predict", "--root", str(args.root.resolve()), "--model", args.model,
           "--customers", str(data / f"customers.{args.format}"), "--events", str(data / f"events.{args.format}"),
           "--chunk-size", str(args.chunk_size), "--as-of", "training", "--out", str(out), *(["--explain"] if args.explain else [])]
    seconds, rss = timed(cmd, work)
    print(f"predict: {args.customers:,} customers ({args.format}, model {args.model}, chunks of {args.chunk_size:,}"
          f"{', --explain' if args.explain else ''}): {seconds:.1f} s, {args.customers / seconds:,.0f} customers/s, "
          f"peak RSS {rss:.2f} GiB")
    if args.keep is None:
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
