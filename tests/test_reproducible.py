"""The data stages are byte-reproducible across machines: on the embedded default data, a fresh `dvc repro`
of prepare, eda, impute, outliers, features and resample writes exactly the bytes the committed dvc.lock
records (it was made on another machine, from the same requirements.lock).

A time-budgeted tune is not reproducible in this sense (how many trials fit depends on the machine's
speed), so its outputs and everything after are not checked here; with fixed trials and no budget,
tests/tuning/test_tune.py checks that the same seed gives the same numbers.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO, run_command

DATA_STAGES = ["prepare", "eda", "impute", "outliers", "features", "resample"]


def outs(lock: dict, stage: str) -> dict[str, str]:
    return {o["path"]: o["md5"] for o in lock["stages"][stage]["outs"]}


def test_data_stages_write_the_bytes_dvc_lock_records(tmp_path: Path):
    for name in ("pipeline", "configs"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "params.yaml", "dvc.lock", ".dvcignore"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / ".gitkeep").touch()
    run_command(["git", "init", "-q"], tmp_path)
    run_command(["dvc", "init", "-q"], tmp_path)
    run_command(["dvc", "config", "core.analytics", "false"], tmp_path)
    committed = yaml.safe_load((REPO / "dvc.lock").read_text())
    log = run_command(["dvc", "repro", *DATA_STAGES], tmp_path)
    assert all(f"Running stage '{stage}'" in log for stage in DATA_STAGES), log   # nothing was cached
    fresh = yaml.safe_load((tmp_path / "dvc.lock").read_text())
    for stage in DATA_STAGES:
        assert outs(fresh, stage) == outs(committed, stage), (
            f"stage {stage} wrote other bytes than dvc.lock records; rerun `make run` and commit dvc.lock "
            "(or install the exact versions of requirements.lock)")


def capability_after_import(env: dict[str, str]) -> str:
    code = "import pipeline, torch; print(torch.backends.cpu.get_cpu_capability())"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def numpy_features_after_import(env: dict[str, str]) -> tuple[bool, bool, str]:
    code = ("import os, pipeline, numpy._core._multiarray_umath as m; f = m.__cpu_features__; "
            "print(f.get('X86_V4', False), f.get('X86_V3', False), os.environ['NPY_DISABLE_CPU_FEATURES'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    v4, v3, disabled = done.stdout.split(maxsplit=2)
    return v4 == "True", v3 == "True", disabled.strip()


PINS = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "NPY_DISABLE_CPU_FEATURES")


def test_importing_the_pipeline_pins_numpy_to_kernels_short_of_avx512():
    env = {k: v for k, v in os.environ.items() if k not in PINS}
    # numpy's AVX-512 build computes log1p, sin, exp with SVML, a few bits off the AVX2 and libm results
    v4, _, disabled = numpy_features_after_import(env)
    assert not v4 and "X86_V4" in disabled.split()
    # the user's choice wins, and numpy honours it (numpy keeps X86_V4 on when only X86_V3 is named, so name both)
    v4, v3, disabled = numpy_features_after_import({**env, "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4"})
    assert (v4, v3, disabled) == (False, False, "X86_V3 X86_V4")


def test_importing_the_pipeline_pins_torch_to_kernels_every_x86_64_machine_has():
    env = {k: v for k, v in os.environ.items() if k not in PINS}
    # AVX-512 kernels would sum in another order on the machines that have them (and DEFAULT where AVX2 is missing)
    assert capability_after_import(env) in ("AVX2", "DEFAULT")
    assert capability_after_import({**env, "ATEN_CPU_CAPABILITY": "default"}) == "DEFAULT"   # the user's choice wins
