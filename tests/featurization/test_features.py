"""The features stage and the single transform path, across the real stage chain on tiny synthetic data.

Proves the leakage rules of DESIGN.md section 4 that span stages: the test split goes through the
saved transform unchanged; nothing fitted depends on test rows; no test row is dropped; events
at/after the cutoff change nothing; synthetic (SMOTE) rows exist only in the resampled train set.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_stages

from pipeline.core.io import read_json
from pipeline.core.schema import ID, TARGET, TIMESTAMP
from pipeline.events.sequences import load_sequences
from pipeline.featurization.transform import load_transform

CHAIN = ["prepare", "impute", "outliers", "features", "resample"]


def tiny_params(tmp_path: Path, **data: object) -> Path:
    params = {"seed": 3, "data": {"synthetic": {"n_customers": 500, "events_per_customer": 12}, **data},
              "resample": {"sampling_strategy": 0.6}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chain")
    run_stages(root, tiny_params(root), CHAIN)
    return root


def features_of(root: Path, split: str) -> pd.DataFrame:
    return pd.read_parquet(root / "data" / "features" / f"{split}.parquet")


def test_saved_transform_reproduces_the_test_split_exactly(chain):
    prepared = chain / "data" / "interim" / "prepared"
    raw_test = pd.read_parquet(prepared / "test.parquet")
    events = pd.read_parquet(prepared / "events.parquet")
    inputs = load_transform(chain / "models" / "transform.skops").transform(raw_test, events)
    pd.testing.assert_frame_equal(inputs.matrix, features_of(chain, "test"))
    saved = load_sequences(chain / "data" / "features" / "sequences_test.npz")
    for name in ("types", "values", "lengths"):
        np.testing.assert_array_equal(getattr(inputs.sequences, name), getattr(saved, name))


def test_transform_path_agrees_with_the_stage_chain_outputs(chain):
    """The clipped test rows the outliers stage wrote give the same features as the one-path transform."""
    filtered_test = pd.read_parquet(chain / "data" / "interim" / "filtered" / "test.parquet")
    events = pd.read_parquet(chain / "data" / "interim" / "prepared" / "events.parquet")
    builder = load_transform(chain / "models" / "transform.skops").builder
    pd.testing.assert_frame_equal(builder.matrix(filtered_test, events), features_of(chain, "test"),
                                  check_exact=False, rtol=1e-12)


def test_no_test_row_is_dropped_and_order_is_kept(chain):
    raw_test = pd.read_parquet(chain / "data" / "interim" / "prepared" / "test.parquet")
    assert features_of(chain, "test")[ID].tolist() == raw_test[ID].tolist()


def test_smote_rows_only_in_the_resampled_train_set(chain):
    resampled = pd.read_parquet(chain / "data" / "resampled" / "train.parquet")
    train, test = features_of(chain, "train"), features_of(chain, "test")
    synthetic = resampled[resampled["is_synthetic"]]
    assert len(synthetic) > 0 and synthetic[TARGET].eq(1).all()
    assert not set(synthetic[ID]) & (set(train[ID]) | set(test[ID]))
    real = resampled[~resampled["is_synthetic"]].drop(columns="is_synthetic").reset_index(drop=True)
    pd.testing.assert_frame_equal(real, train)  # real rows unchanged, in order


def test_nothing_fitted_depends_on_test_rows(chain, tmp_path):
    """Poison the test split (values and labels) after prepare: train features, manifest and the
    fitted transform's output on train rows stay identical."""
    root = tmp_path / "poisoned"
    shutil.copytree(chain, root)
    test_path = root / "data" / "interim" / "prepared" / "test.parquet"
    test = pd.read_parquet(test_path)
    numeric = test.select_dtypes("number").columns.drop(TARGET)
    test[numeric] = test[numeric] * 1000 + 7
    test[TARGET] = 1 - test[TARGET]
    test.to_parquet(test_path, index=False)
    run_stages(root, root / "params.yaml", CHAIN[1:])
    pd.testing.assert_frame_equal(features_of(root, "train"), features_of(chain, "train"))
    assert read_json(root / "data/features/manifest.json") == read_json(chain / "data/features/manifest.json")
    assert read_json(root / "models/fences.json") == read_json(chain / "models/fences.json")
    pd.testing.assert_frame_equal(pd.read_parquet(root / "data/resampled/train.parquet"),
                                  pd.read_parquet(chain / "data/resampled/train.parquet"))
    assert not features_of(root, "test").equals(features_of(chain, "test"))  # the poison did reach test


def test_events_at_or_after_the_cutoff_change_nothing(chain):
    prepared = chain / "data" / "interim" / "prepared"
    meta = read_json(prepared / "meta.json")
    events = pd.read_parquet(prepared / "events.parquet")
    future = events.sample(200, random_state=0).assign(**{TIMESTAMP: pd.Timestamp(meta["as_of"]) + pd.Timedelta(hours=1)})
    at_cutoff = events.sample(50, random_state=1).assign(**{TIMESTAMP: pd.Timestamp(meta["as_of"])})
    more = pd.concat([events, future, at_cutoff]).sort_values([ID, TIMESTAMP], kind="stable")
    transform = load_transform(chain / "models" / "transform.skops")
    raw_test = pd.read_parquet(prepared / "test.parquet")
    base, leaked = transform.transform(raw_test, events), transform.transform(raw_test, more)
    pd.testing.assert_frame_equal(base.matrix, leaked.matrix)
    np.testing.assert_array_equal(base.sequences.values, leaked.sequences.values)


@pytest.mark.parametrize("variant", ["no_events", "id_and_target_only"])
def test_contract_variants_run_through_the_chain(tmp_path, variant):
    from pipeline.core.params import SyntheticParams
    from pipeline.data.simulator import simulate

    sim = simulate(SyntheticParams(n_customers=300, events_per_customer=10), seed=5)
    customers = sim.customers if variant == "no_events" else sim.customers[["customer_id", "churn"]]
    customers.to_csv(tmp_path / "customers.csv", index=False)
    data = {"source": "files", "customers": str(tmp_path / "customers.csv")}
    if variant == "id_and_target_only":
        sim.events.to_csv(tmp_path / "events.csv", index=False)
        data["events"] = str(tmp_path / "events.csv")
    run_stages(tmp_path, tiny_params(tmp_path, **data), CHAIN)
    manifest = read_json(tmp_path / "data" / "features" / "manifest.json")
    sources = {f["source"] for f in manifest["features"]}
    assert manifest["has_events"] == (variant != "no_events")
    assert sources == ({"static"} if variant == "no_events" else {"events", "embedding", "transitions", "follows"})
    assert (tmp_path / "data" / "features" / "sequences_test.npz").exists() == (variant != "no_events")
    assert len(features_of(tmp_path, "test")) == 60
