"""Labels built from the event log: in-time CV next to the test score, random and out-of-time splits.

    .venv/bin/python bench/bench_labels.py                          # both shapes, both splits (about 15 min)
    .venv/bin/python bench/bench_labels.py --shapes churn --timeout 90 --keep /tmp/labels

Shapes (the simulator as a raw log, label.from_events, pipeline/data/simulated_log.py):
  churn     20,000 customers, static columns and the full log; churn_60d (no event in 60 days); the oracle is
            the simulator's true probability at the snapshot
  purchase  20,000 customers, events only (static columns ignored), purchase events only; repeat_90d (buys
            again within 90 days): no oracle
Splits: random (customers of one cutoff split at random: both scores in time) and time (fit at cutoff - horizon,
test at cutoff). The stages prepare .. evaluate run as bench/bench_sequences.py runs them, one after the other.
Reported: the best model by CV, its CV score on the training period, its test ROC-AUC and the change, and the
oracle. Results: stdout (markdown) and bench/results/labels.json. Not a test: run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sequences import RESULTS, STATIC, run_variant  # noqa: E402

SHAPES: dict[str, dict[str, Any]] = {
    "churn": {"label": {"kind": "churn", "horizon_days": 60}, "synthetic": {}},
    "purchase": {"label": {"kind": "repeat", "horizon_days": 90}, "synthetic": {"event_types": ["purchase"]},
                 "ignore": STATIC},
}
SPLITS = ("random", "time")


def params_for(shape: str, split: str, customers: int, timeout: float) -> dict[str, Any]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    spec = SHAPES[shape]
    params["data"]["synthetic"].update(n_customers=customers, **spec["synthetic"])
    params["data"]["ignore"] = spec.get("ignore", [])
    params["label"].update(from_events=True, **spec["label"])
    params["split"]["method"] = split
    params["tune"]["timeout"] = timeout
    return params


def markdown(result: dict[str, Any]) -> str:
    lines = ["| shape | split | best by CV | CV ROC-AUC (train period) | test ROC-AUC | change | oracle |",
             "|---|---|---|---|---|---|---|"]
    for shape, splits in result["shapes"].items():
        for split, r in splits.items():
            if "failed" in r:
                lines.append(f"| {shape} | {split} | failed in {r['failed']} | | | | |")
                continue
            cv, test = r["models"][r["best"]]["cv_score"], r["best_test_roc_auc"]
            oracle = f"{r['oracle_roc_auc']:.4f}" if r["oracle_roc_auc"] else "-"
            lines.append(f"| {shape} | {split} | {r['best']} | {cv:.4f} | {test:.4f} | {test - cv:+.4f} | {oracle} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--splits", default=",".join(SPLITS))
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--timeout", type=float, default=120.0, help="tune.timeout of every run (s)")
    ap.add_argument("--keep", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-labels-"))
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()}, "customers": args.customers,
              "timeout": args.timeout, "shapes": {}}
    for shape in args.shapes.split(","):
        result["shapes"][shape] = {}
        for split in args.splits.split(","):
            print(f"{shape} / {split} ...", file=sys.stderr, flush=True)
            r = run_variant(root / f"{shape}-{split}", params_for(shape, split, args.customers, args.timeout))
            result["shapes"][shape][split] = r
            print(json.dumps(r)[:400], file=sys.stderr, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "labels.json").write_text(json.dumps(result, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
