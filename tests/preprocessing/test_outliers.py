"""outliers stage and the IQRBounds estimator: known fences, train-only fitting, test rows never dropped."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from imblearn.pipeline import Pipeline
from pandas.testing import assert_frame_equal
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from pipeline import outliers as outliers_stage
from pipeline.core.errors import InputError
from pipeline.core.io import read_json
from pipeline.core.params import OutlierParams
from pipeline.preprocessing import outlier_filter as outliers
from pipeline.preprocessing.fences import IQRBounds, apply_fences, load_fences


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Imputed-stage output. Train x: 1..19 and one 100 -> q1 5.75, q3 15.25, fences [-8.5, 29.5] at k=1.5.
    flag (0/1) and small (3 values) have too few distinct values to fence by default."""
    x = np.r_[np.arange(1.0, 20.0), 100.0]
    train = pd.DataFrame({"customer_id": [f"tr{i:02d}" for i in range(20)], "target": np.int8([0, 1] * 10),
                          "x": x, "flag": [0.0, 1.0] * 10, "small": [1.0, 2.0, 3.0, 2.0] * 5,
                          "plan": pd.Series(["a", "b"] * 10, dtype="str")})
    test = pd.DataFrame({"customer_id": ["te0", "te1", "te2"], "target": np.int8([1, 0, 1]),
                         "x": [-50.0, 10.0, 500.0], "flag": [1.0, 0.0, 1.0], "small": [9.0, 1.0, 2.0],
                         "plan": pd.Series(["a", "b", "a"], dtype="str")})
    return train, test


NUMERIC = ["x", "flag", "small"]


# --- the estimator ---------------------------------------------------------------------------

def test_iqr_fence_known_answer() -> None:
    # [1, 2, 3, 4, 100]: q1 = 2, q3 = 4 (linear interpolation), iqr 2 -> fences [2 - 3, 4 + 3] = [-1, 7].
    bounds = IQRBounds(k=1.5).fit(np.array([[1.0], [2.0], [3.0], [4.0], [100.0]]))
    assert (bounds.q1_[0], bounds.q3_[0], bounds.lower_[0], bounds.upper_[0]) == (2.0, 4.0, -1.0, 7.0)
    assert bounds.transform(np.array([[-5.0], [3.0], [100.0], [np.nan]])).ravel().tolist()[:3] == [-1.0, 3.0, 7.0]
    assert np.isnan(bounds.transform(np.array([[np.nan]]))[0, 0])  # NaN passes through


def test_iqr_dataframe_in_dataframe_out_and_nan_ignored_in_fit() -> None:
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 100.0, np.nan], "b": [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]},
                     index=[5, 4, 3, 2, 1, 0])
    bounds = IQRBounds(k=0.0).fit(X)
    out = bounds.transform(X)
    assert list(out.columns) == ["a", "b"] and list(out.index) == [5, 4, 3, 2, 1, 0]
    assert out["a"].tolist()[:5] == [2.0, 2.0, 3.0, 4.0, 4.0]  # k=0: fences are q1, q3 of the non-NaN values
    assert list(bounds.get_feature_names_out()) == ["a", "b"]


def test_negative_k_is_rejected() -> None:
    with pytest.raises(ValueError, match="k must be a number >= 0"):
        IQRBounds(k=-1).fit(np.ones((3, 1)))


@parametrize_with_checks([IQRBounds(), IQRBounds(k=0.0)])
def test_sklearn_compatible(estimator: IQRBounds, check) -> None:
    check(estimator)


def test_fences_json_round_trip(tmp_path: Path) -> None:
    train, test = frames()
    bounds = IQRBounds(k=1.5).fit(train[["x", "small"]])
    obj = json.loads(json.dumps(bounds.to_json("clip")))  # strict JSON: no NaN/Infinity tokens needed
    assert obj["columns"]["x"] == {"lower": -8.5, "upper": 29.5, "q1": 5.75, "q3": 15.25}
    (tmp_path / "f.json").write_text(json.dumps(obj))
    loaded, mode = load_fences(tmp_path / "f.json")
    assert mode == "clip"
    assert_frame_equal(apply_fences(test, loaded, mode), apply_fences(test, bounds, mode))
    with pytest.raises(InputError, match="missing from the rows to score"):
        apply_fences(test.drop(columns="x"), loaded, mode)


def test_all_missing_column_is_unfenced_and_serialises_as_null() -> None:
    bounds = IQRBounds().fit(pd.DataFrame({"a": [np.nan, np.nan, np.nan], "b": [1.0, 2.0, 3.0]}))
    obj = bounds.to_json("drop")
    assert obj["columns"]["a"]["lower"] is None and obj["columns"]["a"]["upper"] is None
    again = IQRBounds.from_json(obj)
    assert again.transform(pd.DataFrame({"a": [1e12], "b": [2.0]}))["a"].item() == 1e12


# --- the stage core --------------------------------------------------------------------------

def test_fenced_columns_exempt_min_unique_and_unknown_names() -> None:
    train, _ = frames()
    assert outliers.fenced_columns(train, NUMERIC, OutlierParams()) == (["x"], ["flag", "small"])
    assert outliers.fenced_columns(train, NUMERIC, OutlierParams(min_unique=3)) == (["x", "small"], ["flag"])
    assert outliers.fenced_columns(train, NUMERIC, OutlierParams(exempt=["x"])) == ([], ["flag", "small"])
    with pytest.raises(InputError, match=r"\['nope', 'plan'\]"):
        outliers.fenced_columns(train, NUMERIC, OutlierParams(exempt=["plan", "nope"]))


def test_nothing_to_fence_leaves_both_splits_alone() -> None:
    train, test = frames()
    res = outliers.filter_split(train, test, NUMERIC, OutlierParams(exempt=["x"]))
    assert_frame_equal(res.train, train)
    assert_frame_equal(res.test, test)
    assert res.fenced == [] and res.bounds.to_json("drop")["columns"] == {}


@pytest.mark.parametrize("mode", ["drop", "clip", "none"])
def test_modes_never_drop_test_rows(mode: str) -> None:
    train, test = frames()
    res = outliers.filter_split(train, test, NUMERIC, OutlierParams(mode=mode))
    assert res.test["customer_id"].tolist() == test["customer_id"].tolist()  # rule 4: count and ids kept
    expected_test_x = [-50.0, 10.0, 500.0] if mode == "none" else [-8.5, 10.0, 29.5]  # train fences
    assert res.test["x"].tolist() == expected_test_x
    assert res.test["small"].tolist() == [9.0, 1.0, 2.0]  # not fenced: untouched in every mode
    expected_train = {"drop": 19, "clip": 20, "none": 20}[mode]
    assert len(res.train) == expected_train and res.report["rows"]["train_after"] == expected_train
    assert res.report["columns"]["x"]["test_clipped"] == (0 if mode == "none" else 2)
    if mode == "drop":
        assert "tr19" not in set(res.train["customer_id"]) and res.report["train_rows_removed"] == 1
    if mode == "clip":
        assert res.train["x"].max() == 29.5


def test_fences_ignore_test_values_and_labels() -> None:
    train, test = frames()
    poisoned = test.assign(x=1e9, small=1e9, flag=1e9, target=1 - test["target"])
    a = outliers.filter_split(train, test, NUMERIC, OutlierParams())
    b = outliers.filter_split(train, poisoned, NUMERIC, OutlierParams())
    assert a.bounds.to_json("drop") == b.bounds.to_json("drop") and a.fenced == b.fenced
    assert_frame_equal(a.train, b.train)
    assert b.test["x"].tolist() == [29.5] * 3  # clipped to the train fences, not refitted


def test_refuses_to_drop_too_much_but_clip_is_fine() -> None:
    train, test = frames()
    with pytest.raises(InputError, match=r"would drop 5\.0% of train rows \(1/20\).*outliers.mode clip"):
        outliers.filter_split(train, test, NUMERIC, OutlierParams(max_drop_share=0.01, mode="drop"))
    assert len(outliers.filter_split(train, test, NUMERIC, OutlierParams(max_drop_share=0.01, mode="clip")).train) == 20
    with pytest.raises(InputError, match="outliers.mode"):
        outliers.filter_split(train, test, NUMERIC, OutlierParams(mode="trim"))


def test_sampler_acts_in_fit_only_inside_a_pipeline() -> None:
    train, test = frames()
    model = Pipeline([("iqr", outliers.outlier_sampler(["x"], 1.5, "drop")), ("clf", LogisticRegression())])
    model.fit(train[["x"]], train["target"])
    assert len(model.predict(test[["x"]])) == len(test)  # samplers never remove rows being scored


# --- main() end to end -----------------------------------------------------------------------

def write_stage_input(tmp_path: Path, outliers_params: dict) -> list[str]:
    train, test = frames()
    imputed = tmp_path / "imputed"
    imputed.mkdir()
    train.to_parquet(imputed / "train.parquet", index=False)
    test.to_parquet(imputed / "test.parquet", index=False)
    (imputed / "columns.json").write_text(json.dumps({"numeric": NUMERIC, "categorical": ["plan"], "indicators": []}))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 3, "outliers": outliers_params}))
    return ["--params", str(tmp_path / "params.yaml"), "--imputed", str(imputed), "--out", str(tmp_path / "out"),
            "--fences", str(tmp_path / "models" / "fences.json"), "--report", str(tmp_path / "reports" / "o.json")]


def test_main_end_to_end(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    outliers_stage.main(write_stage_input(tmp_path, {"k": 1.5, "mode": "drop"}))
    out = tmp_path / "out"
    assert len(pd.read_parquet(out / "train.parquet")) == 19
    assert pd.read_parquet(out / "test.parquet")["x"].tolist() == [-8.5, 10.0, 29.5]
    assert read_json(out / "columns.json")["fenced"] == ["x"]
    bounds, mode = load_fences(tmp_path / "models" / "fences.json")
    assert mode == "drop" and bounds.upper_.tolist() == [29.5]
    report = read_json(tmp_path / "reports" / "o.json")
    assert report["rows"] == {"train_before": 20, "train_after": 19, "test_before": 3, "test_after": 3}
    assert report["columns"]["x"] == {"lower": -8.5, "upper": 29.5, "train_below": 0, "train_above": 1,
                                      "test_outside": 2, "test_clipped": 2}
    assert "1 of 20 train rows removed" in caplog.text
    assert not [p.name for p in tmp_path.rglob(".*")]  # no temp files left behind


def test_failing_main_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = write_stage_input(tmp_path, {"max_drop_share": 0.01, "mode": "drop"})
    with pytest.raises(SystemExit) as exit_info:
        outliers_stage.main(args)
    assert exit_info.value.code == 2 and "would drop" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "models").exists()
    assert not (tmp_path / "reports").exists()
