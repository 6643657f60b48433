"""End to end: a password in params.yaml's tune.storage appears in no file the stages write (reports/,
models/, data/, optuna/) and in no log or error line, while the report still names the masked URL.

The stages run in-process on tiny data (conftest.run_stages). The URL is PostgreSQL's, so every stage
sees what a user's run sees; only the opener is pointed at a SQLite file (no server in a unit test).
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import yaml
from conftest import REPO, make_customers, make_events, run_stages

from pipeline.tuning import storage as stores

SECRET = "S3cret-pw"
STORAGE = f"postgresql+psycopg2://optuna:p@ss-{SECRET}@db-host:5432/optuna"   # an unencoded '@' in it
STAGES = ["prepare", "eda", "impute", "outliers", "features", "resample", "tune", "evaluate", "explain", "cells",
          "report"]
TUNE = {"trials": 2, "folds": 3, "models": ["logreg", "xgb"], "pruner": "none", "timeout": None, "storage": STORAGE}


def tiny_project(root: Path) -> Path:
    """Raw customers and events, configs and a params.yaml holding the password; returns params.yaml."""
    shutil.copytree(REPO / "configs", root / "configs")
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    customers = make_customers(120, seed=4)
    customers.to_csv(raw / "customers.csv", index=False)
    make_events(customers["customer_id"].tolist(), per_customer=4, seed=4).to_csv(raw / "events.csv", index=False)
    params = {"seed": 5, "data": {"source": "files", "customers": "data/raw/customers.csv",
                                  "events": "data/raw/events.csv"},
              "tune": TUNE, "evaluate": {"n_boot": 20}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root / "params.yaml"


def test_no_output_file_or_log_line_holds_the_storage_password(tmp_path, monkeypatch, caplog, capsys):
    open_storage = stores.make_storage
    sqlite = f"sqlite:///{tmp_path}/optuna/studies.db"
    monkeypatch.setattr(stores, "make_storage", lambda url, *args, **kwargs: open_storage(sqlite, *args, **kwargs))
    caplog.set_level(logging.DEBUG)
    params = tiny_project(tmp_path)
    run_stages(tmp_path, params, STAGES)

    written = [p for p in tmp_path.rglob("*") if p != params and "raw" not in p.parts and "configs" not in p.parts]
    assert (tmp_path / "reports" / "index.html") in written and (tmp_path / "reports" / "tune.json") in written
    leaks = [str(p) for p in written if SECRET in str(p) or (p.is_file() and SECRET.encode() in p.read_bytes())]
    assert not leaks, f"the storage password is in {leaks}"
    out = capsys.readouterr()
    assert SECRET not in caplog.text + out.out + out.err
    page = (tmp_path / "reports" / "index.html").read_text()
    assert "storage: postgresql+psycopg2://optuna:***@db-host:5432/optuna" in page   # the parameters section
    assert "<code>postgresql+psycopg2://optuna:***@db-host:5432/optuna</code>" in page   # the tuning section
    assert [r for r in caplog.records if r.levelno == logging.WARNING and "dvc.lock" in r.getMessage()]
