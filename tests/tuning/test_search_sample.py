"""tune.search_rows: trials cross-validate on a stratified sample of TRAIN, final refits use every row."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml
from conftest import run_stages

from pipeline import tune
from pipeline.core.errors import InputError
from pipeline.core.params import TuneParams
from pipeline.tuning import final_fit, objective
from pipeline.tuning.search_sample import search_rows, search_sample
from pipeline.tuning.train_data import load_train


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    root = tmp_path_factory.mktemp("search_rows")
    params = {"seed": 5, "data": {"synthetic": {"n_customers": 400, "events_per_customer": 8}},
              "features": {"embedding": {"dim": 0}},
              "tune": {"lstm_max_epochs": 1, "pruner": "none", "search_rows": 150}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run_stages(root, root / "params.yaml", ["prepare", "impute", "outliers", "features"])
    return root


def test_auto_sizes_the_sample_to_the_budget_and_a_fixed_value_caps_it():
    auto = TuneParams(timeout=180, search_rows="auto")
    assert search_rows(auto, 800_000) == 54_000 and search_rows(auto, 16_000) == 16_000
    assert search_rows(dataclasses.replace(auto, timeout=None), 800_000) == 800_000   # no budget: every row
    assert search_rows(TuneParams(search_rows=None), 800_000) == 800_000
    assert search_rows(TuneParams(search_rows=5000), 800_000) == 5000
    for bad in ("lots", 10, True, 12.5):
        with pytest.raises(InputError, match="tune.search_rows"):
            search_rows(TuneParams(search_rows=bad), 800_000)


def test_the_sample_keeps_class_shares_aligned_rows_and_is_seeded(features):
    data = load_train(features / "data" / "features")
    sample = search_sample(data, 150, seed=5)
    assert len(sample) == 150 and len(sample.X) == len(sample.ids) == len(sample.seq.lengths) == 150
    assert abs(sample.y.mean() - data.y.mean()) < 1.5 / 150   # stratified: shares equal up to one row
    position = {cid: i for i, cid in enumerate(data.ids)}
    rows = np.array([position[cid] for cid in sample.ids])
    assert np.array_equal(sample.X.to_numpy(), data.X.to_numpy()[rows])
    assert np.array_equal(sample.y, data.y[rows]) and np.array_equal(sample.seq.lengths, data.seq.lengths[rows])
    assert np.array_equal(search_sample(data, 150, seed=5).ids, sample.ids)
    assert not np.array_equal(search_sample(data, 150, seed=6).ids, sample.ids)
    assert search_sample(data, len(data), seed=5) is data


def test_trials_see_the_sample_and_the_final_fits_every_train_row(features, monkeypatch):
    seen = {"trials": set(), "refits": []}
    real_cv, real_fit = objective.cross_validate, final_fit.fit_family

    def spy_cv(family, params, data, *args, **kwargs):
        seen["trials"].add(len(data))
        return real_cv(family, params, data, *args, **kwargs)

    def spy_fit(family, params, data, rows, **kwargs):
        seen["refits"].append((family, len(data), len(rows)))
        return real_fit(family, params, data, rows, **kwargs)

    monkeypatch.setattr(objective, "cross_validate", spy_cv)
    monkeypatch.setattr(final_fit, "fit_family", spy_fit)
    out = features / "out"
    tune.main(["--params", str(features / "params.yaml"), "--features", str(features / "data/features"),
               "--out", str(out / "tuned"), "--report", str(out / "tune.json"), "--models", "logreg,xgb",
               "--trials", "2", "--folds", "3", "--no-race", "--storage", f"sqlite:///{features / 's.db'}"])
    n_train = len(load_train(features / "data" / "features"))
    report = json.loads((out / "tune.json").read_text())
    assert seen["trials"] == {150}
    assert sorted(seen["refits"]) == [("logreg", n_train, n_train), ("xgb", n_train, n_train)]
    assert report["budget"]["search_rows"] == 150 and report["budget"]["train_rows"] == n_train
    assert report["ensemble"] is not None and 0.5 < report["ensemble"]["cv_score"] <= 1
