"""The Streamlit app driven by streamlit.testing's AppTest on the tiny fitted project: the lookup and the
upload give the CLI's numbers (the upload's drift summary too), a malformed upload shows the CLI's one-line
error and no exception; it listens on localhost, caps and caches uploads, and shows held-out customers only."""
from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import sys
import tomllib

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from conftest import REPO, make_customers, make_events
from scoring_project import raw_test_rows, tiny_project
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from pipeline import predict
from pipeline.serving import batch
from pipeline.serving.scorer import Scorer
from pipeline.webapp import uploads
from pipeline.webapp.content import ROOT_ENV, project_root

APP = str(__import__("pipeline.app", fromlist=["x"]).__file__)


@pytest.fixture(scope="module")
def project():
    return tiny_project()


@pytest.fixture
def app(project, monkeypatch):
    monkeypatch.setenv(ROOT_ENV, str(project))
    st.cache_data.clear()   # uploads are cached by content across sessions: each test starts cold
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception and not at.error
    return at


@pytest.fixture
def score_calls(monkeypatch):
    """The BatchJob of every call to the CLI's scoring function (which still scores)."""
    calls, real = [], batch.score_file
    monkeypatch.setattr(batch, "score_file", lambda scorer, job, *a: calls.append(job) or real(scorer, job, *a))
    return calls


def as_of_day(project) -> dt.date:
    """A scoring day after the training data's latest event, so the app and the CLI can be given the same one."""
    meta = json.loads((project / "data/interim/prepared/meta.json").read_text())
    return (pd.Timestamp(meta["as_of"]).normalize() + pd.Timedelta(days=1)).date()


def upload_test_rows(at, project, tmp_path, day=None):
    customers, events = raw_test_rows(project)
    customers.to_csv(tmp_path / "new.csv", index=False)
    events.to_parquet(tmp_path / "new_events.parquet", index=False)
    at.file_uploader(key="customers_file").set_value(("new.csv", (tmp_path / "new.csv").read_bytes(), "text/csv"))
    at.file_uploader(key="events_file").set_value(
        ("new_events.parquet", (tmp_path / "new_events.parquet").read_bytes(), "application/octet-stream"))
    at.date_input(key="as_of").set_value(day or as_of_day(project))
    return at.run()


def page_text(at) -> str:
    return " ".join(str(getattr(e, "value", "")) for kind in ("error", "warning", "info", "caption", "markdown",
                                                             "exception") for e in getattr(at, kind))


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


def test_the_lookup_shows_held_out_customers_only_never_a_training_customer(app, project):
    """A training customer's score is in-sample (the model fitted his label): not shown, nor his features."""
    trained = pd.read_parquet(project / "data/interim/prepared/train.parquet")["customer_id"].iloc[0]
    app.text_input(key="customer_id").set_value(trained).run()
    assert not app.exception and "lookup" not in app.session_state and not app.metric
    assert len(app.warning) == 1 and "held-out (test split)" in app.warning[0].value


def test_the_lookup_is_off_with_no_lookup(project, monkeypatch):
    monkeypatch.setenv(ROOT_ENV, str(project))
    monkeypatch.setattr(sys, "argv", ["pipeline/app.py", "--no-lookup"])
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception and not at.error and not at.text_input
    assert any("lookup is off" in c.value for c in at.caption)


def test_the_app_listens_on_localhost_headless_without_error_details():
    config = tomllib.loads((REPO / ".streamlit/config.toml").read_text())
    assert config["server"]["address"] == "localhost" and config["server"]["headless"] is True
    assert config["browser"]["gatherUsageStats"] is False and config["client"]["showErrorDetails"] is False
    assert config["server"]["maxUploadSize"] == uploads.MAX_UPLOAD_MB
    recipe = (REPO / "Makefile").read_text().split("\napp:")[1].split("\n\n")[0]
    assert "streamlit run pipeline/app.py --server.address localhost" in recipe


def test_without_a_chosen_address_the_app_shows_nothing_but_how_to_bind_it(project, monkeypatch):
    """Streamlit's default (no server.address) listens on every interface; the app has no login."""
    monkeypatch.setenv(ROOT_ENV, str(project))
    chosen = st_config.get_option("server.address")
    st_config.set_option("server.address", None)
    try:
        at = AppTest.from_file(APP, default_timeout=120).run()
    finally:
        st_config.set_option("server.address", chosen)
    assert not at.exception and not at.tabs and not at.dataframe and not at.file_uploader
    assert len(at.error) == 1 and "--server.address localhost" in at.error[0].value


def test_upload_yields_the_clis_scores_and_a_download(app, project, tmp_path, score_calls, monkeypatch):
    monkeypatch.setattr(uploads, "CHUNK_SIZE", 10)   # 32 customers: scored in 4 chunks, like predict's large files
    upload_test_rows(app, project, tmp_path)
    cli = cli_scores(project, tmp_path, tmp_path / "new.csv", tmp_path / "new_events.parquet",
                     "--as-of", str(as_of_day(project)), "--chunk-size", "10")
    assert not app.exception and not app.error
    assert [(j.chunk_size, j.as_of) for j in score_calls] == [(10, pd.Timestamp(as_of_day(project)))]
    notes = [i.value for i in app.info]
    assert "new.csv: target column 'churn' ignored (never used to score)." in notes and "/tmp" not in str(notes)
    shown = app.session_state["upload_scores"]
    np.testing.assert_array_equal(shown["probability"].to_numpy(), cli["probability"].to_numpy())
    keys = ["customer_id", "label", "rank", "decile"]
    pd.testing.assert_frame_equal(shown[keys], cli[keys], check_dtype=False)
    assert [b.label for b in app.get("download_button")] == ["Download scores (CSV)"]
    cli_drift = json.loads((tmp_path / "cli.drift.json").read_text())
    assert json.loads(json.dumps(app.session_state["upload_drift"])) == cli_drift
    table = next(d.value for d in app.dataframe if "PSI" in d.value.columns)
    assert set(table["feature"]) == set(cli_drift["features"]) and table["PSI"].is_monotonic_decreasing


def test_an_upload_far_from_training_shows_the_drift_warning_naming_the_feature(app, project, tmp_path):
    customers = make_customers(400, seed=11).assign(customer_id=lambda f: "n" + f["customer_id"])
    customers["age"] = pd.to_numeric(customers["age"]) + 24   # 2 training sd older
    events = make_events(customers["customer_id"].tolist(), per_customer=5, seed=11)
    # Scored as of the training day, the latest event 1 s before it as in training: "never" recencies (a constant
    # in training, which grows with the as-of) then stay in their reference bin and age is the one drift.
    day = pd.Timestamp(json.loads((project / "data/interim/prepared/meta.json").read_text())["as_of"]).floor("D")
    stamps = pd.to_datetime(events["timestamp"])
    events["timestamp"] = (stamps + (day - pd.Timedelta(seconds=1) - stamps.max())).dt.strftime("%Y-%m-%d %H:%M:%S")
    app.file_uploader(key="customers_file").set_value(("far.csv", customers.to_csv(index=False).encode(), "text/csv"))
    app.file_uploader(key="events_file").set_value(("far_events.csv", events.to_csv(index=False).encode(), "text/csv"))
    app.date_input(key="as_of").set_value(day.date())
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
    app.checkbox(key="no_events").check()
    app.file_uploader(key="customers_file").set_value((name, content, "text/csv")).run()
    assert not app.exception
    assert len(app.error) == 1
    message = app.error[0].value
    assert message.startswith("error: ") and "\n" not in message
    assert all(word in message for word in words), message
    assert "upload_scores" not in app.session_state and "upload_drift" not in app.session_state


def test_an_events_model_needs_events_or_the_no_events_box(app, project):
    customers, _ = raw_test_rows(project)
    app.file_uploader(key="customers_file").set_value(("new.csv", customers.to_csv(index=False).encode(), "text/csv"))
    app.run()
    assert not app.exception and len(app.error) == 1 and "--no-events" in app.error[0].value
    app.checkbox(key="no_events").check().run()
    assert not app.error and len(app.session_state["upload_scores"]) == len(customers)


def test_a_project_without_a_drift_reference_still_scores_uploads_and_says_so(project, tmp_path, monkeypatch):
    old = tmp_path / "old"
    for part in ("models", "reports", "data/interim/prepared"):
        shutil.copytree(project / part, old / part)
    shutil.copy(project / "params.yaml", old / "params.yaml")
    (old / "models/drift_reference.json").unlink()
    monkeypatch.setenv(ROOT_ENV, str(old))
    at = AppTest.from_file(APP, default_timeout=120).run()
    customers, _ = raw_test_rows(project)
    at.checkbox(key="no_events").check()
    at.file_uploader(key="customers_file").set_value(("new.csv", customers.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception and not at.error and len(at.session_state["upload_scores"]) == len(customers)
    assert "upload_drift" not in at.session_state
    assert any("No drift reference" in c.value for c in at.caption)


def test_the_as_of_defaults_to_today_in_utc_and_names_the_download(app, project, tmp_path, monkeypatch):
    names, button = [], st.download_button
    monkeypatch.setattr(st, "download_button", lambda *a, **k: names.append(k["file_name"]) or button(*a, **k))
    today = dt.datetime.now(dt.timezone.utc).date()
    assert app.date_input(key="as_of").value == today
    upload_test_rows(app, project, tmp_path, today)
    assert not app.exception and not app.error
    assert f"as of {today:%Y-%m-%d} 00:00 UTC" in " ".join(m.value for m in app.markdown)
    assert len(names) == 1 and names[0].endswith(f"_as-of_{today:%Y-%m-%d}.csv"), names


def test_a_rerun_with_the_same_upload_does_not_rescore(app, project, tmp_path, score_calls):
    upload_test_rows(app, project, tmp_path)
    first = app.session_state["upload_scores"]
    app.run()
    app.text_input(key="customer_id").set_value("no-such-id").run()   # any other interaction reruns the script
    assert len(score_calls) == 1 and not app.exception and not app.error
    pd.testing.assert_frame_equal(app.session_state["upload_scores"], first)
    app.date_input(key="as_of").set_value(as_of_day(project) + dt.timedelta(days=30)).run()
    assert len(score_calls) == 2   # a new as-of is a new result


@pytest.mark.parametrize("name, cap", [("many.csv", "rows"), ("many.parquet", "rows"), ("big.csv", "mb")])
def test_an_upload_over_a_cap_is_refused_in_one_line_before_scoring(project, monkeypatch, score_calls, name, cap):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_ROWS", 5 if cap == "rows" else 1_000)
    monkeypatch.setattr(uploads, "MAX_UPLOAD_MB", 1 / 2**10 if cap == "mb" else 100)   # 1 KB
    monkeypatch.setenv(ROOT_ENV, str(project))
    customers = make_customers(6 if cap == "rows" else 100, seed=4)   # 100 rows: over 1 KB
    data = customers.to_parquet(index=False) if name.endswith(".parquet") else customers.to_csv(index=False).encode()
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.file_uploader(key="customers_file").set_value((name, data, "text/csv")).run()
    assert not at.exception and len(at.error) == 1 and not score_calls
    message = at.error[0].value
    assert message.startswith(f"error: {name}: ") and "\n" not in message, message
    over = "more than 5 rows" if cap == "rows" else "KB; the app scores files of up to 1,000 rows and 1.0 KB"
    assert over in message, message
    assert message.endswith("score large files with `python -m pipeline.predict` (chunked, no cap).")


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_the_server_log(app, project, tmp_path,
                                                                                  monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("secret detail from /srv/data")

    monkeypatch.setattr(Scorer, "score", boom)
    with caplog.at_level(logging.ERROR):
        upload_test_rows(app, project, tmp_path)
    assert not app.exception
    assert [e.value for e in app.error] == ["error: unexpected error (RuntimeError); details in the server log"]
    assert "secret detail" not in page_text(app) and "Traceback" not in page_text(app)
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert logged and "secret detail" in str(logged[0].exc_info[1])
