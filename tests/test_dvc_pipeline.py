"""End to end through real DVC: `dvc repro` on tiny synthetic data in a throwaway git repo.

Proves the pipeline is wired (deps/params/outs), that a second repro is a no-op, and that an
EDA-only parameter reruns only the eda stage.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = {"n_customers": 400, "events_per_customer": 8}
FAST_TUNE = {"trials": 2, "folds": 3, "lstm_max_epochs": 2, "pruner": "none"}


def run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the repo's pipeline with tiny params, after one full `dvc repro`."""
    root = tmp_path_factory.mktemp("project")
    for name in ("pipeline", "configs"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / ".gitkeep").touch()
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["synthetic"].update(TINY)
    params["tune"].update(FAST_TUNE)
    params["evaluate"]["n_boot"] = 100
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    run(["dvc", "config", "core.analytics", "false"], root)
    run(["dvc", "repro"], root)
    return root


def test_repro_builds_every_declared_output(project):
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        for out in stage.get("outs", []):
            path = out if isinstance(out, str) else next(iter(out))
            assert (project / path).exists(), f"stage {name} did not write {path}"
    assert (project / "dvc.lock").exists()


def test_second_repro_is_a_noop(project):
    out = run(["dvc", "status"], project)
    assert "up to date" in out, out
    out = run(["dvc", "repro"], project)
    assert "Running stage" not in out, out


def test_eda_param_reruns_only_eda(project):
    params_path = project / "params.yaml"
    original = params_path.read_text()
    params = yaml.safe_load(original)
    params["eda"]["bins"] = params["eda"]["bins"] + 5
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        out = run(["dvc", "repro"], project)
        assert "Running stage 'eda'" in out, out
        assert "Running stage 'prepare'" not in out, out
    finally:
        params_path.write_text(original)
        run(["dvc", "repro"], project)
