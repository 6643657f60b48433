"""Does the event log pay? The project's best test ROC-AUC with sequence features against aggregates alone,
on the same simulator data, split and tune.timeout, and what the CoLES encoder costs.

    .venv/bin/python bench/bench_sequences.py                               # every shape (about 30 min)
    .venv/bin/python bench/bench_sequences.py --shapes order --timeout 120 --keep /tmp/seq
    .venv/bin/python bench/bench_sequences.py --quick                       # smoke test: 1,500 customers

Variants, on each shape, one after the other (never two at once):
  aggregates   features.embedding.dim 0 and tune.models without the sequence model: static + event aggregates
  sequences    the repo's params: the CoLES embedding columns join the matrix and the sequence model competes
Shapes (pipeline.simulate with the repo's defaults plus):
  default      20,000 customers, static columns and the full event log
  order        20,000 customers, events only (every static column ignored), order_pattern_effect 2.5:
               a long-range order pattern that counts cannot see
  purchase     20,000 customers, static columns and purchase events only (event_types [purchase]): one
               event type, so order carries nothing; the target is that embeddings cost at most 0.002
Each variant runs the stages prepare .. evaluate as `python -m pipeline.<stage>` with dvc.yaml's arguments
in a fresh folder (cwd), PYTHONPATH the repo. Reported: the best model by CV and its test ROC-AUC, the
oracle (the simulator's true probabilities), the features stage's seconds and the encoder's own fit
seconds (models/transform.skops), tune's wall seconds. Results: stdout (markdown) and
bench/results/sequences.json. Not a test: run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
STAGES = ("prepare", "impute", "outliers", "features", "tune", "evaluate")
STATIC = ["age", "income", "tenure_months", "monthly_fee", "support_calls", "satisfaction", "plan", "region",
          "channel", "payment_method"]
SHAPES: dict[str, dict[str, Any]] = {
    "default": {"synthetic": {}},
    "order": {"synthetic": {"order_pattern_effect": 2.5}, "ignore": STATIC},
    "purchase": {"synthetic": {"event_types": ["purchase"]}},
}
VARIANTS = ("aggregates", "sequences")


def params_for(shape: str, variant: str, customers: int, timeout: float) -> dict[str, Any]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    spec = SHAPES[shape]
    params["data"]["synthetic"].update(n_customers=customers, **spec["synthetic"])
    if "ignore" in spec:
        params["data"]["ignore"] = spec["ignore"]
    params["tune"]["timeout"] = timeout
    if variant == "aggregates":
        params["features"]["embedding"]["dim"] = 0
        params["features"]["transitions"] = 0
        params["features"]["follows"] = 0
        from pipeline.models.registry import FAMILIES

        models = params["tune"].get("models") or list(FAMILIES)
        params["tune"]["models"] = [m for m in models if FAMILIES[m].inputs != "sequence"]
    return params


def stage_args(stage: str) -> list[str]:
    cmd = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]["cmd"]
    return shlex.split(cmd)[3:]


def run_variant(folder: Path, params: dict[str, Any]) -> dict[str, Any]:
    folder.mkdir(parents=True)
    (folder / "configs").symlink_to(REPO / "configs")
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    seconds = {}
    with (folder / "stages.log").open("w") as log:
        for stage in STAGES:
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", f"pipeline.{stage}", "--params", "params.yaml",
                                   *stage_args(stage)], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
            seconds[stage] = round(time.monotonic() - started, 1)
            if done.returncode != 0:
                tail = (folder / "stages.log").read_text().strip().splitlines()[-5:]
                return {"failed": stage, "seconds": seconds, "log_tail": tail}
    metrics = json.loads((folder / "reports/metrics.json").read_text())
    models, best = metrics["models"], metrics["best"]
    return {"seconds": seconds, "best": best, "best_test_roc_auc": models[best]["roc_auc"],
            "oracle_roc_auc": (metrics.get("oracle") or {}).get("roc_auc"),
            "embedding_fit_seconds": embedding_seconds(folder),
            "models": {f: {k: m.get(k) for k in ("roc_auc", "cv_score", "brier")} for f, m in models.items()}}


def embedding_seconds(folder: Path) -> float | None:
    """The encoder's pre-training seconds, from the features stage's log line."""
    found = re.findall(r"embedding: pre-trained on \d+ customers in ([0-9.]+) s", (folder / "stages.log").read_text())
    return float(found[-1]) if found else None


def markdown(result: dict[str, Any]) -> str:
    lines = ["| shape | variant | best by CV | test ROC-AUC | oracle | features s | encoder fit s | tune s |",
             "|---|---|---|---|---|---|---|---|"]
    for shape, variants in result["shapes"].items():
        for variant, r in variants.items():
            if "failed" in r:
                lines.append(f"| {shape} | {variant} | failed in {r['failed']} | | | | | |")
                continue
            s = r["seconds"]
            lines.append(f"| {shape} | {variant} | {r['best']} | {r['best_test_roc_auc']:.4f} | "
                         f"{r['oracle_roc_auc'] or float('nan'):.4f} | {s['features']} | "
                         f"{r['embedding_fit_seconds'] or 0} | {s['tune']} |")
        rows = variants.values()
        if all("best_test_roc_auc" in r for r in rows) and len(variants) == 2:
            gain = variants["sequences"]["best_test_roc_auc"] - variants["aggregates"]["best_test_roc_auc"]
            lines.append(f"| {shape} | gain | | {gain:+.4f} | | | | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--timeout", type=float, default=180.0, help="tune.timeout of every variant (s)")
    ap.add_argument("--quick", action="store_true", help="1,500 customers and tune.timeout 30 s")
    ap.add_argument("--keep", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = ap.parse_args()
    customers, timeout = (1_500, 30.0) if args.quick else (args.customers, args.timeout)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-seq-"))
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()}, "customers": customers,
              "timeout": timeout, "shapes": {}}
    for shape in args.shapes.split(","):
        result["shapes"][shape] = {}
        for variant in args.variants.split(","):
            print(f"{shape} / {variant} ...", file=sys.stderr, flush=True)
            r = run_variant(root / f"{shape}-{variant}", params_for(shape, variant, customers, timeout))
            result["shapes"][shape][variant] = r
            print(json.dumps(r)[:400], file=sys.stderr, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sequences.json").write_text(json.dumps(result, indent=2))
    print(markdown(result))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
