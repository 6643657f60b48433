"""The Streamlit app driven by streamlit.testing's AppTest on the tiny fitted project: the lookup and the
upload give the CLI's numbers (the upload's drift summary too), a malformed upload shows the CLI's one-line
error and no exception."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import make_customers, make_events
from scoring_project import raw_test_rows, tiny_project
from streamlit.testing.v1 import AppTest

from pipeline import predict
from pipeline.webapp.content import ROOT_ENV, project_root

APP = str(__import__("pipeline.app", fromlist=["x"]).__file__)


@pytest.fixture(scope="module")
def project():
    return tiny_project()


@pytest.fixture
def app(project, monkeypatch):
    monkeypatch.setenv(ROOT_ENV, str(project))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception and not at.error
    return at


def cli_scores(project, tmp_path, customers, events=None, *extra):
    args = ["--root", str(project), "--customers", str(customers), "--out", str(tmp_path / "cli.csv"), *extra]
    predict.main(args + (["--events", str(events)] if events else []))
    return pd.read_csv(tmp_path / "cli.csv", dtype={"customer_id": str})


def test_root_from_the_command_line_or_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    assert project_root(["--root", "/somewhere"]) == __import__("pathlib").Path("/somewhere")
    assert project_root([]) == tmp_path


def test_leaderboard_and_curves_are_shown(app, project):
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert metrics["best"] in app.subheader[0].value
    assert len(app.dataframe) >= 1


def test_lookup_of_a_known_id_shows_the_clis_probability(app, project, tmp_path):
    customers, events = raw_test_rows(project)
    customers.to_csv(tmp_path / "c.csv", index=False)
    events.to_csv(tmp_path / "e.csv", index=False)
    as_of = json.loads((project / "data/interim/prepared/meta.json").read_text())["as_of"]
    cli = cli_scores(project, tmp_path, tmp_path / "c.csv", tmp_path / "e.csv", "--as-of", as_of).set_index("customer_id")
    known = customers["customer_id"].iloc[3]
    app.text_input(key="customer_id").set_value(known).run()
    assert not app.exception and not app.error
    assert app.session_state["lookup"]["probability"] == cli.loc[known, "probability"]
    assert app.metric[0].value == f"{cli.loc[known, 'probability']:.4f}"
    app.text_input(key="customer_id").set_value("no-such-id").run()
    assert "not found" in app.warning[0].value and not app.exception


def test_upload_yields_the_clis_scores_and_a_download(app, project, tmp_path):
    customers, events = raw_test_rows(project)
    customers.to_csv(tmp_path / "new.csv", index=False)
    events.to_parquet(tmp_path / "new_events.parquet", index=False)
    cli = cli_scores(project, tmp_path, tmp_path / "new.csv", tmp_path / "new_events.parquet")
    app.file_uploader(key="customers_file").set_value(("new.csv", (tmp_path / "new.csv").read_bytes(), "text/csv"))
    app.file_uploader(key="events_file").set_value(
        ("new_events.parquet", (tmp_path / "new_events.parquet").read_bytes(), "application/octet-stream"))
    app.run()
    assert not app.exception and not app.error
    shown = app.session_state["upload_scores"]
    np.testing.assert_array_equal(shown["probability"].to_numpy(), cli["probability"].to_numpy())
    keys = ["customer_id", "label", "rank", "decile"]
    pd.testing.assert_frame_equal(shown[keys], cli[keys], check_dtype=False)
    assert [b.label for b in app.get("download_button")] == ["Download scores (CSV)"]
    cli_drift = json.loads((tmp_path / "cli.drift.json").read_text())
    assert json.loads(json.dumps(app.session_state["upload_drift"])) == cli_drift
    table = next(d.value for d in app.dataframe if "PSI" in d.value.columns)
    assert set(table["feature"]) == set(cli_drift["features"]) and table["PSI"].is_monotonic_decreasing


def test_an_upload_far_from_training_shows_the_drift_warning_naming_the_feature(app, tmp_path):
    customers = make_customers(400, seed=11).assign(customer_id=lambda f: "n" + f["customer_id"])
    customers["age"] = pd.to_numeric(customers["age"]) + 24   # 2 training sd older
    events = make_events(customers["customer_id"].tolist(), per_customer=5, seed=11)
    app.file_uploader(key="customers_file").set_value(("far.csv", customers.to_csv(index=False).encode(), "text/csv"))
    app.file_uploader(key="events_file").set_value(("far_events.csv", events.to_csv(index=False).encode(), "text/csv"))
    app.run()
    assert not app.exception and not app.error
    assert app.session_state["upload_drift"]["top_drifting"][0]["feature"] == "age"
    shown = [w.value for w in app.warning if w.value.startswith("drift:")]
    assert len(shown) == 1 and "LARGE" in shown[0] and "age PSI" in shown[0], shown
    table = next(d.value for d in app.dataframe if "PSI" in d.value.columns)
    assert table.iloc[0]["feature"] == "age" and table.iloc[0]["status"] == "large"


@pytest.mark.parametrize("name, content, words", [
    ("bad.csv", b"foo,bar\n1,2\n", ["bad.csv", "customer_id", "not found"]),
    ("empty.csv", b"", ["empty.csv", "empty"]),
    ("dup.csv", make_customers(6).iloc[[0, 1, 1]].to_csv(index=False).encode(), ["dup.csv", "duplicate", "rows [2, 3]"]),
    ("text.csv", make_customers(6).assign(age="forty").to_csv(index=False).encode(), ["text.csv", "'age'", "forty"]),
])
def test_a_malformed_upload_shows_the_one_line_error_not_a_traceback(app, name, content, words):
    app.file_uploader(key="customers_file").set_value((name, content, "text/csv")).run()
    assert not app.exception
    assert len(app.error) == 1
    message = app.error[0].value
    assert message.startswith("error: ") and "\n" not in message
    assert all(word in message for word in words), message
    assert "upload_scores" not in app.session_state and "upload_drift" not in app.session_state


def test_a_project_without_a_drift_reference_still_scores_uploads_and_says_so(project, tmp_path, monkeypatch):
    old = tmp_path / "old"
    for part in ("models", "reports", "data/interim/prepared"):
        shutil.copytree(project / part, old / part)
    shutil.copy(project / "params.yaml", old / "params.yaml")
    (old / "models/drift_reference.json").unlink()
    monkeypatch.setenv(ROOT_ENV, str(old))
    at = AppTest.from_file(APP, default_timeout=120).run()
    customers, _ = raw_test_rows(project)
    at.file_uploader(key="customers_file").set_value(("new.csv", customers.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception and not at.error and len(at.session_state["upload_scores"]) == len(customers)
    assert "upload_drift" not in at.session_state
    assert any("No drift reference" in c.value for c in at.caption)
