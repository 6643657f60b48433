"""The race across families (pipeline/tuning/allocator.py, runner.py) and the budget (finalize.py):
start points first, a hopeless family stopped, the time budget a hard limit including the ensemble and
calibration, and a killed run's trials kept by the next one."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from conftest import REPO, run_stages

from pipeline import tune
from pipeline.models import logreg, registry
from pipeline.tuning.allocator import Allocator

FOLDS = 5


def folds_around(mean: float, rng: np.random.Generator, sd: float = 0.01) -> list[float]:
    return list(mean + rng.normal(0, sd, FOLDS))


def test_start_points_run_first_and_parallel_workers_never_take_one_twice():
    a = Allocator({"cheap": 2, "slow": 1})
    assert a.next(None) == "cheap"
    a.dispatch("cheap")
    assert a.next(None) == "cheap"          # its second start point, on the other worker
    a.dispatch("cheap")
    assert a.next(None) == "slow"
    a.dispatch("slow")
    assert a.next(None) is None             # nothing scored yet: wait rather than sample blindly


def test_a_hopeless_family_is_stopped_and_never_scheduled_again():
    rng = np.random.default_rng(0)
    a = Allocator({"good": 1, "hopeless": 1})
    for _ in range(3):
        for name, mean in (("good", 0.80), ("hopeless", 0.50)):
            a.dispatch(name)
            folds = folds_around(mean, rng)
            a.record(name, float(np.mean(folds)), folds, seconds=1.0)
    assert a.states["hopeless"].stopped and "behind good" in a.states["hopeless"].stopped
    assert not a.states["good"].stopped
    assert all(a.next(None) == "good" for _ in range(5))


def test_a_close_family_is_not_stopped_and_a_cheap_one_gets_time():
    a = Allocator({"leader": 1, "close": 1})
    leader = [0.80, 0.81, 0.79, 0.80, 0.80]
    for _ in range(4):
        for name, folds, seconds in (("leader", leader, 10.0), ("close", [x - 0.001 for x in leader], 1.0)):
            a.dispatch(name)
            a.record(name, float(np.mean(folds)), folds, seconds)
    assert a.states["close"].stopped is None      # 0.001 behind, within the folds' noise: tuning may close that
    assert a.next(None) == "close"                # and ten times cheaper per trial


def test_a_family_whose_trials_do_not_fit_in_the_time_left_is_not_started():
    a = Allocator({"slow": 1, "fast": 1})
    for name, seconds in (("slow", 30.0), ("fast", 1.0)):
        a.dispatch(name)
        a.record(name, 0.8, [0.8, 0.81, 0.79, 0.8, 0.8], seconds)
    assert a.next(5.0) == "fast"
    assert a.next(0.5) is None


def test_race_false_never_stops_a_family():
    a = Allocator({"good": 1, "hopeless": 1}, stop=False)
    for _ in range(4):
        for name, score in (("good", 0.8), ("hopeless", 0.5)):
            a.dispatch(name)
            a.record(name, score, [score + d for d in (0.01, -0.01, 0.0, 0.02, -0.02)], 1.0)
    assert a.states["hopeless"].stopped is None


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("race")
    params = {"seed": 5, "data": {"synthetic": {"n_customers": 400, "events_per_customer": 8}},
              "tune": {"pruner": "none", "heartbeat_seconds": 1, "grace_seconds": 2}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run_stages(root, root / "params.yaml", ["prepare", "impute", "outliers", "features"])
    return root


def configs_with(root: Path, name: str) -> Path:
    """configs/ plus <name>.yaml: logistic regression's space for a fake family."""
    configs = root / f"configs-{name}"
    if not configs.exists():
        shutil.copytree(REPO / "configs", configs)
        shutil.copy(configs / "logreg.yaml", configs / f"{name}.yaml")
    return configs


def run_tune(root: Path, configs: Path, tag: str, *extra: str) -> dict:
    out = root / tag
    tune.main(["--params", str(root / "params.yaml"), "--features", str(root / "data/features"),
               "--configs", str(configs), "--out", str(out / "tuned"), "--report", str(out / "tune.json"),
               "--storage", f"sqlite:///{root / f'{tag}.db'}", "--folds", "3", "--no-resume", *extra])
    return json.loads((out / "tune.json").read_text())


def test_tune_stops_a_family_that_always_scores_one_half(features, monkeypatch):
    hopeless = dataclasses.replace(logreg.FAMILY, name="hopeless", label="Coin",
                                   predict=lambda model, X: np.full(len(X), 0.5))
    monkeypatch.setitem(registry.FAMILIES, "hopeless", hopeless)
    report = run_tune(features, configs_with(features, "hopeless"), "hopeless", "--models", "logreg,hopeless",
                      "--trials", "12", "--n-jobs", "2")
    race = report["budget"]["families"]
    assert race["hopeless"]["stopped"] and "behind logreg" in race["hopeless"]["stopped"]
    assert report["families"]["hopeless"]["n_trials"] <= 5 < report["families"]["logreg"]["n_trials"] == 12
    assert report["ensemble"] is None or "hopeless" not in report["ensemble"]["members"]


def test_the_budget_is_a_hard_limit_including_the_ensemble_and_calibration(features, monkeypatch):
    """A slow family and many trials asked for: tune's own clock stays within --timeout, and it still
    leaves fitted, calibrated models and the ensemble."""
    def slow_fit(model, data, hooks):
        time.sleep(0.3)
        return logreg.FAMILY.fit(model, data, hooks)

    slow = dataclasses.replace(logreg.FAMILY, name="slow", label="Slow", fit=slow_fit,
                               start_points=({"penalty": "l2", "C": 0.3, "imbalance": "weights"},))
    monkeypatch.setitem(registry.FAMILIES, "slow", slow)
    timeout = 10
    started = time.monotonic()
    report = run_tune(features, configs_with(features, "slow"), "budget", "--models", "logreg,slow,xgb",
                      "--trials", "500", "--timeout", str(timeout), "--n-jobs", "2")
    assert report["budget"]["total_seconds"] <= timeout
    assert time.monotonic() - started < timeout + 15    # imports, data and storage set-up come on top
    assert report["ensemble"] is not None
    for family in ("logreg", "slow", "xgb"):
        row = report["families"][family]
        assert row["n_trials"] < 500 and "skipped" not in row
        info = json.loads((features / "budget/tuned" / family / "info.json").read_text())
        assert info["calibration"]["method"] in ("none", "sigmoid", "isotonic") and 0 < info["threshold"] < 1
    assert report["families"]["slow"]["imbalance"] in ("none", "weights", "smote")


def test_a_killed_run_keeps_its_trials_and_the_next_run_continues_them(features):
    db = features / "killed.db"
    out = features / "killed"
    out.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "pipeline.tune", "--params", str(features / "params.yaml"),
           "--features", str(features / "data/features"), "--out", str(out / "tuned"),
           "--report", str(out / "tune.json"), "--storage", f"sqlite:///{db}", "--study-name", "killed",
           "--models", "logreg", "--folds", "3", "--n-jobs", "2"]
    first_log = out / "first.log"
    with first_log.open("w") as log_file:
        proc = subprocess.Popen([*cmd, "--trials", "400"], cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT,
                                env={**os.environ})

    def finished() -> list[optuna.trial.FrozenTrial]:
        try:
            study = optuna.load_study(study_name="killed-logreg", storage=f"sqlite:///{db}")
        except KeyError:
            return []
        return study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))

    deadline = time.monotonic() + 120
    while len(finished()) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: t.value for t in finished()}
    assert len(before) >= 4, first_log.read_text()[-3000:]
    time.sleep(2.5)   # past grace_seconds: the killed run's RUNNING trials are stale
    target = len(before) + 6
    resumed = subprocess.run([*cmd, "--trials", str(target)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    study = optuna.load_study(study_name="killed-logreg", storage=f"sqlite:///{db}")
    after = {t.number: t.value for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}
    assert all(after[n] == v for n, v in before.items())          # every finished trial kept, unchanged
    assert len(after) > len(before)                                # and the study went on
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
