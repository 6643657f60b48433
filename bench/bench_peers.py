"""Side by side: this project's whole `dvc repro` against established AutoML tools, on the same split.

    .venv/bin/python bench/bench_peers.py --setup                          # build the peers' venvs, then exit
    .venv/bin/python bench/bench_peers.py                                  # every system on every shape (hours)
    .venv/bin/python bench/bench_peers.py --shapes tabular --systems logreg,flaml60,project60
    .venv/bin/python bench/bench_peers.py --quick                          # smoke test: 1,000 customers, tiny budgets
    .venv/bin/python bench/bench_peers.py --repo ../other-checkout --keep /tmp/peers

Systems (--systems, default all), run one after the other, never two at once:
  project60, project300   the project's `dvc repro` with tune.timeout 60 / 300 s, every other param as in
                          the repo's params.yaml except the data section (source: files, split.column: split)
  flaml60, flaml300       FLAML 2.7.0 AutoML, metric roc_auc, time_budget 60 / 300 s
  xgb_optuna              XGBoost + Optuna: 50 seeded TPE trials of 5-fold CV ROC-AUC, best refit on train
  logreg                  scikit-learn LogisticRegression on one-hot / imputed + scaled columns (the floor)
  autogluon60             AutoGluon 1.6.3 TabularPredictor, medium_quality, time_limit 60 s
--quick: 1,000 customers per shape and budgets of project 20 / 40 s, FLAML 5 / 10 s, 5 Optuna trials and
AutoGluon 10 s (about 2 to 6 minutes a shape, most of it the project's nine stage start-ups).
Shapes (--shapes, default all), from the repo's simulator (pipeline.simulate, seed 42):
  tabular 5,000 customers, no events; events 20,000 customers, the event log and only id + target in the
  customers table; default 20,000 customers with both. One seeded stratified 80/20 split per shape, a
  `split` column (train/test) in customers.csv, the same rows for every system. The project gets the raw
  tables; each peer gets one flat CSV per split, the customer columns plus the RFM aggregates that
  bench/peers/data.py hand-makes from each customer's own events (what a user would hand-make for a peer).
  An `oracle` row scores the simulator's true probabilities on the test customers: the ceiling.

The project runs in a fresh folder holding a copy of the repo's pipeline/, configs/, dvc.yaml and
.dvc/plots (after `git init` + `dvc init`), with the venv's bin first on PATH (as the Makefile does) and
PYTHONPATH set to that folder. Each peer runs as `bench/.venvs/<peer>/bin/python bench/peers/run_<peer>.py`
in its own venv (bench/peers/venvs.py builds them; never the project's dependencies). Wall seconds count
from the process start, imports included: what a user waits for. Peak RSS is ru_maxrss from os.wait4 on
that process, which covers it and its waited-for descendants, so it is the LARGEST SINGLE PROCESS (for the
project: dvc itself or one stage, not their sum). A system that fails or overruns --max-seconds is
reported with its log's last lines as the note, and the bench goes on. Tables go to stdout (markdown),
everything to bench/results/peers-<shape>.json. Not a test: run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from peers import data as D
from peers import venvs

REPO = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).resolve().parent / "peers"
RESULTS = REPO / "bench" / "results"
QUICK_CUSTOMERS = 1_000
NOTE_CHARS = 240


@dataclass(frozen=True)
class System:
    kind: str                   # "project" or a peer's name (its venv and run_<peer>.py)
    budget: float | None        # seconds (project, flaml, autogluon), trials (xgb_optuna), None (logreg)
    quick: float | None         # the --quick budget


SYSTEMS = {"project60": System("project", 60, 20), "project300": System("project", 300, 40),
           "flaml60": System("flaml", 60, 5), "flaml300": System("flaml", 300, 10),
           "xgb_optuna": System("xgb_optuna", 50, 5), "logreg": System("logreg", None, None),
           "autogluon60": System("autogluon", 60, 10)}


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_gib: float
    code: int                   # exit code; -9 when killed at --max-seconds
    log: Path


def timed(command: list[str], cwd: Path, env: dict[str, str], log: Path, limit_s: float) -> Run:
    """One command in its own session; wall seconds and peak RSS (os.wait4) of it and its descendants."""
    with log.open("wb") as out:         # a file, not a pipe: a chatty tool cannot block on a full pipe
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        # past the limit, end the session it leads (its own process group: only what this bench started)
        watchdog = threading.Timer(limit_s, _kill_group, args=(proc.pid,))
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:           # interrupted: leave nothing of ours running
            _kill_group(proc.pid)
            raise
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - started
    _kill_group(proc.pid)               # a tool's stray workers (Ray, joblib) must not overlap the next system
    return Run(seconds, usage.ru_maxrss / 2**20, os.waitstatus_to_exitcode(status), log)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def failure_note(run: Run, limit_s: float) -> str:
    """The note of a failed run: why, and its log's last non-empty lines on one line."""
    why = f"killed at --max-seconds {limit_s:g}" if run.code == -signal.SIGKILL else f"failed (exit {run.code})"
    last = [line.strip() for line in tail(run.log).splitlines() if line.strip()][-3:]
    return (why + ": " + " / ".join(last))[:NOTE_CHARS]


def project_params(repo: Path, tables: D.Tables, timeout: float) -> dict[str, Any]:
    """The repo's params.yaml with the data section pointed at the bench's files and tune.timeout set."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(source="files", customers="data/raw/customers.csv",
                          events="data/raw/events.csv" if tables.events else None)
    params["split"]["column"] = D.SPLIT
    params["tune"]["timeout"] = timeout
    return params


def make_project(repo: Path, folder: Path, tables: D.Tables, timeout: float, dvc: Path, env: dict[str, str]) -> None:
    """A fresh DVC project: the repo's code, configs and plot templates, the bench's raw tables, params.yaml."""
    folder.mkdir(parents=True)
    for name in ("pipeline", "configs"):
        shutil.copytree(repo / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(repo / "dvc.yaml", folder / "dvc.yaml")
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    subprocess.run([str(dvc), "init", "-q"], cwd=folder, env=env, check=True)
    shutil.copy(repo / ".dvc" / "config", folder / ".dvc" / "config")   # autostage, analytics off
    shutil.copytree(repo / ".dvc" / "plots", folder / ".dvc" / "plots", dirs_exist_ok=True)
    (folder / "data" / "raw").mkdir(parents=True)
    shutil.copy(tables.customers, folder / "data/raw/customers.csv")
    if tables.events:
        shutil.copy(tables.events, folder / "data/raw/events.csv")
    params = project_params(repo, tables, timeout)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def project_rows(name: str, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The best model's test metrics, plus the ensemble's and the best single family's when they differ."""
    models, best = metrics["models"], metrics["best"]
    single = next((f for f in metrics["ranking"] if f != "ensemble"), None)
    keys = ("roc_auc", "average_precision", "brier")

    def row(system: str, family: str, note: str) -> dict[str, Any]:
        return {"system": system, **{k: models[family].get(k) for k in keys}, "note": note}

    skipped = metrics.get("skipped") or {}
    note = f"best by {metrics.get('selected_by', 'CV')}: {best}"
    if skipped:   # e.g. no trial of a family finished within its share of tune.timeout
        note += f"; skipped {', '.join(sorted(skipped))}"
    rows = [row(name, best, note)]
    if "ensemble" in models and best != "ensemble":
        rows.append(row(f"{name} ensemble", "ensemble", "models['ensemble']"))
    if single is not None and single != best:
        rows.append(row(f"{name} {single}", single, "best single family by CV"))
    return rows


def run_project(name: str, timeout: float, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """`dvc repro` in a fresh folder, timed; rows from its reports/metrics.json."""
    folder = ctx["root"] / name
    env = {**os.environ, "PATH": f"{ctx['venv_bin']}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(folder), "DVC_NO_ANALYTICS": "1"}
    dvc = ctx["venv_bin"] / "dvc"
    make_project(ctx["repo"], folder, ctx["tables"], timeout, dvc, env)
    run = timed([str(dvc), "repro"], folder, env, folder / "repro.log", ctx["limit_s"])
    measured = {"wall_s": round(run.seconds, 1), "peak_rss_gib": round(run.peak_gib, 2), "budget": timeout}
    if run.code != 0:
        return [{"system": name, **measured, "note": failure_note(run, ctx["limit_s"]), "log_tail": tail(run.log)}]
    metrics = json.loads((folder / "reports/metrics.json").read_text())
    rows = project_rows(name, metrics)
    rows[0].update(measured, ranking=metrics["ranking"], skipped=metrics.get("skipped", {}),
                   models={f: {k: m.get(k) for k in ("roc_auc", "average_precision", "brier", "cv_score")}
                           for f, m in metrics["models"].items()})
    return rows


def run_peer(name: str, system: System, budget: float | None, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """bench/peers/run_<peer>.py in the peer's venv, timed; one row from its result.json."""
    venv = venvs.status(system.kind)
    if venv.python is None:
        return [{"system": name, "note": venv.reason[:NOTE_CHARS]}]
    folder = ctx["root"] / name
    folder.mkdir(parents=True)
    tables: D.Tables = ctx["tables"]
    cmd = [str(venv.python), str(PEERS / f"run_{system.kind}.py"), "--train", str(tables.train),
           "--test", str(tables.test), "--target", D.TARGET, "--out", str(folder / "result.json"),
           *(["--budget", f"{budget:g}"] if budget is not None else [])]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}   # the peer sees none of the project
    run = timed(cmd, folder, env, folder / "run.log", ctx["limit_s"])
    measured = {"wall_s": round(run.seconds, 1), "peak_rss_gib": round(run.peak_gib, 2), "budget": budget}
    if run.code != 0 or not (folder / "result.json").is_file():
        return [{"system": name, **measured, "note": failure_note(run, ctx["limit_s"]), "log_tail": tail(run.log)}]
    result = json.loads((folder / "result.json").read_text())
    return [{"system": name, **measured, **result, "note": peer_note(result),
             "versions": venvs.versions(system.kind, VERSIONS[system.kind])}]


VERSIONS = {"flaml": ("flaml", "lightgbm", "xgboost", "scikit-learn", "pandas"),
            "xgb_optuna": ("xgboost", "optuna", "pandas"), "logreg": ("scikit-learn", "pandas"),
            "autogluon": ("autogluon.tabular", "torch", "lightgbm", "catboost", "xgboost-cpu", "pandas")}


def peer_note(result: dict[str, Any]) -> str:
    tried = result.get("models_tried")
    parts = [f"{result['trials']} trials" if "trials" in result else f"{tried} model{'s' * (tried != 1)} tried"]
    if best := result.get("best_model"):
        parts.append(f"best: {best}")
    return ", ".join(parts)


def run_shape(shape: D.Shape, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Make the shape's data, then every selected system on it, one after the other."""
    customers = QUICK_CUSTOMERS if args.quick else shape.customers
    tables = D.make_tables(shape, customers, root / "data", args.repo, args.venv / "bin" / "python",
                           args.repo / "params.yaml")
    ctx = {"root": root, "repo": args.repo, "tables": tables, "venv_bin": args.venv / "bin",
           "limit_s": args.max_seconds}
    rows: list[dict[str, Any]] = []
    for name in args.systems:
        system = SYSTEMS[name]
        budget = system.quick if args.quick else system.budget
        print(f"[{shape.name}] {name} ...", file=sys.stderr, flush=True)
        got = run_project(name, budget, ctx) if system.kind == "project" else run_peer(name, system, budget, ctx)
        print(f"[{shape.name}] {name}: {got[0].get('wall_s', '-')} s, {got[0]['note']}", file=sys.stderr, flush=True)
        rows.extend(got)
    rows.append({"system": "oracle", **D.oracle(tables), "note": "the simulator's true probabilities"})
    return {"shape": shape.name, "customers": customers, "n_train": tables.n_train, "n_test": tables.n_test,
            "n_events": tables.n_events, "peer_feature_columns": tables.peer_columns, "quick": args.quick,
            "repo": str(args.repo), "repo_commit": _commit(args.repo), "machine": _machine(), "rows": rows}


def _commit(repo: Path) -> str | None:
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False)   # not a git checkout (e.g. a `git archive` copy): no commit to name
    return done.stdout.strip() or None


def _machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def markdown(result: dict[str, Any]) -> str:
    """One table per shape: system, ROC-AUC, AP, Brier, wall s, peak RSS GiB, note."""
    def num(x: Any, fmt: str) -> str:
        return "" if x is None else format(x, fmt)

    head = (f"\n{result['shape']}: {result['customers']:,} customers ({result['n_train']:,} train / "
            f"{result['n_test']:,} test), {result['n_events']:,} events{', --quick' if result['quick'] else ''}\n\n"
            "| system | ROC-AUC | AP | Brier | wall s | peak RSS GiB | note |\n|---|---|---|---|---|---|---|")
    lines = [f"| {r['system']} | {num(r.get('roc_auc'), '.4f')} | {num(r.get('average_precision'), '.4f')} | "
             f"{num(r.get('brier'), '.4f')} | {num(r.get('wall_s'), '.1f')} | {num(r.get('peak_rss_gib'), '.2f')} | "
             f"{r['note'].replace('|', '/')} |" for r in result["rows"]]
    return "\n".join([head, *lines])


def setup(systems: list[str]) -> None:
    """Build (or reuse) every selected peer's venv, retrying failed ones, and say how long each took."""
    for peer in dict.fromkeys(SYSTEMS[s].kind for s in systems if SYSTEMS[s].kind != "project"):
        print(f"setup: {peer} ...", file=sys.stderr, flush=True)
        venv, seconds = venvs.build(peer, retry_failed=True)
        print(f"setup: {peer}: {venv.python or venv.reason} ({seconds:.0f} s)", flush=True)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma list of {', '.join(SYSTEMS)}")
    ap.add_argument("--shapes", default=",".join(D.SHAPES), help=f"comma list of {', '.join(D.SHAPES)}")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1,000 customers per shape, tiny budgets")
    ap.add_argument("--setup", action="store_true", help="build the peers' venvs in bench/.venvs/ and exit")
    ap.add_argument("--repo", type=Path, default=REPO, help="the checkout to measure (default: this one)")
    ap.add_argument("--venv", type=Path, default=REPO / ".venv", help="the project's venv (default: .venv here)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp folder)")
    ap.add_argument("--max-seconds", type=float, help="kill a system past this wall time (default 7200, quick 600)")
    args = ap.parse_args()
    args.systems, args.shapes = args.systems.split(","), args.shapes.split(",")
    for given, known, flag in ((args.systems, SYSTEMS, "--systems"), (args.shapes, D.SHAPES, "--shapes")):
        if unknown := [x for x in given if x not in known]:
            ap.error(f"{flag}: unknown {unknown}; expected some of {list(known)}")
    args.repo, args.venv = args.repo.resolve(), args.venv.resolve()
    args.max_seconds = args.max_seconds or (600 if args.quick else 7200)
    return args


def main() -> None:
    args = parse_args()
    if args.setup:
        setup(args.systems)
        return
    for peer in dict.fromkeys(SYSTEMS[s].kind for s in args.systems if SYSTEMS[s].kind != "project"):
        venvs.build(peer, retry_failed=False)        # untimed; a failed one stays failed until --setup
    root = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="bench_peers_"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.shapes:
        folder = root / name
        shutil.rmtree(folder, ignore_errors=True)
        result = run_shape(D.SHAPES[name], args, folder)
        out = RESULTS / f"peers-{name}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(markdown(result), flush=True)
        print(f"\n({out})", flush=True)
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
