"""Wall time of one XGBoost study run by 1, 2 and 4 workers on PostgreSQL (loopback), and by 1 on SQLite.

    python bench/bench_workers.py [--customers 2000] [--trials 48] [--folds 5] [--workers 1,2,4] [--storage URL]

Builds the features once (prepare .. features, as dvc.yaml runs them) on synthetic data and draws 48
parameter sets from configs/xgb.yaml (seeded random sampler). For each setting it creates a fresh
study, enqueues those same 48 trials (no pruning), so every setting runs identical work however the
workers interleave, then starts N `python -m pipeline.tune --models xgb` processes and times them
until the last one exits (its final fit included). An XGBoost trial's cost varies ~50x with its
learning rate, so without the fixed trials the wall time mostly measures which params were drawn. Without --storage a throwaway PostgreSQL cluster
is started on loopback (tests/postgres_server.py). Not a test: workers share this machine's cores,
so the figures show the coordination cost and what one machine gains, not a cluster's speed-up.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml
from bench_stages import run_stage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))
from postgres_server import postgres_server  # noqa: E402

from pipeline.models import FAMILIES  # noqa: E402
from pipeline.models.space import load_space  # noqa: E402
from pipeline.tuning.workers import WORKER, counted  # noqa: E402


def draw_trials(n: int, seed: int = 0) -> list[dict]:
    """n parameter sets of the xgb search space, drawn once so that every setting runs the same trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    space = load_space("xgb", REPO / "configs")
    drawn = []
    for _ in range(n):
        trial = study.ask()
        FAMILIES["xgb"].search_space(trial, space)
        drawn.append(trial.params)
        study.tell(trial, 0.0)
    return drawn


def run_workers(root: Path, url: str, label: str, n: int, drawn: list[dict], folds: int, threads: int | None) -> dict:
    """n workers on the study bench-<label>; wall seconds until the last exits, and the study's counts."""
    study = optuna.create_study(study_name=f"bench-{label}-xgb", storage=url, direction="maximize")
    for params in drawn:
        study.enqueue_trial(params)
    trials = len(drawn)
    cmd = [sys.executable, "-m", "pipeline.tune", "--models", "xgb", "--trials", str(trials), "--timeout", "0",
           "--storage", url, "--study-name", f"bench-{label}", "--features", str(root / "data/features"),
           "--configs", str(REPO / "configs"), "--folds", str(folds)]
    env = {**os.environ, "PYTHONPATH": str(REPO), **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    started = time.perf_counter()
    procs = []
    for i in range(n):
        out = root / label / f"w{i}"
        out.mkdir(parents=True)
        procs.append(subprocess.Popen([*cmd, "--out", str(out / "tuned"), "--report", str(out / "tune.json")],
                                      cwd=root, env=env, stdout=(out / "log.txt").open("w"), stderr=subprocess.STDOUT))
    try:
        codes = [p.wait() for p in procs]
    finally:   # interrupted: stop our workers, each by its pid
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    seconds = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"{label}: worker exit codes {codes}; logs in {root / label}")
    trials_run = optuna.load_study(study_name=f"bench-{label}-xgb", storage=url).get_trials()
    kept = counted(trials_run)
    done = [t for t in kept if t.state == optuna.trial.TrialState.COMPLETE]
    return {"setting": label, "workers": n, "seconds": round(seconds, 1), "trials": len(kept),
            "complete": len(done), "trial_seconds": round(sum(t.duration.total_seconds() for t in done), 1),
            "best": round(max(t.value for t in done), 4),
            "per_worker": sorted(sum(t.user_attrs.get(WORKER) == w for t in kept)
                                 for w in {t.user_attrs.get(WORKER) for t in kept})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--trials", type=int, default=48)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--threads", type=int, help="OMP_NUM_THREADS per worker (XGBoost's threads; default: all cores)")
    ap.add_argument("--no-sqlite", action="store_true", help="skip the SQLite row")
    ap.add_argument("--storage", help="an existing PostgreSQL URL (default: a throwaway loopback cluster)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp folder)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # so the throwaway server is stopped and removed
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_workers_"))
    root.mkdir(parents=True, exist_ok=True)
    params = {"data": {"synthetic": {"n_customers": args.customers}}, "tune": {"models": ["xgb"], "pruner": "none"}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("prepare", "impute", "outliers", "features"):
        run_stage(stage, root)
    drawn = draw_trials(args.trials)
    server = contextlib.nullcontext(args.storage) if args.storage else postgres_server()
    rows = []
    with server as url:
        for n in (int(w) for w in args.workers.split(",")):
            rows.append(run_workers(root, url, f"postgres-{n}", n, drawn, args.folds, args.threads))
            print(json.dumps(rows[-1]), flush=True)
    if not args.no_sqlite:
        rows.append(run_workers(root, f"sqlite:///{root / 'studies.db'}", "sqlite-1", 1, drawn, args.folds, args.threads))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.customers:,} customers, xgb, {args.trials} trials, {args.folds}-fold CV, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={args.threads or 'unset'}")
    print(f"{'setting':<12} {'wall s':>7} {'trials':>7} {'sum of trial s':>15} {'best CV':>8}  trials per worker")
    for r in rows:
        print(f"{r['setting']:<12} {r['seconds']:>7} {r['trials']:>7} {r['trial_seconds']:>15} {r['best']:>8}  "
              f"{r['per_worker']}")


if __name__ == "__main__":
    main()
