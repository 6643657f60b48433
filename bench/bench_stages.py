"""Wall time and peak memory of each data stage at scale, run as DVC runs them (one process per stage).

    python bench/bench_stages.py --customers 1000000 --events-per-customer 30 [--keep DIR]

Generates the synthetic data (prepare, source: synthetic), then runs impute, outliers, features and
resample on it, each as `python -m pipeline.<stage>` in its own process; per stage it prints the
wall seconds and the process's peak RSS (os.wait4 rusage). Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = ["prepare", "impute", "outliers", "features", "resample"]


def stage_command(stage: str) -> list[str]:
    """The command dvc.yaml runs for the stage (paths are written once, there)."""
    words = shlex.split(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]["cmd"])
    return [sys.executable, *words[1:]]


def run_stage(stage: str, root: Path) -> dict[str, float]:
    """One stage in its own process; returns wall seconds and that process's peak RSS in GiB."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    proc = subprocess.Popen(stage_command(stage), cwd=root, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{stage} failed with exit code {os.waitstatus_to_exitcode(status)}")
    return {"seconds": round(seconds, 1), "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--events-per-customer", type=float, default=30)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp folder)")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_stages_"))
    root.mkdir(parents=True, exist_ok=True)
    params = {"data": {"synthetic": {"n_customers": args.customers, "events_per_customer": args.events_per_customer}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    results = {stage: run_stage(stage, root) for stage in STAGES}
    meta = json.loads((root / "data/interim/prepared/meta.json").read_text())
    print(f"\n{args.customers:,} customers, {meta['n_events']:,} events")
    print(f"{'stage':<10} {'seconds':>8} {'peak RSS GiB':>13}")
    for stage, row in results.items():
        print(f"{stage:<10} {row['seconds']:>8} {row['peak_rss_gib']:>13}")
    print(f"{'total':<10} {sum(r['seconds'] for r in results.values()):>8.1f}")


if __name__ == "__main__":
    main()
