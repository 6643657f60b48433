"""Labels from the event log through the stages: leakage (rule 5) and the out-of-time split, and a raw purchase
log with no customers file run end to end with `dvc repro` as a new user would."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import DVC_FAST_TUNE, REPO, run_command, run_stages

from pipeline.core.io import read_json
from pipeline.core.params import SyntheticParams
from pipeline.data.simulated_log import simulate_log
from pipeline.events.sequences import load_sequences

CHAIN = ["prepare", "impute", "outliers", "features"]
SNAPSHOT = pd.Timestamp("2026-01-01")
HORIZON = 60


@pytest.fixture(scope="module")
def simulated() -> tuple[pd.DataFrame, pd.DataFrame]:
    sim = simulate_log(SyntheticParams(n_customers=400, events_per_customer=10), seed=4, horizon_days=HORIZON)
    return sim.customers, sim.events


def run_chain(root: Path, customers: pd.DataFrame, events: pd.DataFrame, method: str) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    customers.to_csv(root / "customers.csv", index=False)
    events.to_csv(root / "events.csv", index=False)
    params = {"seed": 3,
              "data": {"source": "files", "customers": str(root / "customers.csv"), "events": str(root / "events.csv")},
              "label": {"from_events": True, "kind": "churn", "horizon_days": HORIZON, "cutoff": str(SNAPSHOT.date())},
              "split": {"method": method},
              "features": {"embedding": {"epochs": 1}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run_stages(root, root / "params.yaml", CHAIN)
    prepared = root / "data" / "interim" / "prepared"
    out = {s: pd.read_parquet(root / "data" / "features" / f"{s}.parquet") for s in ("train", "test")}
    out["sequences"] = {s: load_sequences(root / "data" / "features" / f"sequences_{s}.npz") for s in ("train", "test")}
    return {**out, "events": pd.read_parquet(prepared / "events.parquet"), "meta": read_json(prepared / "meta.json")}


def altered(events: pd.DataFrame, customers: pd.DataFrame, since: pd.Timestamp,
            until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Amounts x10 and every event doubled in [since, until), and a first event at `since` for each customer with
    none before it: no label of a customer with history before `since` changes, and the customers without any
    are not scored at `since` (with a label from it, a first event in the window would decide theirs)."""
    when = (events["timestamp"] >= since) & (events["timestamp"] < (until or pd.Timestamp.max))
    changed = events.assign(amount=np.where(when, events["amount"] * 10, events["amount"]))
    newcomers = sorted(set(customers["customer_id"]) - set(events.loc[events["timestamp"] < since, "customer_id"]))
    assert newcomers, "the simulated table should have customers without history at the cutoff"
    first = events.iloc[[0] * len(newcomers)].assign(customer_id=newcomers, timestamp=since)
    return pd.concat([changed, changed[when], first], ignore_index=True)


def test_events_after_the_cutoff_change_no_feature(tmp_path, simulated):
    customers, events = simulated
    base = run_chain(tmp_path / "base", customers, events, "random")
    late = run_chain(tmp_path / "late", customers, altered(events, customers, SNAPSHOT), "random")
    assert base["events"]["timestamp"].max() < SNAPSHOT
    pd.testing.assert_frame_equal(base["events"], late["events"])
    for split in ("train", "test"):
        pd.testing.assert_frame_equal(base[split], late[split])
    assert base["meta"]["label"]["positive_rate"] == late["meta"]["label"]["positive_rate"]


def test_out_of_time_training_sees_nothing_from_its_label_window_or_the_test_period(tmp_path, simulated):
    customers, events = simulated
    start = SNAPSHOT - pd.Timedelta(days=HORIZON)
    base = run_chain(tmp_path / "base", customers, events, "time")
    assert (base["meta"]["as_of_train"], base["meta"]["as_of"]) == (start.isoformat(), SNAPSHOT.isoformat())
    # Test-period events (from the test cutoff on) reach neither split.
    later = run_chain(tmp_path / "test_period", customers, altered(events, customers, SNAPSHOT), "time")
    for split in ("train", "test"):
        pd.testing.assert_frame_equal(base[split], later[split])
    # The training label window [T - horizon, T) reaches the test customers' features, never the training ones'.
    window = run_chain(tmp_path / "train_window", customers, altered(events, customers, start, SNAPSHOT), "time")
    pd.testing.assert_frame_equal(base["train"], window["train"])
    assert not base["test"].equals(window["test"])
    # Customers with history at the training cutoff have it at the test one, some more have it by then; the
    # test split sees more history.
    assert set(base["train"]["customer_id"]) < set(base["test"]["customer_id"])
    left_out = base["meta"]["label"]["left_out_no_history"]
    assert left_out["train"] - left_out["test"] == len(base["test"]) - len(base["train"])
    assert base["sequences"]["test"].lengths.sum() > base["sequences"]["train"].lengths.sum()


def test_a_raw_purchase_log_without_a_customers_file_runs_end_to_end(tmp_path):
    """customer_id, timestamp, amount only; label: buys again within 90 days; out of time; `dvc repro`."""
    sim = simulate_log(SyntheticParams(n_customers=500, events_per_customer=12, event_types=["purchase"]),
                       seed=2, horizon_days=90)
    root = tmp_path / "project"
    for name in ("pipeline", "configs"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    (root / "data" / "raw").mkdir(parents=True)
    sim.events[["customer_id", "timestamp", "amount"]].to_csv(root / "data" / "raw" / "purchases.csv", index=False)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"].update(source="files", customers=None, events="data/raw/purchases.csv", event_type_column=None)
    params["label"].update(from_events=True, kind="repeat", horizon_days=90, cutoff=None)
    params["split"]["method"] = "time"
    params["tune"].update(DVC_FAST_TUNE)
    params["evaluate"]["n_boot"] = 50
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "config", "core.analytics", "false"]):
        run_command(cmd, root)
    run_command(["dvc", "repro"], root)
    meta = read_json(root / "data" / "interim" / "prepared" / "meta.json")
    assert meta["columns"]["target"] == "repeat_90d" and meta["files"]["customers"] is None
    assert meta["numeric"] == meta["categorical"] == [] and meta["has_truth"] is False
    assert meta["label"]["split_method"] == "time" and meta["as_of_train"] < meta["as_of"]
    metrics = read_json(root / "reports" / "metrics.json")
    assert metrics["models"][metrics["best"]]["roc_auc"] > 0.6
    page = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert 'id="over-time"' in page and "out of time" in page and "repeat_90d" in page
    # Scoring next period needs no customers file either: everyone in the log, as of the day after its export.
    as_of = pd.to_datetime(sim.events["timestamp"]).max().normalize() + pd.Timedelta(days=1)
    run_command([sys.executable, "-m", "pipeline.predict", "--events", "data/raw/purchases.csv",
                 "--as-of", as_of.isoformat(), "--out", "scores.csv"], root)
    scores = pd.read_csv(root / "scores.csv", dtype={"customer_id": str})
    assert len(scores) == sim.events["customer_id"].nunique() and scores["probability"].between(0, 1).all()
    assert (root / "scores.drift.json").is_file()
    # The app's upload scores an events file alone the same way.
    from pipeline.serving.scorer import Scorer
    from pipeline.webapp.uploads import MAX_UPLOAD_ROWS, Caps, Upload, score_uploads

    raw = (root / "data" / "raw" / "purchases.csv").read_bytes()
    uploaded = score_uploads(Scorer.load(root), None, Upload("purchases.csv", raw), as_of,
                             Caps(MAX_UPLOAD_ROWS, len(raw))).frame
    pd.testing.assert_frame_equal(uploaded.reset_index(drop=True)[["customer_id", "probability"]],
                                  scores[["customer_id", "probability"]], check_dtype=False, atol=1e-12)
