"""Wall time and peak memory of each data stage at scale, run as DVC runs them (one process per stage).

    python bench/bench_stages.py --customers 1000000 --events-per-customer 30 [--keep DIR]

The data stages (prepare with source synthetic, impute, outliers, features, resample) of bench/bench_scale.py,
which runs every stage: each as `python -m pipeline.<stage>` in its own process; per stage the wall seconds and
the process's peak RSS (os.wait4 rusage). Not a test.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import run_stage  # noqa: E402

STAGES = ["prepare", "impute", "outliers", "features", "resample"]


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
    results = {}
    for stage in STAGES:
        results[stage] = run_stage(stage, root)
        if "failed" in results[stage]:
            raise SystemExit(f"{stage} failed with exit code {results[stage]['failed']}: {results[stage]['log_tail']}")
    meta = json.loads((root / "data/interim/prepared/meta.json").read_text())
    print(f"\n{args.customers:,} customers, {meta['n_events']:,} events")
    print(f"{'stage':<10} {'seconds':>8} {'peak RSS GiB':>13}")
    for stage, row in results.items():
        print(f"{stage:<10} {row['seconds']:>8} {row['peak_rss_gib']:>13}")
    print(f"{'total':<10} {sum(r['seconds'] for r in results.values()):>8.1f}")


if __name__ == "__main__":
    main()
