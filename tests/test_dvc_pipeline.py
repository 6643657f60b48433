"""End to end through real DVC: `dvc repro` on tiny synthetic data in a throwaway git repo.

Proves the pipeline is wired (deps/params/outs), that a second repro is a no-op, and that an
EDA-only parameter reruns only the eda stage.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import run_command as run


@pytest.fixture(scope="module")
def project(dvc_project) -> Path:
    """The session's tiny project after one `dvc repro` (conftest; the report's browser test reads it too)."""
    return dvc_project


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
