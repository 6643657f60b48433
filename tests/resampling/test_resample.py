"""Resampling: real rows untouched, synthetic rows appended, categorical columns kept 0/1, CV-fold safety."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from imblearn import FunctionSampler
from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC
from imblearn.pipeline import Pipeline
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.tree import DecisionTreeClassifier

from pipeline import resample as resample_stage
from pipeline.core.errors import InputError
from pipeline.core.io import read_json, write_json, write_parquet
from pipeline.core.params import ResampleParams
from pipeline.resampling import samplers as rs
from pipeline.resampling.train_table import resample, resample_train

MASK = np.array([False, False, True, True, True, True])   # x1, x2 continuous; flag; plan=a/b/c
GROUPS = [[3, 4, 5]]
MANIFEST = {"features": [{"name": c, "kind": k, "group": "plan" if k == "onehot" else None} for c, k in
                         zip(["x1", "x2", "flag", "plan=a", "plan=b", "plan=c"],
                             ["numeric", "numeric", "binary", "onehot", "onehot", "onehot"])]}


def data(n_major: int = 100, n_minor: int = 20, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    n = n_major + n_minor
    plan = rng.integers(0, 3, n)
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "flag": rng.integers(0, 2, n) * 1.0,
                      "plan=a": (plan == 0) * 1.0, "plan=b": (plan == 1) * 1.0, "plan=c": (plan == 2) * 1.0})
    y = pd.Series(np.r_[np.zeros(n_major), np.ones(n_minor)].astype("int8"), name="target")
    order = rng.permutation(n)
    ids = pd.Series([f"c{i:03d}" for i in range(n)], name="customer_id")
    return X.iloc[order].reset_index(drop=True), y.iloc[order].reset_index(drop=True), ids


@pytest.mark.parametrize("method", ["smote", "smotenc", "random_over"])
def test_real_rows_identical_and_synthetic_rows_appended(method):
    X, y, ids = data()
    x_res, y_res, ids_res, synthetic = resample(X, y, ids, ResampleParams(method=method), MASK, 7, GROUPS)
    n = len(X)
    pd.testing.assert_frame_equal(x_res.iloc[:n], X)
    pd.testing.assert_series_equal(y_res.iloc[:n], y)
    pd.testing.assert_series_equal(ids_res.iloc[:n], ids)
    assert not synthetic.iloc[:n].any() and synthetic.iloc[n:].all()
    assert ids_res.iloc[n:].tolist() == [f"synthetic-{i:06d}" for i in range(1, len(x_res) - n + 1)]
    assert (y_res.iloc[n:] == 1).all() and y_res.dtype == y.dtype


@pytest.mark.parametrize("strategy, minority", [(0.5, 50), ("auto", 100), (0.3, 30)])
def test_counts_follow_sampling_strategy(strategy, minority):
    X, y, ids = data()
    _, y_res, _, synthetic = resample(X, y, ids, ResampleParams(sampling_strategy=strategy), MASK, 1)
    assert (y_res == 0).sum() == 100 and (y_res == 1).sum() == minority and synthetic.sum() == minority - 20


def test_smotenc_keeps_categoricals_binary_and_groups_valid():
    X, y, ids = data()
    x_res, *_ , synthetic = resample(X, y, ids, ResampleParams(method="smote"), MASK, 3, GROUPS)
    new = x_res[synthetic.to_numpy()]
    assert set(np.unique(new[["flag", "plan=a", "plan=b", "plan=c"]])) <= {0.0, 1.0}
    assert (new[["plan=a", "plan=b", "plan=c"]].sum(axis=1) == 1).all()      # exactly one level per row
    assert len(np.unique(new["x1"])) > 1 and not new["x1"].isin(X["x1"]).all()   # continuous interpolated


def test_make_sampler_picks_the_smote_variant():
    p = ResampleParams(method="smotenc", k_neighbors=3)
    assert isinstance(rs.make_sampler(p, MASK, 0).sampler, SMOTENC)
    assert isinstance(rs.make_sampler(p, None, 0).sampler, SMOTE)
    assert isinstance(rs.make_sampler(p, np.ones(4, bool), 0).sampler, SMOTEN)
    assert rs.make_sampler(ResampleParams(method="none"), MASK, 0) is None
    with pytest.raises(InputError, match="resample.method.*'adasyn'"):
        rs.make_sampler(ResampleParams(method="adasyn"), MASK, 0)
    with pytest.raises(InputError, match="sampling_strategy"):
        rs.make_sampler(ResampleParams(sampling_strategy=1.5), MASK, 0)


def test_k_neighbors_shrinks_on_tiny_minority(caplog):
    X, y, ids = data(n_major=30, n_minor=3)
    sampler = rs.make_sampler(ResampleParams(k_neighbors=5), MASK, 0, GROUPS)
    with caplog.at_level(logging.WARNING, logger="pipeline.resampling.samplers"):
        x_res, y_res = sampler.fit_resample(X, y)
    assert sampler.sampler_.k_neighbors == 2 and "k_neighbors reduced from 5 to 2" in caplog.text
    assert (y_res == 1).sum() == 15 and sampler.sampler.k_neighbors == 5    # params untouched
    X1, y1, _ = data(n_major=30, n_minor=1)
    assert (sampler.fit_resample(X1, y1)[1] == 1).sum() == 15             # one row: random over-sampling


def test_none_and_already_balanced_return_data_unchanged():
    X, y, ids = data()
    x_res, y_res, ids_res, synthetic = resample(X, y, ids, ResampleParams(method="none"), MASK, 0)
    pd.testing.assert_frame_equal(x_res, X)
    pd.testing.assert_series_equal(ids_res, ids)
    assert not synthetic.any()
    x_res, *_ = resample(X, y, ids, ResampleParams(sampling_strategy=0.1), MASK, 0)
    pd.testing.assert_frame_equal(x_res, X)


def test_sampler_sees_only_training_folds_in_cross_validation():
    X, y, _ = data(n_major=80, n_minor=20)
    X = X.assign(x2=np.arange(len(X), dtype=float))              # x2 = row identity
    seen, fitted_on = [], []

    def recorder(log: list) -> object:
        def record(X, y):                                     # passes data on, noting the row identities
            log.append(np.asarray(X)[:, 1].copy())
            return X, y
        return record                                         # a function: clone() keeps it, shared list

    pipe = Pipeline([("spy", FunctionSampler(func=recorder(seen), validate=False)),
                     ("sampler", rs.make_sampler(ResampleParams(), MASK, 0, GROUPS)),
                     ("spy_model", FunctionSampler(func=recorder(fitted_on), validate=False)),
                     ("model", DecisionTreeClassifier(max_depth=3, random_state=0))])
    folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=0)
    result = cross_validate(pipe, X, y, cv=folds, scoring="roc_auc", return_indices=True)
    assert len(seen) == 4                                          # fit only: never called when scoring
    for rows, model_rows, train, valid in zip(seen, fitted_on, result["indices"]["train"], result["indices"]["test"]):
        assert sorted(rows.astype(int)) == sorted(train) and not set(rows.astype(int)) & set(valid)
        assert len(model_rows) > len(train)                         # synthetic rows reached the model only
        np.testing.assert_array_equal(model_rows[: len(train)], rows)


def test_stage_runs_without_any_test_file(tmp_path, capsys):
    X, y, ids = data()
    features = tmp_path / "features"
    write_parquet(pd.concat([ids, y, X], axis=1), features / "train.parquet")
    kinds = ["numeric", "numeric", "binary", "onehot", "onehot", "onehot"]
    write_json({"features": [{"name": c, "kind": k, "group": "plan" if k == "onehot" else None}
                             for c, k in zip(X.columns, kinds)]}, features / "manifest.json")
    (tmp_path / "params.yaml").write_text("seed: 5\nresample:\n  method: smote\n  sampling_strategy: 0.5\n")
    out, report = tmp_path / "out" / "train_resampled.parquet", tmp_path / "reports" / "resample.json"
    args = ["--params", str(tmp_path / "params.yaml"), "--features", str(features), "--out", str(out),
            "--report", str(report)]
    resample_stage.main(args)
    table = pd.read_parquet(out)
    assert list(table.columns[:3]) == ["customer_id", "target", "is_synthetic"] and len(table) == 150
    assert read_json(report) == {"method": "smotenc", "requested_method": "smote", "sampling_strategy": 0.5,
                                 "k_neighbors": 5, "before": {"0": 100, "1": 20}, "after": {"0": 100, "1": 50},
                                 "synthetic_rows": 30}
    assert sorted(p.name for p in features.iterdir()) == ["manifest.json", "train.parquet"]
    (features / "manifest.json").unlink()
    with pytest.raises(SystemExit) as exit_info:
        resample_stage.main(args)
    assert exit_info.value.code == 2 and "manifest.json" in capsys.readouterr().err


def test_smote_stops_above_max_rows_and_says_why(tmp_path):
    """At scale SMOTE's neighbour search dominates the pipeline (17 min at 800k rows): above resample.max_rows
    the stage keeps the rows and tuning drops the choice; cheap random over-sampling is not capped."""
    X, y, ids = data()
    capped = ResampleParams(method="smote", max_rows=len(X) - 1)
    assert rs.make_sampler(capped, MASK, 0, GROUPS, n_rows=len(X)) is None
    assert rs.make_sampler(capped, MASK, 0, GROUPS, n_rows=len(X) - 1) is not None
    assert rs.make_sampler(ResampleParams(method="random_over", max_rows=1), MASK, 0, n_rows=len(X)) is not None
    assert rs.make_sampler(ResampleParams(method="smote", max_rows=None), MASK, 0, GROUPS, n_rows=10**9) is not None
    table, report = resample_train(pd.concat([ids, y, X], axis=1), MANIFEST, capped, 5)
    assert len(table) == len(X) and not table["is_synthetic"].any() and report["method"] == "none"
    assert "above resample.max_rows 119" in report["skipped"]


def test_tuning_leaves_smote_out_of_the_imbalance_choices_above_max_rows():
    from pipeline.tuning.imbalance import within_size

    space = {"C": {"low": 0.01, "high": 10.0}, "imbalance": {"choices": ["none", "weights", "smote"]}}
    p = ResampleParams(max_rows=1000)
    assert within_size("logreg", space, 1000, p) == space
    assert within_size("logreg", space, 1001, p)["imbalance"] == {"choices": ["none", "weights"]}
    assert within_size("logreg", space, 10**7, ResampleParams(max_rows=None)) == space
