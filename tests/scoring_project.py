"""One tiny fitted project (prepare .. evaluate on raw user-style CSV files), built once per test session.

Shared by test_predict.py and test_app.py, so the stages run once however many scoring tests use them.
"""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import yaml
from conftest import REPO, make_customers, make_events, run_stages

STAGES = ["prepare", "impute", "outliers", "features", "tune", "evaluate"]
TUNE = {"trials": 2, "folds": 3, "lstm_max_epochs": 2, "pruner": "none", "timeout": None}


@functools.cache
def tiny_project() -> Path:
    """A project directory after all stages on 160 raw customers with events; removed at exit."""
    root = Path(tempfile.mkdtemp(prefix="scoring-project-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    shutil.copytree(REPO / "configs", root / "configs")
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    customers = make_customers(160, seed=3)
    customers.to_csv(raw / "customers.csv", index=False)
    make_events(customers["customer_id"].tolist(), per_customer=5, seed=3).to_csv(raw / "events.csv", index=False)
    params = {"seed": 5,
              "data": {"source": "files", "customers": "data/raw/customers.csv", "events": "data/raw/events.csv"},
              "tune": TUNE, "evaluate": {"n_boot": 20}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_stages(root, root / "params.yaml", STAGES)
    return root


def raw_test_rows(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw customers and events (as the user's files hold them) of the test split's customers."""
    test_ids = set(pd.read_parquet(root / "data/interim/prepared/test.parquet")["customer_id"])
    customers = pd.read_csv(root / "data/raw/customers.csv", dtype={"customer_id": str})
    events = pd.read_csv(root / "data/raw/events.csv", dtype={"customer_id": str})
    return customers[customers["customer_id"].isin(test_ids)], events[events["customer_id"].isin(test_ids)]
