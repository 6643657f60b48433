"""How cost grows: wall time and peak memory of every stage of `dvc repro` against the number of customers.

    .venv/bin/python bench/bench_scale.py --sizes 10000,100000,1000000 --keep /tmp/scale
    .venv/bin/python bench/bench_scale.py --sizes 1000000 --stages prepare,impute,outliers,features

Each size runs in its own folder with the repo's params.yaml except data.synthetic.n_customers; every stage
runs as `python -m pipeline.<stage>` with dvc.yaml's arguments, one process per stage, one after the other
(PYTHONPATH the repo, configs linked), so wall seconds and peak RSS (os.wait4 rusage: the stage's process
and the children it waited for) are per stage. A failing stage ends that size and is reported with its
log tail. Results: stdout (markdown), bench/results/scale.json, and a log-log plot of seconds and peak GiB
per stage against customers (bench/results/scale.svg, with --plot PATH elsewhere), and per stage the
exponents b of seconds ~ customers^b (and of peak GiB) between each pair of neighbouring sizes. `--merge FILE` starts from an
earlier scale.json, so one size can be re-run without the others. Not a test: run it on an otherwise
idle machine.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
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


def dvc_stages() -> list[str]:
    return list(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])


def stage_command(stage: str) -> list[str]:
    words = shlex.split(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]["cmd"])
    return [sys.executable, *words[1:]]


def run_stage(stage: str, root: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    with (root / f"{stage}.log").open("w") as log:
        proc = subprocess.Popen(stage_command(stage), cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    row = {"seconds": round(time.perf_counter() - started, 1), "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2)}
    if (code := os.waitstatus_to_exitcode(status)) != 0:
        row.update(failed=code, log_tail=(root / f"{stage}.log").read_text().strip().splitlines()[-5:])
    return row


def run_size(customers: int, stages: list[str], root: Path) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "configs").exists():
        (root / "configs").symlink_to(REPO / "configs")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["synthetic"]["n_customers"] = customers
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rows: dict[str, Any] = {}
    for stage in stages:
        print(f"{customers:,} customers: {stage} ...", file=sys.stderr, flush=True)
        rows[stage] = run_stage(stage, root)
        print(f"  {rows[stage]}", file=sys.stderr, flush=True)
        if "failed" in rows[stage]:
            break
    return rows


def markdown(result: dict[str, Any]) -> str:
    sizes = list(result["sizes"])
    stages = [s for s in result["stages"] if any(s in result["sizes"][n] for n in sizes)]
    head = "| stage | " + " | ".join(f"{int(n):,} s / GiB" for n in sizes) + " |"
    lines = [head, "|---|" + "---|" * len(sizes)]
    for stage in stages:
        cells = []
        for n in sizes:
            row = result["sizes"][n].get(stage)
            cells.append("-" if row is None else f"{row['seconds']} / {row['peak_rss_gib']}"
                         + (f" (failed {row['failed']})" if "failed" in row else ""))
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    totals = [sum(r["seconds"] for r in result["sizes"][n].values()) for n in sizes]
    peaks = [max((r["peak_rss_gib"] for r in result["sizes"][n].values()), default=0) for n in sizes]
    lines.append("| **total / largest** | " + " | ".join(f"**{t:.0f} / {p}**" for t, p in zip(totals, peaks)) + " |")
    return "\n".join(lines + ["", exponents(result)])


def exponents(result: dict[str, Any]) -> str:
    """Per stage, b in seconds ~ customers^b (and peak GiB) between neighbouring sizes; the slowest stage per size."""
    sizes = sorted(result["sizes"], key=int)
    pairs = list(zip(sizes, sizes[1:]))
    lines = ["| stage | " + " | ".join(f"b seconds / GiB, {int(a):,} -> {int(b):,}" for a, b in pairs) + " |",
             "|---|" + "---|" * len(pairs)]
    for stage in result["stages"]:
        cells = []
        for a, b in pairs:
            ra, rb = result["sizes"][a].get(stage), result["sizes"][b].get(stage)
            ok = ra and rb and "failed" not in ra and "failed" not in rb and ra["seconds"] > 0
            span = math.log(int(b) / int(a))
            cells.append(f"{math.log(rb['seconds'] / ra['seconds']) / span:.2f} / "
                         f"{math.log(rb['peak_rss_gib'] / max(ra['peak_rss_gib'], 1e-3)) / span:.2f}" if ok else "-")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    top = [max(result["sizes"][n].items(), key=lambda kv: kv[1]["seconds"])[0] for n in sizes]
    lines += ["", "Slowest stage: " + ", ".join(f"{int(n):,}: {s}" for n, s in zip(sizes, top)) + "."]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(result["sizes"], key=int)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    colours = plt.get_cmap("tab20").colors   # 11 stages: the default 10-colour cycle would repeat one
    for k, stage in enumerate(result["stages"]):
        points = [(int(n), result["sizes"][n][stage]) for n in sizes if stage in result["sizes"][n]]
        if len(points) < 1:
            continue
        x = [n for n, _ in points]
        style = {"marker": "os^vD"[k % 5], "color": colours[(2 * k) % 20 + (k >= 10)], "label": stage}
        axes[0].plot(x, [r["seconds"] for _, r in points], **style)
        axes[1].plot(x, [r["peak_rss_gib"] for _, r in points], **style)
    for ax, label in zip(axes, ("wall seconds", "peak RSS (GiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("customers")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=path.suffix.lstrip(".") or "svg", dpi=80)   # a small PNG or SVG for the README


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help='"" with --merge: table and plot only')
    ap.add_argument("--stages", default=",".join(dvc_stages()), help="default: every stage of dvc.yaml, in order")
    ap.add_argument("--keep", type=Path, help="keep the run folders here (default: a temporary folder)")
    ap.add_argument("--plot", type=Path, default=RESULTS / "scale.svg")
    ap.add_argument("--merge", type=Path, help="an earlier scale.json whose other sizes join this run's table")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    stages = args.stages.split(",")
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()}, "stages": stages, "sizes": {}}
    if args.merge:
        result["sizes"] = json.loads(args.merge.read_text())["sizes"]
    for size in (int(s) for s in args.sizes.split(",") if s):   # --sizes "": redraw --merge's table and plot
        result["sizes"][str(size)] = run_size(size, stages, root / str(size))
        result["sizes"] = dict(sorted(result["sizes"].items(), key=lambda kv: int(kv[0])))
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "scale.json").write_text(json.dumps(result, indent=2))
    plot(result, args.plot)
    print(markdown(result))


if __name__ == "__main__":
    main()
