"""The cells stage (pipeline/cells.py, pipeline/cell_study/) on tiny real features: every
cell scored on folds of the TRAIN split only, clipped and unclipped, per-epoch curves, a clean skip."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_stages

from pipeline import cells as stage
from pipeline.core.io import read_json
from pipeline.cell_study.runs import sample_rows
from pipeline.cell_study.summary import RUNS, epoch_curve

TINY_CELLS = {"max_epochs": 2, "hidden_size": 8, "max_len": 16, "batch_size": 64, "seconds_per_cell": 60}


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    """data/features of 300 synthetic customers, with the TEST split deleted: the stage must not need it."""
    root = tmp_path_factory.mktemp("cells")
    params = {"seed": 4, "data": {"synthetic": {"n_customers": 300, "events_per_customer": 8}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run_stages(root, root / "params.yaml", ["prepare", "impute", "outliers", "features"])
    for name in ("test.parquet", "sequences_test.npz"):
        (root / "data" / "features" / name).unlink()
    return root / "data" / "features"


def run(root: Path, features: Path, **cells) -> tuple[dict, dict]:
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"seed": 4, "cells": {**TINY_CELLS, **cells}}))
    out, metrics = root / "reports" / "cells.json", root / "reports" / "cells_metrics.json"
    stage.main(["--params", str(params), "--features", str(features), "--out", str(out), "--metrics", str(metrics)])
    return read_json(out), read_json(metrics)


def test_every_cell_scored_on_train_folds_with_and_without_clipping(tmp_path, features):
    start = time.monotonic()
    result, metrics = run(tmp_path, features)
    seconds = time.monotonic() - start
    assert result["skipped"] is None and list(result["cells"]) == ["rnn", "lstm", "gru", "transformer"]
    assert result["n_customers"] == len(pd.read_parquet(features / "train.parquet")) < 300   # the train rows only
    for cell, entry in result["cells"].items():
        for run_name in RUNS:
            r = entry[run_name]
            assert len(r["fold_scores"]) == 3 and all(0.0 <= s <= 1.0 for s in r["fold_scores"]), (cell, run_name)
            assert r["mean"] == pytest.approx(np.mean(r["fold_scores"])) and r["sd"] >= 0
            assert [e["epoch"] for e in r["epochs"]] == [0, 1] and r["capped"] == 0
            for e in r["epochs"]:
                assert 0.0 <= e["val_auc"] <= 1.0 and e["grad_norm_max"] >= e["grad_norm_mean"] > 0
        assert metrics[cell] == {f"{r}_{s}": entry[r][s] for r in RUNS for s in ("mean", "sd")}
    print(f"cells stage on {result['n_customers']} tiny train customers: {seconds:.1f} s")


def test_no_event_log_is_a_clean_skip(tmp_path, features):
    copy = tmp_path / "features"
    shutil.copytree(features, copy)
    manifest = read_json(copy / "manifest.json")
    (copy / "manifest.json").write_text(json.dumps({**manifest, "has_events": False}))
    result, metrics = run(tmp_path, copy)
    assert result == {"skipped": "no event log: the sequence cells have nothing to read", "cells": {}}
    assert metrics == {"skipped": result["skipped"]}


def test_the_time_cap_stops_fits_and_keeps_their_best_epoch(tmp_path, features):
    result, _ = run(tmp_path, features, cells=["gru"], max_epochs=50, seconds_per_cell=0.5)
    entry = result["cells"]["gru"]
    assert entry["clipped"]["capped"] + entry["unclipped"]["capped"] == 6   # every fit hit its share of the cap
    assert entry["seconds"] < 5
    assert all(0.0 <= s <= 1.0 for r in RUNS for s in entry[r]["fold_scores"])


def test_unknown_cell_is_a_one_line_error(tmp_path, features, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path, features, cells=["lstm", "mamba"])
    assert exit_info.value.code == 2
    assert "cells.cells holds unknown cell(s) ['mamba']" in capsys.readouterr().err


def test_sample_is_stratified_and_seeded():
    y = np.r_[np.zeros(900, int), np.ones(100, int)]
    rows = sample_rows(y, 200, seed=1)
    assert len(rows) == 200 and y[rows].sum() == 20 and np.array_equal(rows, sample_rows(y, 200, seed=1))
    assert np.array_equal(sample_rows(y, None, seed=1), np.arange(1000))


def test_epoch_curve_averages_the_folds_that_reached_each_epoch():
    h = [{"val_auc": 0.6, "grad_norm_mean": 1.0, "grad_norm_max": 2.0},
         {"val_auc": 0.8, "grad_norm_mean": 3.0, "grad_norm_max": 5.0}]
    curve = epoch_curve([h, h[:1]])
    assert curve[0] == {"epoch": 0, "folds": 2, "val_auc": 0.6, "grad_norm_mean": 1.0, "grad_norm_max": 2.0}
    assert curve[1] == {"epoch": 1, "folds": 1, "val_auc": 0.8, "grad_norm_mean": 3.0, "grad_norm_max": 5.0}
