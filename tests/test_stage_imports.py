"""Start-up cost: a stage imports torch, plotly and Optuna only when it uses them (each costs seconds
per process on a 2-core machine, and every DVC stage is its own process)."""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

HEAVY = ("torch", "plotly", "optuna", "streamlit")
ALLOWED = {"tune": {"optuna"}, "report": {"plotly"}}   # tune runs Optuna; report draws with plotly


@pytest.mark.parametrize("stage", ["prepare", "eda", "impute", "outliers", "features", "resample", "tune",
                                   "evaluate", "explain", "cells", "report", "predict", "simulate"])
def test_importing_a_stage_loads_only_what_it_uses(stage):
    code = f"import sys, pipeline.{stage}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert loaded <= ALLOWED.get(stage, set()), f"pipeline.{stage} imports {sorted(loaded)} at start-up"
