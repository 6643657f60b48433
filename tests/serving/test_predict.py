"""pipeline.predict end to end on a tiny fitted project: exact reproduction of the test predictions,
output contract, chunking, reasons, and every bad-input case (one line, exit 2, nothing written)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scoring_project import raw_test_rows, tiny_project

from pipeline import predict
from pipeline.explanation.contributions import contributions, explainable_families
from pipeline.models import store as model_store
from pipeline.models.registry import FAMILIES as REGISTERED
from pipeline.models.registry import get
from pipeline.serving.scorer import Scorer

FAMILIES = tuple(REGISTERED)   # every family: the tiny project tunes them all (tune.models null)


@pytest.fixture(scope="module")
def project():
    return tiny_project()


@pytest.fixture(scope="module")
def as_of(project):
    return json.loads((project / "data/interim/prepared/meta.json").read_text())["as_of"]


@pytest.fixture
def files(project, tmp_path):
    """The raw rows of the test customers written as a user's new files."""
    customers, events = raw_test_rows(project)
    customers.to_csv(tmp_path / "new.csv", index=False)
    events.to_csv(tmp_path / "new_events.csv", index=False)
    return tmp_path / "new.csv", tmp_path / "new_events.csv"


def run(project, *args):
    predict.main(["--root", str(project), *map(str, args)])


def read(path):
    return pd.read_csv(path, dtype={"customer_id": str}) if str(path).endswith(".csv") else pd.read_parquet(path)


@pytest.mark.parametrize("family", [*FAMILIES, "ensemble"])
def test_scoring_the_test_splits_raw_rows_reproduces_the_saved_predictions(project, files, as_of, tmp_path, family):
    customers, events = files
    run(project, "--customers", customers, "--events", events, "--model", family, "--as-of", as_of,
        "--out", tmp_path / "scores.csv")
    saved = pd.read_csv(project / "reports/predictions.csv", dtype={"customer_id": str})
    scores = read(tmp_path / "scores.csv").set_index("customer_id").loc[saved["customer_id"]]
    assert len(scores) == len(saved) > 0
    np.testing.assert_array_equal(scores["probability"].to_numpy(), saved[family].to_numpy())


def test_output_contract_rank_decile_label_threshold(project, files, tmp_path):
    customers, events = files
    run(project, "--customers", customers, "--events", events, "--model", "xgb", "--out", tmp_path / "s.parquet")
    out = read(tmp_path / "s.parquet")
    assert list(out.columns) == ["customer_id", "probability", "label", "rank", "decile"]
    assert out["customer_id"].tolist() == pd.read_csv(customers, dtype={"customer_id": str})["customer_id"].tolist()
    ordered = out.sort_values("rank")
    assert ordered["rank"].tolist() == list(range(1, len(out) + 1))
    assert ordered["probability"].is_monotonic_decreasing
    assert ordered["decile"].is_monotonic_increasing and ordered["decile"].iloc[0] == 1 and out["decile"].max() == 10
    top = int(np.ceil(len(out) / 10))
    assert (ordered["decile"].iloc[:len(out) // 10] == 1).all() and (ordered["decile"].iloc[top:] > 1).all()
    threshold = model_store.read_info(project / "models/tuned/xgb")["threshold"]
    assert (out["label"] == (out["probability"] >= threshold)).all()
    run(project, "--customers", customers, "--events", events, "--model", "xgb", "--threshold", "0",
        "--out", tmp_path / "all.csv")
    assert read(tmp_path / "all.csv")["label"].eq(1).all()


def test_best_is_the_family_evaluate_chose(project, files, tmp_path):
    customers, events = files
    run(project, "--customers", customers, "--events", events, "--out", tmp_path / "best.csv")
    best = json.loads((project / "reports/metrics.json").read_text())["best"]
    run(project, "--customers", customers, "--events", events, "--model", best, "--out", tmp_path / "named.csv")
    pd.testing.assert_frame_equal(read(tmp_path / "best.csv"), read(tmp_path / "named.csv"))


@pytest.mark.parametrize("family", ["xgb", "lstm"])
def test_chunked_scoring_equals_scoring_at_once_parquet_in_and_out(project, files, tmp_path, family):
    customers, events = files
    pd.read_csv(customers, dtype={"customer_id": str}).to_parquet(tmp_path / "c.parquet", index=False)
    pd.read_csv(events, dtype={"customer_id": str}).to_parquet(tmp_path / "e.parquet", index=False)
    run(project, "--customers", customers, "--events", events, "--model", family, "--out", tmp_path / "whole.csv")
    run(project, "--customers", tmp_path / "c.parquet", "--events", tmp_path / "e.parquet", "--model", family,
        "--chunk-size", 7, "--out", tmp_path / "chunks.csv")
    run(project, "--customers", customers, "--events", events, "--model", family, "--chunk-size", 5,
        "--out", tmp_path / "chunks_csv.csv")
    whole = read(tmp_path / "whole.csv")
    for name in ("chunks.csv", "chunks_csv.csv"):
        chunked = read(tmp_path / name)
        assert chunked["customer_id"].tolist() == whole["customer_id"].tolist()
        np.testing.assert_allclose(chunked["probability"], whole["probability"], rtol=0, atol=1e-6)
        if family == "xgb":   # per-row tree scoring: bit-identical whatever the chunk
            pd.testing.assert_frame_equal(chunked, whole)


@pytest.mark.parametrize("family", explainable_families())
def test_contributions_add_up_to_the_models_output(project, family):
    scorer = Scorer.load(project, family)
    X = pd.read_parquet(project / "data/features/test.parquet")[scorer.info["feature_columns"]]
    contrib, bias = contributions(family, scorer.model, X)
    total = contrib.sum(axis=1) + bias
    p = get(family).predict(scorer.model, X)
    expected = p if get(family).contribution_units == "probability" else np.log(p / (1 - p))
    np.testing.assert_allclose(total, expected, rtol=1e-5, atol=1e-5)


def test_explain_adds_the_top_reasons(project, files, as_of, tmp_path, capsys):
    customers, events = files
    run(project, "--customers", customers, "--events", events, "--model", "forest", "--explain", "2",
        "--as-of", as_of, "--out", tmp_path / "r.csv")
    out = read(tmp_path / "r.csv")
    assert [c for c in out.columns if c.startswith("reason_")] == [
        "reason_1", "reason_1_value", "reason_1_effect", "reason_2", "reason_2_value", "reason_2_effect"]
    columns = model_store.read_info(project / "models/tuned/forest")["feature_columns"]
    embedding = [c for c in columns if c.startswith("seq_emb_")]
    assert len(embedding) > 1
    # The embedding's columns are one reason, "sequence embedding", its effect their summed contributions.
    assert set(out["reason_1"]) | set(out["reason_2"]) <= (set(columns) - set(embedding)) | {"sequence embedding"}
    assert (out["reason_1_effect"].abs() >= out["reason_2_effect"].abs()).all()
    model = model_store.load_model("forest", project / "models/tuned/forest")
    X = pd.read_parquet(project / "data/features/test.parquet").set_index("customer_id").loc[out["customer_id"], columns]
    contrib, _ = contributions("forest", model, X)
    summed = contrib[:, [columns.index(c) for c in embedding]].sum(axis=1)
    effects = np.abs(contrib[:, [columns.index(c) for c in columns if c not in embedding]])
    top = np.maximum(np.abs(summed), effects.max(axis=1))
    np.testing.assert_allclose(out["reason_1_effect"].abs().to_numpy(), top, rtol=1e-9)
    is_group = (out["reason_1"] == "sequence embedding").to_numpy()
    np.testing.assert_allclose(out["reason_1_effect"].to_numpy()[is_group], summed[is_group], rtol=1e-9)
    assert out.loc[is_group, "reason_1_value"].isna().all()
    with pytest.raises(SystemExit) as exit_:
        run(project, "--customers", customers, "--model", "lstm", "--explain", "--out", tmp_path / "x.csv")
    assert exit_.value.code == 2 and "--explain" in capsys.readouterr().err


def test_handled_cases_are_noted_and_scored(project, files, tmp_path, caplog):
    customers, events = files
    frame = pd.read_csv(customers, dtype={"customer_id": str})
    frame["plan"] = frame["plan"].where(frame.index % 3 != 0, "platinum")       # a level never seen in training
    frame["notes"] = "free text"                                                 # an extra column
    frame.to_csv(tmp_path / "odd.csv", index=False)
    ev = pd.read_csv(events, dtype={"customer_id": str})
    ev = pd.concat([ev, ev.head(1).assign(customer_id="99999"), ev.head(1).assign(timestamp="2030-01-01")])
    ev.assign(channel="web").to_csv(tmp_path / "odd_events.csv", index=False)
    with caplog.at_level("INFO"):
        run(project, "--customers", tmp_path / "odd.csv", "--events", tmp_path / "odd_events.csv", "--model", "xgb",
            "--as-of", "2025-08-01", "--out", tmp_path / "s.csv")
        text = caplog.text
        run(project, "--customers", customers, "--model", "xgb", "--out", tmp_path / "no_events.csv")   # no event log
    assert "target column 'churn' ignored" in text and "['notes']" in text and "['channel']" in text
    assert "column 'plan'" in text and "platinum" in text
    assert "dropped 1 events" in text and "at/after the cutoff" in text
    assert len(read(tmp_path / "s.csv")) == len(frame)
    assert "no events given" in caplog.text and len(read(tmp_path / "no_events.csv")) == len(frame)


def _bad_cases(tmp_path, customers, events):
    c = pd.read_csv(customers, dtype={"customer_id": str})
    e = pd.read_csv(events, dtype={"customer_id": str})

    def write(name, frame):
        frame.to_csv(tmp_path / name, index=False)
        return tmp_path / name

    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("customer_id,age\n")
    dup = pd.concat([c, c.head(1)])
    text_age = c.assign(age=c["age"].astype(object).where(c.index != c.index[2], "forty"))
    inf_age = c.assign(age=c["age"].where(c.index != c.index[1], np.inf))
    return [  # (customers, events, extra args, words the one-line message must hold)
        (tmp_path / "nope.csv", None, [], ["nope.csv", "not found"]),
        (tmp_path / "empty.csv", None, [], ["empty.csv", "empty"]),
        (tmp_path / "header.csv", None, [], ["header.csv", "no rows"]),
        (write("noid.csv", c.drop(columns="customer_id")), None, [], ["noid.csv", "customer_id", "not found"]),
        (write("noage.csv", c.drop(columns="age")), None, [], ["noage.csv", "'age'", "missing"]),
        (write("dup.csv", dup), None, [], ["dup.csv", "duplicate", "rows"]),
        (write("text.csv", text_age), None, [], ["text.csv", "'age'", "forty", "rows [3]"]),
        (write("inf.csv", inf_age), None, [], ["inf.csv", "'age'", "infinite", "rows [2]"]),
        (customers, write("badts.csv", e.assign(timestamp=e["timestamp"].where(e.index != e.index[4], "soon"))),
         [], ["badts.csv", "'timestamp'", "soon", "rows [5]"]),
        (customers, write("strangers.csv", e.assign(customer_id="X" + e["customer_id"])), [],
         ["strangers.csv", "matches no customer"]),
        (customers, write("notype.csv", e.drop(columns="event_type")), [], ["notype.csv", "event_type", "missing"]),
        (customers, write("noamount.csv", e.drop(columns="amount")), [], ["noamount.csv", "amount", "missing"]),
        (customers, None, ["--threshold", "2"], ["--threshold"]),
        (customers, None, ["--out-suffix", ".txt"], ["--out", ".txt"]),
        (customers, None, ["--as-of", "someday"], ["--as-of", "someday"]),
        (write("dup.csv", dup), None, ["--chunk-size", "4"], ["dup.csv", "duplicate"]),
        (customers, write("strangers2.csv", e.assign(customer_id="X" + e["customer_id"])), ["--chunk-size", "4"],
         ["strangers2.csv", "matches no customer"]),
        (customers, write("badts2.csv", e.assign(timestamp=e["timestamp"].where(e.index != e.index[4], "soon"))),
         ["--chunk-size", "4"], ["badts2.csv", "'timestamp'", "soon"]),
    ]


def test_every_bad_input_is_one_line_and_exit_2_with_nothing_written(project, files, tmp_path, capsys):
    customers, events = files
    for i, (cust, ev, extra, words) in enumerate(_bad_cases(tmp_path, customers, events)):
        suffix = ".csv"
        if extra[:1] == ["--out-suffix"]:
            suffix, extra = extra[1], []
        out = tmp_path / f"out{i}{suffix}"
        args = ["--customers", cust, *(["--events", ev] if ev is not None else []), "--model", "xgb", *extra]
        with pytest.raises(SystemExit) as exit_:
            run(project, *args, "--out", out)
        err = capsys.readouterr().err.strip()
        assert exit_.value.code == 2, (words, err)
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
        for word in words:
            assert word in err, (word, err)
        assert not out.exists()


def test_missing_artifacts_say_what_to_run(tmp_path, files, capsys):
    customers, _ = files
    with pytest.raises(SystemExit) as exit_:
        predict.main(["--root", str(tmp_path), "--customers", str(customers), "--out", str(tmp_path / "s.csv")])
    assert exit_.value.code == 2 and "dvc repro" in capsys.readouterr().err


def test_the_ensemble_scores_calibrated_blends_and_has_no_per_feature_reasons(project, files, tmp_path, capsys):
    info = model_store.read_info(project / "models/tuned/ensemble")
    assert len(info["members"]) >= 1 and sum(info["members"].values()) == pytest.approx(1.0)
    assert info["calibration"]["method"] in ("none", "sigmoid", "isotonic")
    customers, events = files
    with pytest.raises(SystemExit) as stopped:
        run(project, "--customers", customers, "--events", events, "--model", "ensemble", "--explain", "3",
            "--out", tmp_path / "x.csv")
    assert stopped.value.code == 2 and "it blends several models" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
