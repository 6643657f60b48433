"""Shared tiny data: a seeded customers table, a small event log, and file/params writers (all in tmp_path)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml


def make_customers(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Raw customers as a user would export them: zero-padded ids, churn 0/1 (~30 % positive),
    a numeric column with blanks, an integer column, a text categorical with blanks."""
    rng = np.random.default_rng(seed)
    churn = np.zeros(n, dtype=int)
    churn[rng.choice(n, size=max(2, int(0.3 * n)), replace=False)] = 1
    age = rng.normal(40, 12, n).round(1).astype(object)
    age[rng.choice(n, size=n // 10, replace=False)] = None
    plan = rng.choice(["basic", "plus", "pro"], n).astype(object)
    plan[rng.choice(n, size=n // 10, replace=False)] = None
    return pd.DataFrame({"customer_id": [f"{i:05d}" for i in range(1, n + 1)], "churn": churn, "age": age,
                         "tenure_months": rng.integers(1, 60, n), "plan": plan})


def make_events(customer_ids: list[str], per_customer: int = 3, seed: int = 0,
                start: str = "2025-01-01") -> pd.DataFrame:
    """A small event log: per customer a few typed, timestamped events with an amount, all before 2025-07."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(customer_ids, per_customer)
    minutes = rng.integers(0, 180 * 24 * 60, len(ids))
    stamps = (pd.Timestamp(start) + pd.to_timedelta(minutes, unit="min")).strftime("%Y-%m-%d %H:%M:%S")
    return pd.DataFrame({"customer_id": ids, "timestamp": stamps,
                         "event_type": rng.choice(["login", "payment", "complaint"], len(ids)),
                         "amount": rng.gamma(2.0, 20.0, len(ids)).round(2)})


def hand_event_log() -> pd.DataFrame:
    """10 events of 3 customers, sorted by customer and time like the prepared events."""
    rows = [
        ("a", "2023-12-01", "visit", np.nan), ("a", "2023-12-11", "purchase", 10.0),
        ("a", "2024-01-10", "visit", np.nan), ("a", "2024-01-20", "purchase", 30.0),
        ("a", "2024-01-30", "support_ticket", np.nan),
        ("b", "2023-11-02", "purchase", 100.0), ("b", "2023-11-12", "visit", np.nan),
        ("b", "2023-12-02", "visit", np.nan),
        ("c", "2024-01-25", "visit", np.nan), ("c", "2024-01-29T12:00", "support_ticket", np.nan),
    ]
    events = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "amount"])
    events["timestamp"] = pd.to_datetime(events["timestamp"], format="ISO8601").astype("datetime64[ns]")
    return events


@pytest.fixture
def customers_frame() -> pd.DataFrame:
    return make_customers()


@pytest.fixture
def events_frame(customers_frame: pd.DataFrame) -> pd.DataFrame:
    return make_events(customers_frame["customer_id"].tolist())


@pytest.fixture
def write_table(tmp_path: Path) -> Callable[[pd.DataFrame, str], Path]:
    """Write a frame to tmp_path/name as CSV (no index) or Parquet, by suffix; returns the path."""
    def write(frame: pd.DataFrame, name: str) -> Path:
        path = tmp_path / name
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
        return path
    return write


@pytest.fixture
def write_params(tmp_path: Path) -> Callable[..., Path]:
    """Write a params.yaml with the given sections (missing keys take the dataclass defaults)."""
    def write(name: str = "params.yaml", **sections: Any) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(sections, sort_keys=False))
        return path
    return write


REPO = Path(__file__).resolve().parents[1]


def stage_args(stage: str) -> list[str]:
    """The stage's arguments exactly as dvc.yaml runs it (paths are written once, there)."""
    import shlex

    cmd = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]["cmd"]
    words = shlex.split(cmd)
    assert words[:3] == ["python", "-m", f"pipeline.{stage}"], cmd
    return words[3:]


def run_stages(root: Path, params: Path, stages: list[str]) -> None:
    """Run the stages' main() in order inside `root`, with the paths dvc.yaml uses."""
    import importlib
    import os

    cwd = os.getcwd()
    os.chdir(root)
    try:
        for stage in stages:
            importlib.import_module(f"pipeline.{stage}").main(["--params", str(params), *stage_args(stage)])
    finally:
        os.chdir(cwd)


DVC_TINY = {"n_customers": 400, "events_per_customer": 8}
DVC_FAST_TUNE = {"trials": 2, "folds": 3, "lstm_max_epochs": 2, "pruner": "none"}


def run_command(cmd: list[str], cwd: Path) -> str:
    """Run a command with the venv's tools (dvc) first on PATH; fail the test with its output."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="session")
def dvc_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repo's pipeline with tiny params after one full `dvc repro`, shared by the whole
    session (the DVC wiring tests and the report's browser test), so the suite runs the pipeline once."""
    import shutil

    root = tmp_path_factory.mktemp("project")
    for name in ("pipeline", "configs"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, root / name)
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / ".gitkeep").touch()
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["synthetic"].update(DVC_TINY)
    params["tune"].update(DVC_FAST_TUNE)
    params["evaluate"]["n_boot"] = 100
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_command(["git", "init", "-q"], root)
    run_command(["dvc", "init", "-q"], root)
    run_command(["dvc", "config", "core.analytics", "false"], root)
    run_command(["dvc", "repro"], root)
    return root


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL database on loopback (tests/postgres_server.py); skip without one, but
    fail under CI, where the multi-worker tests must run."""
    import os

    from postgres_server import NoServer, postgres_server

    server = postgres_server()
    try:
        url = server.__enter__()
    except NoServer as err:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and no PostgreSQL server could be started: {err}")
        pytest.skip(f"no PostgreSQL server could be started: {err}")
    yield url
    server.__exit__(None, None, None)
