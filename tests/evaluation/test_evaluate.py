"""evaluate stage: metrics.json shape, selection by CV (not test), oracle, plots, predictions, leakage canary."""
import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from pipeline import evaluate
from pipeline.core.errors import InputError
from pipeline.evaluation import leaderboard, metrics
from pipeline.models import forest, logreg, xgb
from pipeline.models import store as model_store
from pipeline.models.family import BuildContext

N_TRAIN, N_BOOT, SEED = 500, 200, 7
COLUMNS = [f"f{i}" for i in range(6)]
MODEL_KEYS = {"roc_auc", "roc_auc_ci", "average_precision", "average_precision_ci", "log_loss", "brier", "f1",
              "precision", "recall", "threshold", "lift_top_decile", "capture_top_decile", "cv_score", "n_trials",
              "n_pruned", "n_failed", "fit_seconds", "predict_seconds"}
# CV scores are set so the weak model (logreg on shuffled labels) wins by CV while xgb wins on test.
CV = {"logreg": 0.95, "forest": 0.85, "xgb": 0.80}
THRESHOLDS = {"logreg": 0.4, "forest": 0.35, "xgb": 0.3}


def strict_json(path):
    return json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{path} holds {c}"))


@pytest.fixture(scope="module")
def fitted():
    """Train/test frames and three tiny fitted models (fitted once for the whole module)."""
    X, y = make_classification(n_samples=800, n_features=6, n_informative=4, weights=[0.75], random_state=1)
    frame = pd.DataFrame(X, columns=COLUMNS)
    frame.insert(0, "customer_id", [f"{i:05d}" for i in range(len(frame))])
    frame.insert(1, "target", y.astype(np.int8))
    train, test = frame[:N_TRAIN], frame[N_TRAIN:].reset_index(drop=True)
    shuffled = np.random.default_rng(0).permutation(train["target"])
    models = {"logreg": logreg.build({"C": 1.0}, BuildContext(0)).fit(train[COLUMNS], shuffled),
              "forest": forest.build({"n_estimators": 10, "max_depth": 3}, BuildContext(0)).set_params(n_jobs=1)
              .fit(train[COLUMNS], train["target"]),
              "xgb": xgb.build({"n_estimators": 20, "max_depth": 3, "scale_pos_weight": 1.0}, BuildContext(0))
              .set_params(early_stopping_rounds=None)
              .set_params(n_jobs=1).fit(train[COLUMNS], train["target"])}
    return test, models


def info(family):
    return {"family": family, "params": {}, "metric": "roc_auc", "cv_score": CV[family],
            "threshold": THRESHOLDS[family],
            "n_trials": 5, "n_complete": 4, "n_pruned": 1, "n_failed": 0, "fit_seconds": 1.5, "best_trial": 2,
            "feature_columns": COLUMNS, "input": "matrix", "static_columns": []}


def make_layout(root, fitted, truth=False):
    test, models = fitted
    (root / "features").mkdir(parents=True)
    test.to_parquet(root / "features" / "test.parquet", index=False)
    manifest = {"features": [{"name": c, "kind": "numeric", "source": "static"} for c in COLUMNS],
                "has_events": False, "sequence": None}
    (root / "features" / "manifest.json").write_text(json.dumps(manifest))
    for family, model in models.items():
        model_store.save_model(family, model, root / "models" / family, info=info(family))
    model_store.save_skipped("lstm", root / "models" / "lstm", "no events table")
    (root / "prepared").mkdir()
    if truth:   # a made-up "true probability": a noisy copy of the label, so the oracle is strong
        p = np.clip(0.8 * test["target"] + np.random.default_rng(1).uniform(0, 0.2, len(test)), 0, 1)
        pd.DataFrame({"customer_id": test["customer_id"][::-1], "true_probability": p[::-1]}).to_parquet(
            root / "prepared" / "truth.parquet", index=False)
    (root / "params.yaml").write_text(f"seed: {SEED}\nevaluate:\n  n_boot: {N_BOOT}\n")
    return root


def run(root):
    evaluate.main(["--params", str(root / "params.yaml"), "--features", str(root / "features"),
                   "--models", str(root / "models"), "--prepared", str(root / "prepared"),
                   "--metrics", str(root / "reports" / "metrics.json"), "--plots", str(root / "reports" / "plots"),
                   "--predictions", str(root / "reports" / "predictions.csv"),
                   "--summary", str(root / "reports" / "summary")])
    return strict_json(root / "reports" / "metrics.json")


@pytest.fixture(scope="module")
def done(tmp_path_factory, fitted):
    root = make_layout(tmp_path_factory.mktemp("eval"), fitted, truth=True)
    return root, run(root)


def test_one_log_line_per_family_and_a_summary(fitted, tmp_path, caplog):
    caplog.set_level("INFO", logger="pipeline")
    run(make_layout(tmp_path, fitted))
    lines = [r.getMessage() for r in caplog.records if r.name in ("pipeline.evaluate", "pipeline.evaluation.leaderboard")]
    assert sum(line.startswith(tuple(f"evaluate: {f} test" for f in CV)) for line in lines) == 3
    assert any("3 models on 300 test customers" in line and "best by CV roc_auc: logreg; logreg is" in line
               for line in lines)


def test_metrics_json_shape(done):
    _, m = done
    assert set(m) >= {"best", "metric", "models", "skipped", "oracle", "comparison", "n_test", "positives_test"}
    assert m["metric"] == "roc_auc" and m["n_test"] == 300 and 0 < m["positives_test"] < 300
    assert sorted(m["models"]) == ["forest", "logreg", "xgb"] and m["skipped"] == {"lstm": "no events table"}
    for family, row in m["models"].items():
        assert MODEL_KEYS <= set(row), MODEL_KEYS - set(row)
        assert row["threshold"] == THRESHOLDS[family] and row["cv_score"] == CV[family]
        assert len(row["roc_auc_ci"]) == 2 and row["roc_auc_ci"][0] <= row["roc_auc"] <= row["roc_auc_ci"][1]
    assert set(m["comparison"]) >= {"best", "runner_up", "metric", "diff", "ci", "p_value", "verdict"}


def test_summary_is_one_flat_file_per_family_plus_the_oracle(done):
    """reports/summary/ (DVC's metrics): the CV rank and four numbers per family, copied from metrics.json."""
    root, m = done
    files = {p.stem: strict_json(p) for p in (root / "reports" / "summary").glob("*.json")}
    assert set(files) == {*m["ranking"], "oracle"}
    for rank, family in enumerate(m["ranking"], start=1):
        assert files[family] == {"rank": rank, **{k: m["models"][family][k]
                                                  for k in ("roc_auc", "average_precision", "cv_score", "brier")}}
    assert files["oracle"] == {k: m["oracle"][k] for k in ("roc_auc", "average_precision", "brier")}
    assert all(not isinstance(v, (dict, list)) for row in files.values() for v in row.values())


def test_best_follows_cv_even_when_another_model_wins_on_test(done):
    _, m = done
    assert m["best"] == "logreg" and m["ranking"] == ["logreg", "forest", "xgb"]
    assert m["models"]["xgb"]["roc_auc"] > m["models"]["logreg"]["roc_auc"] + 0.2
    c = m["comparison"]
    assert (c["best"], c["runner_up"]) == ("logreg", "forest") and c["diff"] < 0
    assert c["verdict"].startswith("logreg is significantly worse than forest on test ROC-AUC (-")


def test_plots_and_predictions(done):
    root, m = done
    plots = root / "reports" / "plots"
    expected = {"roc": ["fpr", "tpr"], "pr": ["recall", "precision"], "gains": ["share_targeted", "share_captured"],
                "calibration": ["mean_predicted", "observed", "count"]}
    for stem, columns in expected.items():
        table = pd.read_csv(plots / f"{stem}.csv")
        assert list(table.columns) == ["model", *columns]
        with_oracle = {"oracle"} if stem in ("roc", "pr") else set()
        assert set(table["model"]) == {"logreg", "forest", "xgb"} | with_oracle
    confusion = strict_json(plots / "confusion.json")
    assert confusion["model"] == "logreg" and confusion["threshold"] == THRESHOLDS["logreg"]
    assert sum(confusion[k] for k in ("tp", "fp", "fn", "tn")) == m["n_test"]
    cells = pd.read_csv(plots / "confusion.csv")   # every family, long format, for `dvc plots`
    assert list(cells.columns) == ["model", "threshold", "actual", "predicted", "count"]
    assert (cells.groupby("model")["count"].sum() == m["n_test"]).all() and set(cells["model"]) == set(m["models"])
    logreg = cells[cells["model"] == "logreg"].set_index(["actual", "predicted"])["count"]
    cell_of = {"tp": (1, 1), "fp": (0, 1), "fn": (1, 0), "tn": (0, 0)}
    assert all(logreg[cell] == confusion[key] for key, cell in cell_of.items())
    pred = pd.read_csv(root / "reports" / "predictions.csv", dtype={"customer_id": str})
    assert list(pred.columns) == ["customer_id", "target", "logreg", "forest", "xgb"]
    assert len(pred) == m["n_test"] and pred["customer_id"].is_unique and pred["customer_id"].iloc[0] == "00500"


def test_numbers_equal_metrics_recomputed_from_predictions(done):
    root, m = done
    pred = pd.read_csv(root / "reports" / "predictions.csv", dtype={"customer_id": str})
    for family, row in m["models"].items():
        again = metrics.evaluate(pred["target"], pred[family], threshold=THRESHOLDS[family], n_boot=N_BOOT, seed=SEED)
        for key, value in again.items():
            if key not in ("n", "positives"):
                assert row[key] == value, (family, key)


def test_oracle_only_with_truth(done, fitted, tmp_path):
    _, m = done
    assert m["oracle"]["roc_auc"] > 0.95 and len(m["oracle"]["average_precision_ci"]) == 2
    root = make_layout(tmp_path, fitted, truth=False)
    plain = run(root)
    assert "oracle" not in plain
    assert "oracle" not in set(pd.read_csv(root / "reports" / "plots" / "roc.csv")["model"])
    assert plain["models"] == {f: {**r, "predict_seconds": plain["models"][f]["predict_seconds"]}
                               for f, r in m["models"].items()}


def tree_digest(directory):
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_leakage_canary_shuffled_test_labels(done, tmp_path):
    """Shuffling TEST labels moves test metrics, but not the choice of model, thresholds or models/."""
    root, m = done
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("reports"))
    before = tree_digest(copy / "models")
    test = pd.read_parquet(copy / "features" / "test.parquet")
    test["target"] = np.random.default_rng(3).permutation(test["target"].to_numpy())
    test.to_parquet(copy / "features" / "test.parquet", index=False)
    shuffled = run(copy)
    assert tree_digest(copy / "models") == before                    # evaluate never writes to models/
    assert shuffled["best"] == m["best"] and shuffled["ranking"] == m["ranking"]
    for family in m["models"]:
        assert shuffled["models"][family]["threshold"] == m["models"][family]["threshold"]
        assert shuffled["models"][family]["cv_score"] == m["models"][family]["cv_score"]
    assert shuffled["models"]["xgb"]["roc_auc"] < m["models"]["xgb"]["roc_auc"] - 0.2


def test_errors(fitted):
    test, models = fitted
    infos = {f: info(f) for f in models}
    with pytest.raises(InputError, match="share one CV metric"):
        leaderboard.evaluate_models(test, None, {**infos, "xgb": {**infos["xgb"], "metric": "log_loss"}}, models)
    with pytest.raises(InputError, match="no tuned model"):
        leaderboard.evaluate_models(test, None, {"lstm": {"family": "lstm", "skipped": "x"}}, {})
    with pytest.raises(InputError, match="only class"):
        leaderboard.evaluate_models(test[test["target"] == 0], None, infos, models)
    with pytest.raises(InputError, match="lacks"):   # the saved model's columns are not in the matrix
        leaderboard.evaluate_models(test.drop(columns="f3"), None, infos, models)



def test_cli_without_tuned_models_exits_2(fitted, tmp_path, capsys):
    root = make_layout(tmp_path, fitted)
    shutil.rmtree(root / "models")
    (root / "models").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        run(root)
    assert exit_info.value.code == 2 and "run the tune stage first" in capsys.readouterr().err
    assert not (root / "reports").exists()


def test_log_loss_selection_prefers_the_lower_cv_score(fitted):
    test, models = fitted
    infos = {f: {**info(f), "metric": "log_loss"} for f in models}   # lower is better: xgb (0.80) wins
    result = leaderboard.evaluate_models(test, None, infos, models, n_boot=50)
    assert result.metrics["best"] == "xgb" and result.metrics["comparison"]["runner_up"] == "forest"
    assert "oracle" not in result.metrics and result.oracle is None


def test_sequence_model_is_scored_from_the_sequence_file(fitted, tmp_path):
    """lstm with input "sequence": the stage loads sequences_test.npz and joins the static columns."""
    seq_mod = pytest.importorskip("pipeline.models.sequence.classifier")
    from pipeline.events.sequences import SequenceBatch, save_sequences
    test, _ = fitted
    rng = np.random.default_rng(0)
    n, steps = len(test), 4
    lengths = rng.integers(0, steps + 1, n).astype(np.int32)
    mask = np.arange(steps)[None, :] < lengths[:, None]
    batch = SequenceBatch(types=np.where(mask, rng.integers(1, 4, (n, steps)), 0).astype(np.int32),
                          values=(rng.normal(size=(n, steps, 1)) * mask[..., None]).astype(np.float32),
                          lengths=lengths, customer_ids=test["customer_id"].to_numpy(object), channels=["v"])
    static = ["f0", "f1"]
    data = batch.with_static(test[static].to_numpy(np.float32, copy=True))
    lstm = seq_mod.SequenceClassifier(hidden_size=8, embedding_dim=4, mlp_hidden=8, max_epochs=1, device="cpu",
                                      num_threads=1).fit(data, test["target"].to_numpy())
    root = make_layout(tmp_path, fitted)
    manifest = strict_json(root / "features" / "manifest.json")
    (root / "features" / "manifest.json").write_text(json.dumps({**manifest, "has_events": True}))
    save_sequences(batch, root / "features" / "sequences_test.npz")
    model_store.save_model("lstm", lstm, root / "models" / "lstm",
                           info={**info("xgb"), "family": "lstm", "cv_score": 0.9, "input": "sequence",
                                 "static_columns": static})
    m = run(root)
    assert m["skipped"] == {} and m["ranking"] == ["logreg", "lstm", "forest", "xgb"]
    pred = pd.read_csv(root / "reports" / "predictions.csv")
    np.testing.assert_allclose(pred["lstm"], lstm.predict_proba(data)[:, 1], rtol=1e-12)
