"""Wall time and peak memory of every stage but tune, each run as DVC runs it, plus each stage's start-up.

    python bench/bench_startup.py --shape tabular --customers 5000     # a tabular-only customers table
    python bench/bench_startup.py --shape default                      # the embedded default data (20,000)
    python bench/bench_startup.py --repo ../other-checkout ...         # measure another checkout the same way

A fresh work folder gets a copy of the repo's pipeline/, configs/ and dvc.yaml. `tabular` writes the
simulator's customers table as a CSV (no event log) and points `data.customers` at it; `default` uses
the embedded simulator with its default size. Every stage then runs as `python -m pipeline.<stage>`
with dvc.yaml's arguments, in its own process, in dvc.yaml's order. `tune` runs too (2 trials per
family, 3 folds, no time budget) so that evaluate, explain and report have models, but it is not
timed: the tuning budget is its own knob. "start-up" is the wall time of `python -m pipeline.<stage>
--help`: the imports a stage pays before it reads any data. Peak RSS is the process's ru_maxrss. Not a test.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
UNTIMED = ("tune",)
TUNE = {"trials": 2, "folds": 3, "timeout": None, "lstm_max_epochs": 2, "pruner": "none"}


def stage_commands(repo: Path) -> dict[str, list[str]]:
    """stage -> the command dvc.yaml runs (python replaced by this interpreter), in dvc.yaml's order."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    return {name: [sys.executable, *shlex.split(stage["cmd"])[1:]] for name, stage in stages.items()}


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS GiB) of one command in its own process; a failure stops the bench."""
    with tempfile.TemporaryFile() as log:   # a file, not a pipe: a chatty stage cannot block on a full pipe
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        if (code := os.waitstatus_to_exitcode(status)) != 0:
            log.seek(0)
            raise SystemExit(f"{' '.join(command)} failed with exit code {code}:\n{log.read().decode()[-3000:]}")
    return seconds, usage.ru_maxrss / 2**20


def make_project(repo: Path, root: Path, shape: str, customers: int) -> None:
    """Copy the code, write params.yaml for the shape (and the tabular CSV)."""
    for name in ("pipeline", "configs"):
        shutil.copytree(repo / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(repo / "dvc.yaml", root / "dvc.yaml")
    params: dict = {"tune": dict(TUNE)}
    if shape == "tabular":
        (root / "sim.yaml").write_text(yaml.safe_dump({"data": {"synthetic": {"n_customers": customers}}}))
        timed([sys.executable, "-m", "pipeline.simulate", "--params", "sim.yaml", "--out", "data/raw/sim",
               "--format", "csv"], root)
        params["data"] = {"source": "files", "customers": "data/raw/sim/customers.csv", "events": None}
    else:
        params["data"] = {"synthetic": {"n_customers": customers}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=("tabular", "default"), default="tabular")
    ap.add_argument("--customers", type=int, help="customers (default: 5,000 tabular, 20,000 default)")
    ap.add_argument("--repo", type=Path, default=REPO, help="the checkout to measure (default: this one)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp folder)")
    args = ap.parse_args()
    customers = args.customers or (5000 if args.shape == "tabular" else 20000)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_startup_"))
    root.mkdir(parents=True, exist_ok=True)
    make_project(args.repo.resolve(), root, args.shape, customers)
    rows = []
    for stage, command in stage_commands(args.repo.resolve()).items():
        seconds, peak = timed(command, root)
        if stage in UNTIMED:
            continue
        startup, _ = timed([sys.executable, "-m", f"pipeline.{stage}", "--help"], root)
        rows.append((stage, seconds, startup, peak))
    print(f"\n{args.shape}, {customers:,} customers, {args.repo.resolve()}")
    print(f"{'stage':<10} {'seconds':>8} {'start-up':>9} {'peak RSS GiB':>13}")
    for stage, seconds, startup, peak in rows:
        print(f"{stage:<10} {seconds:>8.1f} {startup:>9.1f} {peak:>13.2f}")
    print(f"{'total':<10} {sum(r[1] for r in rows):>8.1f} {sum(r[2] for r in rows):>9.1f}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
