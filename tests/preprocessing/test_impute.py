"""impute stage: known fills, indicators only for train missingness, train-only fitting, atomic outputs."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pandas.testing import assert_frame_equal

from pipeline import impute as impute_stage
from pipeline.core.errors import InputError
from pipeline.core.io import read_json
from pipeline.core.params import ImputeParams
from pipeline.core.persist import load_object, save_object
from pipeline.preprocessing import imputation as impute

NA = np.nan


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prepared-stage tables. Train a: [1, NA, 3, 10] -> median 3, mean 14/3; b has no train missingness
    (missing only in test); c (text, None = missing) -> most frequent "x"."""
    train = pd.DataFrame({"customer_id": ["003", "001", "002", "004"], "target": np.int8([0, 1, 0, 1]),
                          "a": [1.0, NA, 3.0, 10.0], "b": [5.0, 6.0, 7.0, 8.0],
                          "c": pd.Series(["x", "x", None, "y"], dtype=object)})
    test = pd.DataFrame({"customer_id": ["010", "009"], "target": np.int8([1, 0]), "a": [NA, 2.0],
                         "b": [NA, 1.0], "c": pd.Series([None, "y"], dtype=object)})
    return train, test


def test_median_fill_known_answer_and_indicators_only_for_train_missingness() -> None:
    train, test = frames()
    res = impute.impute_split(train, test, ["a", "b"], ["c"], ImputeParams(), seed=0)
    assert res.train["a"].tolist() == [1.0, 3.0, 3.0, 10.0] and res.test["a"].tolist() == [3.0, 2.0]
    assert res.test["b"].tolist() == [6.5, 1.0]  # train median of b, though b had no train missing values
    assert res.train["c"].tolist() == ["x", "x", "x", "y"] and res.test["c"].tolist() == ["x", "y"]
    assert res.columns == {"numeric": ["a", "b"], "categorical": ["c"], "indicators": ["a__missing", "c__missing"]}
    assert res.train["a__missing"].tolist() == [0.0, 1.0, 0.0, 0.0] and res.test["c__missing"].tolist() == [1.0, 0.0]
    assert "b__missing" not in res.test.columns
    assert list(res.test.columns[:2]) == ["customer_id", "target"]
    assert res.train["customer_id"].tolist() == ["003", "001", "002", "004"]  # row order kept
    assert res.report["columns"]["a"] == {"kind": "numeric", "strategy": "median", "fill_value": 3.0,
                                          "filled_train": 1, "filled_test": 1}


def test_mean_constant_and_missing_level() -> None:
    train, test = frames()
    mean = impute.impute_split(train, test, ["a", "b"], ["c"], ImputeParams(numeric="mean", add_indicator=False), seed=0)
    assert mean.test["a"].iloc[0] == pytest.approx(14 / 3) and mean.columns["indicators"] == []
    const = impute.impute_split(train, test, ["a"], ["c"], ImputeParams(numeric="constant", fill_value=-1.0,
                                                                 categorical="missing"), seed=0)
    assert const.train["a"].tolist() == [1.0, -1.0, 3.0, 10.0]
    assert const.train["c"].tolist() == ["x", "x", "missing", "y"]


@pytest.mark.parametrize("numeric", impute.NUMERIC_STRATEGIES)
@pytest.mark.parametrize("categorical", impute.CATEGORICAL_STRATEGIES)
def test_every_strategy_fills_everything(numeric: str, categorical: str) -> None:
    train, test = frames()
    res = impute.impute_split(train, test, ["a", "b"], ["c"], ImputeParams(numeric=numeric, categorical=categorical), seed=1)
    for before, after in ((train, res.train), (test, res.test)):
        assert not after.isna().any().any()
        assert_frame_equal(after[["customer_id", "target"]], before[["customer_id", "target"]])
        assert after["b"][before["b"].notna()].tolist() == before["b"].dropna().tolist()  # observed values kept


@pytest.mark.parametrize("bad", [{"numeric": "mode"}, {"categorical": "frequent"}, {"knn_neighbors": 0}])
def test_unknown_strategy_is_an_input_error(bad: dict) -> None:
    train, test = frames()
    with pytest.raises(InputError, match="params: impute"):
        impute.impute_split(train, test, ["a"], ["c"], ImputeParams(**bad), seed=0)


@pytest.mark.parametrize("numeric", ["median", "knn", "iterative"])
def test_fit_ignores_test_values_and_labels(numeric: str) -> None:
    train, test = frames()
    poisoned = test.assign(a=1e9, b=1e9, c="zzz", target=1 - test["target"])
    p = ImputeParams(numeric=numeric)
    clean, dirty = (impute.impute_split(train, t, ["a", "b"], ["c"], p, seed=0) for t in (test, poisoned))
    assert_frame_equal(clean.train, dirty.train)
    probe = test.assign(b=[NA, NA])
    assert_frame_equal(impute.apply_imputer(clean.fitted, probe), impute.apply_imputer(dirty.fitted, probe))


def test_all_missing_train_column_is_dropped_and_counted() -> None:
    train, test = frames()
    train["e"], test["e"] = NA, [1.0, 2.0]
    res = impute.impute_split(train, test, ["a", "e"], ["c"], ImputeParams(), seed=0)
    assert "e" not in res.train.columns and "e" not in res.test.columns
    assert res.report["dropped_all_missing"] == ["e"] and res.columns["numeric"] == ["a"]
    with pytest.raises(InputError, match=r"\['e'\] are entirely missing in train"):
        impute.fit_imputer(train, ["a", "e"], [], ImputeParams(), seed=0)


def test_no_feature_columns_and_missing_columns_at_apply() -> None:
    train, test = frames()
    res = impute.impute_split(train[["customer_id", "target"]], test[["customer_id", "target"]], [], [], ImputeParams(), seed=0)
    assert list(res.test.columns) == ["customer_id", "target"]
    fitted = impute.fit_imputer(train, ["a"], ["c"], ImputeParams(), seed=0)
    with pytest.raises(InputError, match=r"lack feature columns \['c'\]"):
        impute.apply_imputer(fitted, test.drop(columns="c"))


def write_stage_input(tmp_path: Path, impute_params: dict, meta: dict | None = None) -> list[str]:
    train, test = frames()
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    train.to_parquet(prepared / "train.parquet", index=False)
    test.to_parquet(prepared / "test.parquet", index=False)
    meta = {"numeric": ["a", "b"], "categorical": ["c"]} if meta is None else meta
    (prepared / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 7, "impute": impute_params}))
    return ["--params", str(tmp_path / "params.yaml"), "--prepared", str(prepared), "--out", str(tmp_path / "out"),
            "--model", str(tmp_path / "models" / "imputer.skops"), "--report", str(tmp_path / "reports" / "i.json")]


def test_main_end_to_end(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    impute_stage.main(write_stage_input(tmp_path, {"numeric": "median"}))
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["columns.json", "test.parquet", "train.parquet"]
    test_out = pd.read_parquet(out / "test.parquet")
    assert test_out["a"].tolist() == [3.0, 2.0] and test_out["customer_id"].tolist() == ["010", "009"]
    assert read_json(out / "columns.json")["indicators"] == ["a__missing", "c__missing"]
    fitted = load_object(tmp_path / "models" / "imputer.skops", impute.TRUSTED_TYPES, "imputer")
    assert impute.apply_imputer(fitted, frames()[1])["b"].tolist() == [6.5, 1.0]
    report = read_json(tmp_path / "reports" / "i.json")
    assert report["rows"] == {"train": 4, "test": 2}
    assert {c: (v["filled_train"], v["filled_test"]) for c, v in report["columns"].items()} == \
        {"a": (1, 1), "b": (0, 1), "c": (1, 1)}
    assert report["columns"]["c"]["fill_value"] == "x"
    assert "impute: 4 train rows, 3 columns imputed, 2 indicators" in caplog.text
    assert not [p.name for p in tmp_path.rglob(".*")]  # no temp files left behind


@pytest.mark.parametrize("params, meta, message", [
    ({"numeric": "mode"}, None, "'impute.numeric' must be one of"),
    ({}, {"numeric": ["a"]}, "lacks the column lists"),
    ({}, {"numeric": ["a", "zz"], "categorical": []}, r"lacks feature columns \['zz'\]"),
])
def test_failing_main_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture, params: dict,
                                     meta: dict | None, message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        impute_stage.main(write_stage_input(tmp_path, params, meta))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err)
    assert not any((tmp_path / d).exists() for d in ("out", "models", "reports"))


@pytest.mark.parametrize("numeric", impute.NUMERIC_STRATEGIES)
def test_saved_imputer_loads_from_its_trusted_types_only(tmp_path: Path, numeric: str) -> None:
    """skops, not pickle: every strategy's imputer round-trips with the declared trust list, and a
    loader that trusts less refuses the file with one line naming the type."""
    train, test = frames()
    fitted = impute.fit_imputer(train, ["a", "b"], ["c"], ImputeParams(numeric=numeric, knn_neighbors=2), seed=0)
    path = tmp_path / "imputer.skops"
    save_object(fitted, path)
    loaded = load_object(path, impute.TRUSTED_TYPES, "fitted imputer")
    assert_frame_equal(impute.apply_imputer(loaded, test), impute.apply_imputer(fitted, test))
    with pytest.raises(InputError, match="imputer.skops: fitted imputer holds types outside the trusted list"):
        load_object(path, [], "fitted imputer")


def test_saving_twice_gives_identical_bytes(tmp_path: Path) -> None:
    """DVC hashes the saved imputer: the same fit must give the same file (skops alone stamps times and ids)."""
    fitted = impute.fit_imputer(frames()[0], ["a", "b"], ["c"], ImputeParams(), seed=0)
    save_object(fitted, tmp_path / "one.skops")
    save_object(impute.fit_imputer(frames()[0], ["a", "b"], ["c"], ImputeParams(), seed=0), tmp_path / "two.skops")
    assert (tmp_path / "one.skops").read_bytes() == (tmp_path / "two.skops").read_bytes()
