"""What reading real exports costs: `python -m pipeline.prepare` on the simulator's tables written as files.

    python bench/bench_exports.py [--customers 100000] [--repo DIR] [--keep DIR]

Writes the simulator's customers and events (seed 2026) three ways: Parquet, a plain CSV (ISO times, '.'
decimals) and a German-locale Excel export of the same values (a `sep=;` line, semicolons, Windows-1252,
day-first `31.12.2025 14:30` times, decimal commas, '?' for a missing income). Then runs prepare on each in
its own process (wall seconds, peak RSS from os.wait4) and checks that the plain CSV and the Excel export give
the same prepared numbers. `--repo DIR` runs DIR's prepare too (e.g. a worktree of an older commit), on the
files it can read. Not a test.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path, repo: Path) -> tuple[float, float, int]:
    """Run `cmd`; (wall seconds, peak RSS GiB, exit code)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, "PYTHONPATH": str(repo)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss / 2**20, os.waitstatus_to_exitcode(status)


def write_files(n: int, out: Path) -> dict[str, tuple[Path, Path, dict]]:
    """{kind: (customers, events, extra data params)} for parquet, csv and the Excel export."""
    sys.path.insert(0, str(REPO))
    from pipeline.core.params import SyntheticParams
    from pipeline.data.simulator import simulate

    sim = simulate(SyntheticParams(n_customers=n), seed=2026)
    customers, events = sim.customers, sim.events
    out.mkdir(parents=True, exist_ok=True)
    customers.to_parquet(out / "customers.parquet", index=False)
    events.to_parquet(out / "events.parquet", index=False)
    customers.to_csv(out / "customers.csv", index=False)
    events.to_csv(out / "events.csv", index=False, date_format="%Y-%m-%d %H:%M:%S")
    comma = lambda v: "?" if pd.isna(v) else repr(float(v)).replace(".", ",")   # noqa: E731
    excel = customers.assign(income=customers["income"].map(comma))
    excel_text = "sep=;\r\n" + excel.to_csv(index=False, sep=";", decimal=",", lineterminator="\r\n")
    (out / "customers_de.csv").write_bytes(excel_text.encode("cp1252"))
    ev = events.assign(timestamp=events["timestamp"].dt.strftime("%d.%m.%Y %H:%M:%S"),
                       amount=events["amount"].map(lambda v: "" if pd.isna(v) else repr(float(v)).replace(".", ",")))
    ev_text = "sep=;\r\n" + ev.to_csv(index=False, sep=";", lineterminator="\r\n")
    (out / "events_de.csv").write_bytes(ev_text.encode("cp1252"))
    return {"parquet": (out / "customers.parquet", out / "events.parquet", {}),
            "csv": (out / "customers.csv", out / "events.csv", {}),
            "excel-de": (out / "customers_de.csv", out / "events_de.csv", {"dayfirst": True})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--repo", type=Path, help="another checkout whose prepare runs beside this one's")
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-exports-"))
    files = write_files(args.customers, work / "raw")
    repos = {"this": REPO, **({"other": args.repo.resolve()} if args.repo else {})}
    for kind, (customers, events, extra) in files.items():
        for name, repo in repos.items():
            data = {"source": "files", "customers": str(customers), "events": str(events), "target": "churn",
                    "cutoff": "2026-01-01", **(extra if name == "this" else {})}
            params = work / f"params_{kind}_{name}.yaml"
            params.write_text(yaml.safe_dump({"data": data}))
            out = work / f"prepared_{kind}_{name}"
            seconds, rss, code = timed([sys.executable, "-m", "pipeline.prepare", "--params", str(params),
                                        "--out", str(out)], repo, repo)
            print(f"prepare {kind:9s} {name:5s}: {seconds:6.1f} s, peak RSS {rss:.2f} GiB, exit {code}")
    plain, excel = (pd.read_parquet(work / f"prepared_{k}_this" / "train.parquet") for k in ("csv", "excel-de"))
    ev_plain, ev_excel = (pd.read_parquet(work / f"prepared_{k}_this" / "events.parquet") for k in ("csv", "excel-de"))
    print(f"plain CSV and the German Excel export prepare the same train table: {plain.equals(excel)}, "
          f"the same events: {ev_plain.equals(ev_excel)}")
    if args.keep is None:
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
