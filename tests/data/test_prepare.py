"""The prepare stage end to end: layout and meta.json, contract variants, warnings, determinism, CLI errors."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from pipeline.core.errors import InputError
from pipeline.core.io import read_json
from pipeline.core.params import load_params
from pipeline.core.schema import EVENT_TYPE, ID, TARGET, TIMESTAMP, TRUE_PROBABILITY
from pipeline.data.contract import validate_tables
from pipeline.data.preparation import prepare as run
from pipeline.data.prepared import write_prepared
from pipeline.prepare import main

ROOT = REPO
META_KEYS = ["source", "files", "columns", "numeric", "categorical", "has_events", "has_event_type", "has_truth",
             "event_numeric", "event_types", "cutoff", "as_of", "n_train", "n_test", "positive_rate_train",
             "n_events", "timestamp_format", "dropped", "warnings"]


@pytest.fixture
def files(customers_frame, events_frame, write_table, write_params):
    """Write customers/events (optionally changed) and a params file; returns the params path."""
    def make(customers=None, events=None, *, seed=42, split=None, name="params.yaml", suffix=".csv", **data):
        cust = write_table(customers_frame if customers is None else customers, "customers" + suffix)
        ev = None if events is False else write_table(events_frame if events is None else events, "events" + suffix)
        spec = {"source": "files", "customers": str(cust), "events": None if ev is None else str(ev), **data}
        return write_params(name, seed=seed, data=spec, split=split or {})
    return make


def prepare(params: Path, out: Path, capsys) -> tuple[int, str]:
    """Run the CLI in-process; returns (exit code, stderr)."""
    code = 0
    try:
        main(["--params", str(params), "--out", str(out)])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def test_layout_meta_and_dtypes(files, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert prepare(files(cutoff="2025-06-01"), out, capsys)[0] == 0
    assert sorted(os.listdir(out)) == ["events.parquet", "meta.json", "test.parquet", "train.parquet"]
    meta = read_json(out / "meta.json")
    assert list(meta) == META_KEYS
    assert meta["numeric"] == ["age", "tenure_months"] and meta["categorical"] == ["plan"]
    assert meta["columns"] == {"id": "customer_id", "target": "churn", "positive_label": 1,
                               "timestamp": "timestamp", "event_type": "event_type"}
    assert (meta["n_train"], meta["n_test"], meta["has_events"], meta["has_truth"]) == (32, 8, True, False)
    assert meta["event_types"] == ["complaint", "login", "payment"] and meta["event_numeric"] == ["amount"]
    assert meta["cutoff"] == meta["as_of"] == "2025-06-01T00:00:00"
    train, test = pd.read_parquet(out / "train.parquet"), pd.read_parquet(out / "test.parquet")
    events = pd.read_parquet(out / "events.parquet")
    assert list(train.columns) == [ID, TARGET, "age", "tenure_months", "plan"] and train[TARGET].dtype == np.int8
    assert set(train[ID]).isdisjoint(test[ID]) and len(set(train[ID]) | set(test[ID])) == 40
    assert "00007" in set(train[ID]) | set(test[ID])                   # ids stay zero-padded text
    assert events[TIMESTAMP].max() < pd.Timestamp("2025-06-01") and meta["n_events"] == len(events)
    assert meta["dropped"]["events_after_cutoff"] == 120 - len(events) and len(meta["warnings"]) == 1
    assert list(events.columns) == [ID, TIMESTAMP, EVENT_TYPE, "amount"]


def test_deterministic_and_seeded(files, tmp_path):
    first, again = run(load_params(files())), run(load_params(files()))
    pd.testing.assert_frame_equal(first.train, again.train)
    pd.testing.assert_frame_equal(first.test, again.test)
    pd.testing.assert_frame_equal(first.events, again.events)
    assert first.meta == again.meta
    write_prepared(first, tmp_path / "a")
    write_prepared(again, tmp_path / "b")
    for name in ("train.parquet", "test.parquet", "events.parquet", "meta.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    other = run(load_params(files(seed=7, name="p7.yaml")))
    assert set(other.test[ID]) != set(first.test[ID])


def test_customers_only(files):
    data = run(load_params(files(events=False)))
    assert data.events is None and not data.meta["has_events"] and data.meta["n_events"] == 0
    assert data.meta["columns"]["timestamp"] is None and data.meta["as_of"] is None


def test_id_and_target_only_with_events(files, customers_frame, tmp_path):
    data = run(load_params(files(customers_frame[["customer_id", "churn"]])))
    assert list(data.train.columns) == [ID, TARGET] and data.meta["numeric"] == data.meta["categorical"] == []
    assert data.meta["n_events"] == 120 and data.meta["as_of"] == (data.events[TIMESTAMP].max() + pd.Timedelta(seconds=1)).isoformat()
    write_prepared(data, tmp_path / "out")
    assert pd.read_parquet(tmp_path / "out" / "train.parquet").shape[1] == 2


def test_parquet_input(files, customers_frame, events_frame):
    events = events_frame.assign(timestamp=pd.to_datetime(events_frame["timestamp"]).dt.tz_localize("UTC"))
    customers = customers_frame.assign(age=pd.to_numeric(customers_frame["age"]))
    data = run(load_params(files(customers, events, suffix=".parquet")))
    assert data.meta["numeric"] == ["age", "tenure_months"] and data.events[TIMESTAMP].dt.tz is None
    assert data.train[ID].str.len().eq(5).all()


def test_split_column_and_custom_names(files, customers_frame, events_frame):
    customers = customers_frame.rename(columns={"customer_id": "cid", "churn": "left"}).assign(
        left=np.where(customers_frame["churn"] == 1, "yes", "no"), fold=["Train", "train", "TEST", "train"] * 10)
    events = events_frame.rename(columns={"customer_id": "cid"})
    data = run(load_params(files(customers, events, id_column="cid", target="left", positive_label="yes",
                                 split={"column": "fold"})))
    assert data.meta["n_test"] == 10 and "fold" not in data.train and "fold" not in data.meta["categorical"]
    assert data.train[TARGET].sum() + data.test[TARGET].sum() == customers_frame["churn"].sum()
    assert data.meta["columns"]["id"] == "cid"


def test_warned_cases_counted_and_exit_zero(files, customers_frame, events_frame, tmp_path, capsys):
    customers = customers_frame.assign(empty=np.nan, email=[f"u{i}@mail.io" for i in range(40)])
    events = events_frame.copy()
    events.loc[:4, "customer_id"] = "77777"
    params = files(customers, events.drop(columns="event_type"), cutoff="2025-05-01", max_category_levels=20)
    code, err = prepare(params, tmp_path / "out", capsys)
    meta = read_json(tmp_path / "out" / "meta.json")
    assert code == 0 and len(meta["warnings"]) == 5 and not meta["has_event_type"]
    dropped = meta["dropped"]
    assert dropped["events_unknown_customer"] == 5 and dropped["events_after_cutoff"] > 0
    assert dropped["columns_all_missing"] == ["empty"] and dropped["columns_id_like"] == ["email"]
    assert meta["n_events"] == 115 - dropped["events_after_cutoff"]


def test_ignore_lists_columns_of_either_file(files, customers_frame, events_frame):
    data = run(load_params(files(events=events_frame.assign(note="x"), ignore=["plan", "note"])))
    assert data.meta["categorical"] == [] and "note" not in data.events
    with pytest.raises(InputError, match=r"params: data.ignore lists column\(s\) \['nope'\] not found in the customers or events"):
        run(load_params(files(ignore=["nope"], name="p2.yaml")))


def test_new_data_validation_path(customers_frame, events_frame):
    """predict's entry point: no target, the training run's feature types, same event rules."""
    params = load_params(ROOT / "params.yaml").data
    new = customers_frame.drop(columns="churn").head(5)
    events = events_frame.head(17)                   # 15 events of the 5 new customers, 2 of someone else
    clean, ev, report = validate_tables(new, events, params, {"customers": "new.csv", "events": "ev.csv"},
                                        require_target=False, features={"numeric": ["age"], "categorical": ["plan"]})
    assert list(clean.frame.columns) == [ID, "age", "plan"] and set(ev.frame[ID]) == set(new["customer_id"])
    assert report.dropped["events_unknown_customer"] == 2 and len(ev.frame) == 15


@pytest.mark.parametrize("case, match", [
    ("missing_file", r"customers file not found"),
    ("no_target", r"target column 'churn' not found"),
    ("duplicates", r"duplicate customer ids \['00001'\] at rows \[1, 2\]"),
    ("one_class", r"has only one class"),
    ("bad_timestamp", r"events.csv: column 'timestamp' has missing or unparsable timestamps at rows \[3\]: \['yesterday'\]"),
    ("id_format", r"matches no customer .*leading zeros"),
    ("inf", r"column 'amount' has infinite values"),
    ("unknown_key", r"params: unknown key\(s\) \['data.custmers'\]"),
    ("bad_source", r"'data.source' must be one of \['synthetic', 'files'\], got 'sql'"),
    ("bad_split", r"split column 'fold' must hold 'train' or 'test'"),
])
def test_cli_errors_exit_2_one_line_and_write_nothing(case, match, files, customers_frame, events_frame,
                                                      write_params, tmp_path, capsys):
    cust, ev = customers_frame.copy(), events_frame.copy()
    kwargs = {}
    if case == "no_target":
        cust = cust.drop(columns="churn")
    elif case == "duplicates":
        cust.loc[1, "customer_id"] = "00001"
    elif case == "one_class":
        cust["churn"] = 1
    elif case == "bad_timestamp":
        ev.loc[2, "timestamp"] = "yesterday"
    elif case == "id_format":
        ev["customer_id"] = ev["customer_id"].str.lstrip("0")
    elif case == "inf":
        ev["amount"] = ev["amount"].astype(object).where(ev.index != 4, "inf")
    elif case == "bad_split":
        cust["fold"], kwargs = "holdout", {"split": {"column": "fold"}}
    params = files(cust, ev, **kwargs)
    if case in ("missing_file", "unknown_key", "bad_source"):
        spec = {"missing_file": {"source": "files", "customers": str(tmp_path / "nope.csv")},
                "unknown_key": {"custmers": "x.csv"}, "bad_source": {"source": "sql"}}[case]
        params = write_params("bad.yaml", data=spec)
    out = tmp_path / "prepared"
    out.mkdir()
    (out / "meta.json").write_text("previous")
    code, err = prepare(params, out, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert re.search(match, err), err
    assert os.listdir(out) == ["meta.json"] and (out / "meta.json").read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".prepared")] == []


def test_summary_line(files, tmp_path, caplog):
    with caplog.at_level("INFO", logger="pipeline.prepare"):
        main(["--params", str(files()), "--out", str(tmp_path / "ok")])
    assert caplog.messages[-1] == "prepare: 32 train / 8 test customers, 120 events, 0 warnings"


def test_module_run_as_a_script_fails_cleanly(files, customers_frame, tmp_path):
    """`python -m pipeline.prepare` on bad input: exit 2, the error as the last line, no traceback, nothing written."""
    bad = customers_frame.assign(churn=customers_frame["churn"].astype(object).where(customers_frame.index != 5, None))
    failed = subprocess.run([sys.executable, "-m", "pipeline.prepare", "--params", str(files(bad)), "--out",
                             str(tmp_path / "bad")], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert failed.stderr.strip().splitlines()[-1].endswith("target column 'churn' has missing values at rows [6]; "
                                                           "every customer needs a label.")
    assert not (tmp_path / "bad").exists()


def test_synthetic_source(write_params, tmp_path):
    pytest.importorskip("pipeline.data.simulator")
    params = write_params(seed=1, data={"source": "synthetic", "synthetic": {"n_customers": 300,
                                                                            "events_per_customer": 5}})
    data = run(load_params(params))
    meta = data.meta
    assert meta["has_truth"] and meta["source"] == "synthetic" and meta["files"] == {"customers": None, "events": None}
    assert meta["cutoff"] == "2026-01-01T00:00:00" and meta["n_train"] + meta["n_test"] == 300
    assert list(data.truth.columns) == [ID, TRUE_PROBABILITY] and data.events[TIMESTAMP].max() < pd.Timestamp("2026-01-01")
    write_prepared(data, tmp_path / "syn")
    assert (tmp_path / "syn" / "truth.parquet").exists()
