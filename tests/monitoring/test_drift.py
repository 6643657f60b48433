"""Drift at scoring: the train reference, PSI and its accumulation over chunks, the summary and its warning line,
and predict writing <out>.drift.json beside the scores (on the tiny fitted project)."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import make_customers, make_events
from scoring_project import raw_test_rows, tiny_project

from pipeline import predict
from pipeline.core.errors import InputError
from pipeline.core.schema import ID
from pipeline.monitoring.psi import FLOOR, count, psi
from pipeline.monitoring.reference import REFERENCE, DriftReference, find_reference, save_reference
from pipeline.monitoring.summary import STATUSES, drift_message, summarize

NUMERIC = ["x", "flag", "count", "ev_has_events"]


def population(n: int, seed: int, shift: float = 0.0, unseen: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(model matrix, validated customers): a normal x (shifted by `shift` sd), a 0/1 flag, a count with a point
    mass at 0, the events flag, and a categorical plan with 5 % missing (`unseen`: share of a new level)."""
    rng = np.random.default_rng(seed)
    matrix = pd.DataFrame({ID: [f"{seed}-{i}" for i in range(n)], "x": rng.normal(0.0, 1.0, n) + shift,
                           "flag": (rng.random(n) < 0.3).astype(float), "count": rng.poisson(0.7, n).astype(float),
                           "ev_has_events": (rng.random(n) < 0.9).astype(float)})
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]).astype(object)
    plan[rng.random(n) < 0.05] = None
    plan[rng.random(n) < unseen] = "platinum"
    return matrix, pd.DataFrame({ID: matrix[ID], "plan": plan})


@pytest.fixture(scope="module")
def reference() -> DriftReference:
    return DriftReference.fit(*population(20_000, seed=1), NUMERIC, ["plan"])


def drift_of(reference: DriftReference, n: int = 20_000, seed: int = 2, **kw) -> dict:
    matrix, customers = population(n, seed, **kw)
    return summarize(reference, count(reference, customers, matrix))


def test_the_reference_bins_are_train_deciles_with_their_shares(reference):
    x = reference.numeric["x"]
    assert len(x.edges) == 9 and len(x.shares) == 10 and x.missing == 0
    np.testing.assert_allclose(x.shares, 0.1, atol=1e-3)
    assert len(reference.numeric["flag"].edges) <= 2              # a 0/1 column: its deduplicated deciles
    assert reference.numeric["count"].shares[0] == pytest.approx(np.exp(-0.7), abs=0.01)   # the zeros: one bin
    assert reference.categorical["plan"].missing == pytest.approx(0.05, abs=0.005)
    assert list(reference.categorical["plan"].shares) == ["basic", "plus", "pro"]
    assert reference.no_events == pytest.approx(0.1, abs=0.01) and reference.n_train == 20_000


def test_psi_formula_and_the_floor_on_empty_bins():
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * np.log(0.5) * -1 + 0.25 * np.log(1.5))
    assert psi([0.3, 0.7], [0.3, 0.7]) == 0
    empty = psi([0.5, 0.5], [1.0, 0.0])   # an empty bin is floored, not infinite
    assert np.isfinite(empty) and empty == pytest.approx((1 - 0.5) * np.log(2) + (FLOOR - 0.5) * np.log(FLOOR / 0.5))


def test_psi_is_near_zero_for_the_training_distribution(reference):
    summary = drift_of(reference)
    assert max(r["psi"] for r in summary["features"].values()) < 0.02, summary["features"]
    assert summary["status"] == "stable" and summary["top_drifting"] == [] and summary["judged"]
    assert summary["no_events"]["status"] == "stable" and summary["n_scored"] == 20_000
    assert drift_message(summary, "s.drift.json")[0] == logging.INFO


def test_psi_is_large_for_a_feature_shifted_by_two_sd_and_the_warning_names_it(reference):
    summary = drift_of(reference, shift=2.0)
    assert summary["features"]["x"]["psi"] > 0.25 and summary["features"]["x"]["status"] == "large"
    assert all(summary["features"][c]["psi"] < 0.02 for c in ("flag", "count", "plan"))
    assert summary["status"] == "large" and [t["feature"] for t in summary["top_drifting"]] == ["x"]
    level, line = drift_message(summary, "s.drift.json")
    assert level == logging.WARNING and "\n" not in line
    assert "LARGE" in line and f"x PSI {summary['features']['x']['psi']:.2f}" in line and "s.drift.json" in line


def test_chunked_counts_equal_the_one_shot_counts(reference):
    matrix, customers = population(5_000, seed=3, shift=0.5, unseen=0.02)
    whole = count(reference, customers, matrix)
    parts = [count(reference, customers.iloc[i:i + 777], matrix.iloc[i:i + 777]) for i in range(0, 5_000, 777)]
    summed = parts[0]
    for part in parts[1:]:
        summed = summed + part
    assert summed.n == whole.n == 5_000 and summed.no_events == whole.no_events
    for c in whole.numeric:
        np.testing.assert_array_equal(summed.numeric[c], whole.numeric[c])
    np.testing.assert_array_equal(summed.categorical["plan"], whole.categorical["plan"])
    assert summarize(reference, summed) == summarize(reference, whole)


def test_unseen_and_missing_levels_are_counted(reference):
    summary = drift_of(reference, n=10_000, unseen=0.1)
    plan = summary["features"]["plan"]
    assert plan["levels"] == ["basic", "plus", "pro", "(unseen)", "(missing)"]
    assert plan["unseen_share"] == pytest.approx(0.1, abs=0.01) and plan["unseen_examples"] == ["platinum"]
    assert plan["scored_shares"][-2] == plan["unseen_share"]
    assert plan["scored_shares"][-1] == pytest.approx(0.045, abs=0.01)   # 5 % missing, a tenth of them then 'platinum'
    assert plan["status"] == "large" and summary["top_drifting"][0]["feature"] == "plan"
    assert "10% unseen levels" in drift_message(summary, "here")[1]


def test_the_no_events_share_is_compared_and_few_customers_are_not_judged(reference):
    matrix, customers = population(1_000, seed=4)
    matrix["ev_has_events"] = 0.0   # scored without an event log
    summary = summarize(reference, count(reference, customers, matrix))
    assert summary["no_events"]["scored_share"] == 1.0 and summary["no_events"]["status"] == "large"
    assert "customers without events 100% (train 10%)" in drift_message(summary, "here")[1]
    few = drift_of(reference, n=50, shift=2.0)
    assert not few["judged"] and drift_message(few, "here")[0] == logging.INFO
    assert "too few" in drift_message(few, "here")[1]


def test_the_reference_is_plain_json_and_reloads_exactly(reference, tmp_path):
    save_reference(reference, tmp_path / REFERENCE)
    data = json.loads((tmp_path / REFERENCE).read_text())
    assert data["format"] == "drift-reference/1" and set(data["numeric"]) == set(NUMERIC)
    assert find_reference(tmp_path) == reference and find_reference(tmp_path / "elsewhere") is None
    (tmp_path / REFERENCE).write_text('{"format": "something else"}')
    with pytest.raises(InputError, match="expected a drift-reference/1 file"):
        find_reference(tmp_path)
    (tmp_path / REFERENCE).write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        find_reference(tmp_path)


# --- on the tiny fitted project ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def project():
    return tiny_project()


def test_the_features_stage_fits_the_reference_on_the_train_split_only(project):
    reference = find_reference(project)
    train = pd.read_parquet(project / "data/features/train.parquet")
    test = pd.read_parquet(project / "data/features/test.parquet")
    manifest = json.loads((project / "data/features/manifest.json").read_text())["features"]
    assert list(reference.numeric) == [f["name"] for f in manifest if f["kind"] != "onehot"]
    assert list(reference.categorical) == ["plan"] and reference.n_train == len(train)
    raw = pd.read_parquet(project / "data/interim/prepared/train.parquet")
    missing = raw["plan"].isna().mean()   # levels before imputation: the missing ones count as missing
    assert missing > 0 and reference.categorical["plan"].missing == pytest.approx(missing)
    assert reference == DriftReference.fit(train, raw, list(reference.numeric), ["plan"])
    both = pd.concat([train, test], ignore_index=True)
    assert reference.numeric["age"] != DriftReference.fit(both, raw, ["age"], []).numeric["age"]


def run(project, *args):
    predict.main(["--root", str(project), "--as-of", "training", *map(str, args)])   # events model: explicit as-of


def shifted_files(tmp_path, n=400, shift_sd=2.0):
    """New customers like training but with age shifted by `shift_sd` training sd (make_customers: sd 12)."""
    customers = make_customers(n, seed=11)
    customers["age"] = pd.to_numeric(customers["age"]) + 12 * shift_sd
    customers["customer_id"] = "n" + customers["customer_id"]
    customers.to_csv(tmp_path / "new.csv", index=False)
    make_events(customers["customer_id"].tolist(), per_customer=5, seed=11).to_csv(tmp_path / "ev.csv", index=False)
    return tmp_path / "new.csv", tmp_path / "ev.csv"


def test_predict_writes_the_drift_summary_next_to_the_scores(project, tmp_path):
    customers, events = raw_test_rows(project)
    customers.to_csv(tmp_path / "c.csv", index=False)
    events.to_csv(tmp_path / "e.csv", index=False)
    run(project, "--customers", tmp_path / "c.csv", "--events", tmp_path / "e.csv", "--out", tmp_path / "scores.csv")
    summary = json.loads((tmp_path / "scores.drift.json").read_text())
    assert summary["format"] == "drift-summary/1" and summary["n_scored"] == len(customers)
    assert summary["status"] in STATUSES and not summary["judged"]   # 32 customers: reported, not judged
    assert {"age", "plan", "ev_has_events"} <= set(summary["features"])
    assert all(r["status"] in STATUSES and r["bins"] == len(r["train_shares"]) for r in summary["features"].values())
    assert summary["no_events"]["scored_share"] == 0.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "e.csv", "scores.csv", "scores.drift.json"]


def test_predict_warns_once_naming_the_shifted_feature(project, tmp_path, caplog):
    customers, events = shifted_files(tmp_path)
    with caplog.at_level("INFO"):
        run(project, "--customers", customers, "--events", events, "--model", "xgb", "--out", tmp_path / "s.parquet")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "drift" in r.getMessage()]
    assert len(warnings) == 1 and "LARGE" in warnings[0] and "age PSI" in warnings[0], warnings
    summary = json.loads((tmp_path / "s.drift.json").read_text())
    assert summary["status"] == "large" and summary["top_drifting"][0]["feature"] == "age"
    assert summary["features"]["age"]["psi"] > 0.25 and summary["judged"]


def test_chunked_predict_writes_the_same_drift_summary(project, tmp_path):
    customers, events = shifted_files(tmp_path, n=240, shift_sd=0.5)
    run(project, "--customers", customers, "--events", events, "--model", "xgb", "--out", tmp_path / "whole.csv")
    run(project, "--customers", customers, "--events", events, "--model", "xgb", "--chunk-size", 37,
        "--out", tmp_path / "chunks.csv")
    assert (tmp_path / "chunks.drift.json").read_text() == (tmp_path / "whole.drift.json").read_text()


def test_predict_without_a_drift_reference_scores_and_writes_no_drift_file(project, tmp_path, caplog):
    old = tmp_path / "old"
    for part in ("models", "reports", "data/interim/prepared"):
        shutil.copytree(project / part, old / part)
    shutil.copy(project / "params.yaml", old / "params.yaml")
    (old / REFERENCE).unlink()
    customers, events = shifted_files(tmp_path, n=40)
    with caplog.at_level("INFO"):
        run(old, "--customers", customers, "--events", events, "--model", "xgb", "--out", tmp_path / "s.csv")
    assert len(pd.read_csv(tmp_path / "s.csv")) == 40 and not (tmp_path / "s.drift.json").exists()
    assert "drift_reference.json not found" in caplog.text
