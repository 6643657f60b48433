"""StaticFeatures: derived columns, train-only decisions, encoders, scaling, names and leakage."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from pipeline.core.errors import InputError
from pipeline.core.params import FeatureParams
from pipeline.featurization.static import StaticFeatures, from_params, static_columns

NUMERIC = ["spend", "visits", "delta", "spend__missing"]
CATEGORICAL = ["plan", "region"]


def customers(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = np.array(["basic"] * 120 + ["premium"] * 76 + ["gold"] * 4)[rng.permutation(200)[:n] % 200]
    return pd.DataFrame({
        "customer_id": [f"c{i:04d}" for i in range(n)],
        "target": (rng.random(n) < 0.2).astype("int8"),
        "spend": rng.lognormal(3.0, 1.5, n),            # heavy right tail, non-negative -> log1p
        "visits": rng.normal(10.0, 2.0, n),             # symmetric -> kept
        "delta": -rng.lognormal(0.0, 1.5, n),           # skewed but negative -> never logged
        "spend__missing": (rng.random(n) < 0.1).astype(float),
        "plan": plan,
        "region": rng.choice(["north", "south"], n),
    })


def fitted(frame: pd.DataFrame | None = None, **kw) -> StaticFeatures:
    args = dict(numeric=NUMERIC, categorical=CATEGORICAL, ratios=[["spend", "visits"]],
                buckets={"visits": [8, 12]}, rare_min_share=0.05)
    return StaticFeatures(**(args | kw)).fit(customers() if frame is None else frame)


def test_ratio_values_and_zero_denominator():
    frame = pd.DataFrame({"a": [2.0, 0.0, 5.0, -3.0], "b": [4.0, 0.0, 0.0, 2.0]})
    out = StaticFeatures(ratios=[["a", "b"]], log_skew=99, scale=False).fit_transform(frame)
    assert list(out.columns) == ["ratio__a__per__b"]
    np.testing.assert_array_equal(out["ratio__a__per__b"], [0.5, 0.0, 0.0, -1.5])   # b == 0 -> 0, no inf


def test_log_decided_on_train_skew_and_frozen():
    sf = fitted()
    names = list(sf.get_feature_names_out())
    assert "log__spend" in names and "spend" not in names          # log1p replaces the column
    assert "visits" in names and "delta" in names                  # symmetric / negative: kept as is
    test = customers(50, seed=1).assign(spend=np.linspace(-5, 5, 50))   # symmetric, even negative
    out = sf.transform(test)
    assert list(out.columns) == names and np.isfinite(out.to_numpy()).all()


def test_onehot_names_rare_levels_and_unseen_categories():
    sf = fitted()
    names = list(sf.get_feature_names_out())
    assert [n for n in names if n.startswith("plan=")] == ["plan=basic", "plan=premium", "plan=infrequent"]
    assert [n for n in names if n.startswith("region=")] == ["region=north", "region=south"]
    test = customers(3, seed=2).assign(plan=["platinum", "gold", "basic"], region=["east", "north", "south"])
    out = sf.transform(test)                                      # unseen levels: no crash
    np.testing.assert_array_equal(out[["plan=basic", "plan=premium", "plan=infrequent"]],
                                  [[0, 0, 1], [0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(out[["region=north", "region=south"]], [[0, 0], [1, 0], [0, 1]])


def test_scaling_on_train_only_continuous_columns():
    train = customers()
    sf = fitted(train)
    out = sf.transform(train)
    kinds = {m["name"]: m["kind"] for m in sf.manifest_}
    continuous = [c for c, k in kinds.items() if k == "numeric"]
    assert continuous == ["log__spend", "visits", "delta", "log__ratio__spend__per__visits"]
    np.testing.assert_allclose(out[continuous].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(out[continuous].std(ddof=0), 1.0, atol=1e-12)
    binary = [c for c, k in kinds.items() if k != "numeric"]
    assert set(np.unique(out[binary])) <= {0.0, 1.0}
    np.testing.assert_array_equal(out["spend__missing"], train["spend__missing"])
    raw = fitted(train, scale=False, log_skew=99).transform(train)
    np.testing.assert_array_equal(raw["visits"], train["visits"])


def test_buckets_are_one_hot_on_raw_values():
    frame = pd.DataFrame({"age": [10.0, 30.0, 64.9, 65.0, 100.0]})
    sf = StaticFeatures(numeric=["age"], buckets={"age": [30, 65]}, log_skew=0.0).fit(frame)
    out = sf.transform(frame)
    cols = ["bucket__age__lt_30", "bucket__age__30_to_65", "bucket__age__ge_65"]
    np.testing.assert_array_equal(out[cols], [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]])
    assert {m["group"] for m in sf.manifest_ if m["name"] in cols} == {"bucket__age"}


def test_zero_static_columns():
    frame = customers()[["customer_id", "target"]]
    sf = from_params(FeatureParams(), frame).fit(frame)
    out = sf.transform(frame)
    assert out.shape == (200, 0) and out.index.equals(frame.index)
    assert sf.manifest_ == [] and sf.categorical_mask().shape == (0,)


@pytest.mark.parametrize("kw, match", [
    (dict(ratios=[["spend", "nope"]]), r"features.ratios.*\['nope'\]"),
    (dict(buckets={"ghost": [1, 2]}), r"features.buckets.*\['ghost'\]"),
    (dict(buckets={"visits": [5, 5]}), "increasing"),
    (dict(ratios=[["spend", "plan"]]), r"\['plan'\] are not numeric"),
])
def test_bad_configuration_is_input_error(kw, match):
    with pytest.raises(InputError, match=match):
        fitted(**kw)


def test_manifest_mask_and_helpers():
    train = customers()
    sf = from_params(FeatureParams(ratios=[["spend", "visits"]], rare_min_share=0.05), train).fit(train)
    assert static_columns(train) == (NUMERIC, CATEGORICAL)
    entry = {m["name"]: m for m in sf.manifest_}
    assert entry["log__ratio__spend__per__visits"]["inputs"] == ["spend", "visits"]
    assert entry["log__ratio__spend__per__visits"]["transform"] == "ratio+log1p+standard_scaled"
    assert entry["spend__missing"]["kind"] == "binary" and entry["plan=infrequent"]["group"] == "plan"
    mask = sf.categorical_mask()
    assert sf.describe() == sf.manifest_ and sf.describe() is not sf.manifest_
    assert list(mask) == [entry[n]["kind"] in ("binary", "onehot") for n in sf.get_feature_names_out()]


def test_clone_and_params_round_trip():
    sf = StaticFeatures(numeric=["a"], ratios=[["a", "b"]], buckets={"a": [1.0]}, log_skew=2.0)
    twin = clone(sf)
    assert twin.get_params() == sf.get_params()
    assert clone(fitted()).get_params() == fitted().get_params() and not hasattr(clone(fitted()), "manifest_")
    assert twin.set_params(scale=False).scale is False


def test_test_rows_and_labels_never_change_fitted_state():
    train = customers()
    sf = fitted(train)
    state, before = pickle.dumps((sf.pipeline_, sf.manifest_)), sf.transform(train)
    test = customers(40, seed=3)
    test = test.assign(spend=test["spend"] * 1e6, plan="unseen", target=1 - test["target"])
    sf.transform(test)
    assert pickle.dumps((sf.pipeline_, sf.manifest_)) == state
    pd.testing.assert_frame_equal(sf.transform(train), before)
    # Labels are never used: shuffled targets give exactly the same fitted transform.
    relabelled = fitted(train.assign(target=np.random.default_rng(9).permutation(train["target"])))
    pd.testing.assert_frame_equal(relabelled.transform(train), before)


def test_columns_order_stable_whatever_the_input_order():
    train = customers()
    sf = fitted(train)
    shuffled = train[list(reversed(train.columns))].iloc[::-1]
    out = sf.transform(shuffled)
    assert list(out.columns) == list(sf.get_feature_names_out())
    pd.testing.assert_frame_equal(out.loc[train.index], sf.transform(train))
