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


AT = ("--as-of", "training")   # the training run's as-of: an events model needs an explicit reference time


def read(path):
    return pd.read_csv(path, dtype={"customer_id": str}) if str(path).endswith(".csv") else pd.read_parquet(path)


@pytest.mark.parametrize("family", [*FAMILIES, "ensemble"])
def test_scoring_the_test_splits_raw_rows_reproduces_the_saved_predictions(project, files, tmp_path, family):
    customers, events = files
    run(project, "--customers", customers, "--events", events, "--model", family, *AT, "--out", tmp_path / "scores.csv")
    saved = pd.read_csv(project / "reports/predictions.csv", dtype={"customer_id": str})
    scores = read(tmp_path / "scores.csv").set_index("customer_id").loc[saved["customer_id"]]
    assert len(scores) == len(saved) > 0
    np.testing.assert_array_equal(scores["probability"].to_numpy(), saved[family].to_numpy())


def test_output_contract_rank_decile_label_threshold(project, files, tmp_path):
    customers, events = files
    run(project, "--customers", customers, "--events", events, "--model", "xgb", *AT, "--out", tmp_path / "s.parquet")
    out = read(tmp_path / "s.parquet")
    assert list(out.columns) == ["customer_id", "probability", "label", "rank", "decile", "as_of"]
    assert out["customer_id"].tolist() == pd.read_csv(customers, dtype={"customer_id": str})["customer_id"].tolist()
    ordered = out.sort_values("rank")
    assert ordered["rank"].tolist() == list(range(1, len(out) + 1))
    assert ordered["probability"].is_monotonic_decreasing
    assert ordered["decile"].is_monotonic_increasing and ordered["decile"].iloc[0] == 1 and out["decile"].max() == 10
    top = int(np.ceil(len(out) / 10))
    assert (ordered["decile"].iloc[:len(out) // 10] == 1).all() and (ordered["decile"].iloc[top:] > 1).all()
    threshold = model_store.read_info(project / "models/tuned/xgb")["threshold"]
    assert (out["label"] == (out["probability"] >= threshold)).all()
    run(project, "--customers", customers, "--events", events, "--model", "xgb", "--threshold", "0", *AT,
        "--out", tmp_path / "all.csv")
    assert read(tmp_path / "all.csv")["label"].eq(1).all()


def test_best_is_the_family_evaluate_chose(project, files, tmp_path):
    customers, events = files
    run(project, "--customers", customers, "--events", events, *AT, "--out", tmp_path / "best.csv")
    best = json.loads((project / "reports/metrics.json").read_text())["best"]
    run(project, "--customers", customers, "--events", events, "--model", best, *AT, "--out", tmp_path / "named.csv")
    pd.testing.assert_frame_equal(read(tmp_path / "best.csv"), read(tmp_path / "named.csv"))


@pytest.mark.parametrize("family", ["xgb", "lstm"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chunked_scoring_writes_the_same_bytes_as_scoring_at_once(project, files, tmp_path, family, fmt):
    customers, events = files
    if fmt == "parquet":
        for path in files:
            pd.read_csv(path, dtype={"customer_id": str}).to_parquet(tmp_path / f"{path.stem}.parquet", index=False)
        customers, events = tmp_path / "new.parquet", tmp_path / "new_events.parquet"
    for out in ("whole.csv", "whole.parquet"):
        run(project, "--customers", customers, "--events", events, "--model", family, *AT, "--out", tmp_path / out)
    for size in (1, 5, 7):
        for out in (f"chunks{size}.csv", f"chunks{size}.parquet"):
            run(project, "--customers", customers, "--events", events, "--model", family, *AT,
                "--chunk-size", size, "--out", tmp_path / out)
        assert (tmp_path / f"chunks{size}.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes(), size
        assert (tmp_path / f"chunks{size}.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes(), size


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
        run(project, "--customers", customers, "--model", "lstm", "--explain", *AT, "--out", tmp_path / "x.csv")
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
        run(project, "--customers", customers, "--model", "xgb", "--no-events", *AT,
            "--out", tmp_path / "no_events.csv")   # no event log, said so
    assert "target column 'churn' ignored" in text and "['notes']" in text and "['channel']" in text
    assert "column 'plan'" in text and "platinum" in text
    assert "1 of " in text and "events belong to customers not in" in text and "['99999']" in text
    assert "dropped 1 events with implausible times" in text and "2030-01-01" in text   # in the run's future
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
        events = ["--events", ev] if ev is not None else ["--no-events"] * ("--events" not in extra)
        as_of = [] if "--as-of" in extra else list(AT)
        args = ["--customers", cust, *events, "--model", "xgb", *as_of, *extra]
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


def fails(project, capsys, *args):
    """The one-line error of a refused run (exit 2, no traceback, no scores written)."""
    with pytest.raises(SystemExit) as exit_:
        run(project, *args)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_a_customers_score_does_not_depend_on_the_other_rows(project, files, tmp_path, capsys):
    customers, events = files
    frame = pd.read_csv(customers, dtype={"customer_id": str})
    frame.head(1).to_csv(tmp_path / "alone.csv", index=False)
    # Without --as-of the old default was the latest event of the file + 1 s: refused now, with the choices.
    err = fails(project, capsys, "--customers", tmp_path / "alone.csv", "--events", events, "--model", "xgb",
                "--out", tmp_path / "x.csv")
    assert "--as-of" in err and "'now'" in err and "'training'" in err and "data.cutoff" in err
    assert not (tmp_path / "x.csv").exists()
    for name in ("alone", "new"):
        run(project, "--customers", tmp_path / f"{name}.csv" if name == "alone" else customers, "--events", events,
            "--model", "xgb", "--as-of", "2025-06-01", "--out", tmp_path / f"{name}_scores.csv")
    alone, within = read(tmp_path / "alone_scores.csv"), read(tmp_path / "new_scores.csv")
    assert alone["customer_id"].tolist() == frame["customer_id"].head(1).tolist()
    assert alone["probability"].iloc[0] == within["probability"].iloc[0]
    assert alone["as_of"].tolist() == ["2025-06-01T00:00:00"] and set(within["as_of"]) == {"2025-06-01T00:00:00"}


def test_as_of_now_and_training_are_resolved_once_and_recorded(project, files, as_of, tmp_path, caplog):
    customers, events = files
    before = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    with caplog.at_level("INFO"):
        run(project, "--customers", customers, "--events", events, "--model", "xgb", "--as-of", "now",
            "--chunk-size", 5, "--out", tmp_path / "now.csv")
    after = pd.Timestamp.now(tz="UTC").tz_localize(None)
    stamps = read(tmp_path / "now.csv")["as_of"]
    assert stamps.nunique() == 1 and before <= pd.Timestamp(stamps.iloc[0]) <= after   # one time for every chunk
    assert f"as-of {stamps.iloc[0]}" in caplog.text
    assert json.loads((tmp_path / "now.drift.json").read_text())["as_of"] == stamps.iloc[0]
    run(project, "--customers", customers, "--events", events, "--model", "xgb", "--as-of", "training",
        "--out", tmp_path / "training.csv")
    assert set(read(tmp_path / "training.csv")["as_of"]) == {pd.Timestamp(as_of).isoformat()}
    assert json.loads((tmp_path / "training.drift.json").read_text())["as_of"] == pd.Timestamp(as_of).isoformat()


@pytest.mark.parametrize("chunk", ["100000", "3"])
def test_ten_customers_with_the_whole_event_log_are_scored_and_the_rest_ignored(project, files, tmp_path, caplog,
                                                                                 chunk):
    customers, events = files
    pd.read_csv(customers, dtype={"customer_id": str}).head(10).to_csv(tmp_path / "ten.csv", index=False)
    whole_log = project / "data/raw/events.csv"   # 160 customers' events
    run(project, "--customers", customers, "--events", events, "--model", "xgb", *AT, "--out", tmp_path / "own.csv")
    with caplog.at_level("INFO"):
        run(project, "--customers", tmp_path / "ten.csv", "--events", whole_log, "--model", "xgb", *AT,
            "--chunk-size", chunk, "--out", tmp_path / "ten_scores.csv")
    n_other = int((~pd.read_csv(whole_log, dtype={"customer_id": str})["customer_id"].isin(
        read(tmp_path / "ten_scores.csv")["customer_id"])).sum())
    assert f"{n_other} of " in caplog.text and "events belong to customers not in" in caplog.text
    ten = read(tmp_path / "ten_scores.csv").set_index("customer_id")
    own = read(tmp_path / "own.csv").set_index("customer_id").loc[ten.index]
    np.testing.assert_array_equal(ten["probability"].to_numpy(), own["probability"].to_numpy())


@pytest.mark.parametrize("chunk", ["100000", "3"])
def test_ids_that_lost_their_leading_zeros_are_refused(project, files, tmp_path, capsys, chunk):
    customers, events = files
    e = pd.read_csv(events, dtype={"customer_id": str})
    e.assign(customer_id=e["customer_id"].str.lstrip("0")).to_csv(tmp_path / "all_lost.csv", index=False)
    some = e["customer_id"].isin(e["customer_id"].drop_duplicates().head(4))   # 4 of ~32 customers lost theirs
    e.assign(customer_id=e["customer_id"].where(~some, e["customer_id"].str.lstrip("0"))).to_csv(
        tmp_path / "some_lost.csv", index=False)
    for name, words in [("all_lost.csv", ["matches no customer", "leading zeros"]),
                        ("some_lost.csv", ["4 of the", "only when leading zeros or case are ignored"])]:
        err = fails(project, capsys, "--customers", customers, "--events", tmp_path / name, "--model", "xgb", *AT,
                    "--chunk-size", chunk, "--out", tmp_path / "s.csv")
        assert name in err and "new.csv" in err and all(w in err for w in words), err
        assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("chunk", ["100000", "3"])
def test_an_events_model_needs_events_or_no_events_said(project, files, tmp_path, capsys, chunk):
    customers, _ = files
    err = fails(project, capsys, "--customers", customers, "--model", "xgb", *AT, "--out", tmp_path / "s.csv")
    assert "--events" in err and "--no-events" in err
    (tmp_path / "header.csv").write_text("customer_id,timestamp,event_type,amount\n")
    pd.DataFrame({"customer_id": pd.Series([], dtype=str), "timestamp": pd.Series([], dtype=str)}).to_parquet(
        tmp_path / "header.parquet", index=False)
    run(project, "--customers", customers, "--no-events", "--model", "xgb", *AT, "--chunk-size", chunk,
        "--out", tmp_path / "none.csv")
    for header in ("header.csv", "header.parquet"):
        run(project, "--customers", customers, "--events", tmp_path / header, "--model", "xgb", *AT,
            "--chunk-size", chunk, "--out", tmp_path / f"{header}.csv")
        assert (tmp_path / f"{header}.csv").read_bytes() == (tmp_path / "none.csv").read_bytes()


def test_out_in_a_new_folder_is_created_and_removed_again_on_bad_input(project, files, tmp_path, capsys):
    customers, events = files
    run(project, "--customers", customers, "--events", events, "--model", "xgb", *AT,
        "--out", tmp_path / "results/june/scores.csv")
    assert len(read(tmp_path / "results/june/scores.csv")) == len(read(customers))
    fails(project, capsys, "--customers", tmp_path / "nope.csv", "--no-events", "--model", "xgb", *AT,
          "--out", tmp_path / "other/june/scores.csv")
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("chunk", ["100000", "3"])
def test_utf16_files_score_as_utf8_and_a_misnamed_file_is_one_line(project, files, tmp_path, capsys, chunk):
    customers, events = files
    text = customers.read_text()
    (tmp_path / "utf16.csv").write_text(text, encoding="utf-16")        # Excel's "Unicode text"
    (tmp_path / "events16.csv").write_text(events.read_text(), encoding="utf-16")
    (tmp_path / "csv.parquet").write_text(text)
    run(project, "--customers", customers, "--events", events, "--model", "xgb", *AT, "--chunk-size", chunk,
        "--out", tmp_path / "utf8.csv")
    run(project, "--customers", tmp_path / "utf16.csv", "--events", tmp_path / "events16.csv", "--model", "xgb",
        *AT, "--chunk-size", chunk, "--out", tmp_path / "utf16_scores.csv")
    assert (tmp_path / "utf16_scores.csv").read_bytes() == (tmp_path / "utf8.csv").read_bytes()
    err = fails(project, capsys, "--customers", tmp_path / "csv.parquet", "--events", events, "--model", "xgb", *AT,
                "--chunk-size", chunk, "--out", tmp_path / "s.csv")
    assert str(tmp_path / "csv.parquet") in err and "not Parquet" in err, err
