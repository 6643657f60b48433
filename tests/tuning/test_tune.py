"""pipeline.tune on tiny data: studies, resume, failures, subsets, skips, and the leakage canaries."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from conftest import run_stages

from pipeline import tune
from pipeline.models.registry import FAMILIES
from pipeline.tuning import cv, runner
from pipeline.tuning.train_data import load_train

FAST = ["--trials", "2", "--folds", "3", "--no-resume", "--no-race"]


def params_file(root: Path, **tune_section: object) -> Path:
    params = {"seed": 11, "data": {"synthetic": {"n_customers": 360, "events_per_customer": 10}},
              "tune": {"lstm_max_epochs": 2, "pruner": "none", **tune_section}}
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tune")
    run_stages(root, params_file(root), ["prepare", "impute", "outliers", "features"])
    return root


def run_tune(root: Path, *extra: str, params: Path | None = None) -> dict:
    out = root / "out"
    tune.main(["--params", str(params or root / "params.yaml"), "--features", str(root / "data/features"),
               "--out", str(out / "tuned"), "--report", str(out / "tune.json"),
               "--storage", f"sqlite:///{root / 'studies.db'}", *extra])
    return json.loads((out / "tune.json").read_text())


def test_every_family_tunes_and_saves_a_model(features):
    report = run_tune(features, *FAST)
    assert set(report["families"]) == set(FAMILIES)   # tune.models null: every registered family
    for family, row in report["families"].items():
        assert 0.5 < row["cv_score"] <= 1 and row["n_complete"] == 2, family
        assert len(row["cv_fold_scores"]) == 3 and 0 < row["threshold"] < 1
        info = json.loads((features / "out" / "tuned" / family / "info.json").read_text())
        assert info["params"] == row["params"] and info["feature_columns"]


def test_same_seed_same_results(features):
    first = run_tune(features, *FAST, "--models", "logreg,xgb")
    again = run_tune(features, *FAST, "--models", "logreg,xgb")
    for family in ("logreg", "xgb"):
        for key in ("params", "cv_score", "cv_fold_scores", "threshold"):
            assert first["families"][family][key] == again["families"][family][key], (family, key)


def test_models_subset_and_resume_continues_the_study(features):
    run_tune(features, "--models", "logreg", "--trials", "2", "--folds", "3", "--study-name", "resume", "--no-resume")
    report = run_tune(features, "--models", "logreg", "--trials", "4", "--folds", "3", "--study-name", "resume")
    assert set(report["families"]) == {"logreg"}
    numbers = [t["number"] for t in report["families"]["logreg"]["history"]]
    assert numbers == [0, 1, 2, 3]   # two more trials, not four new ones


def test_a_rerun_on_the_same_sqlite_study_still_writes_its_models(features, monkeypatch):
    """dvc repro after a tune-code change reruns tune on unchanged features, so the default study (named by
    the data's fingerprint) resumes with the same trial target: the earlier run's final-fit claim must not
    stop this run from writing the models evaluate reads (it did: "final fit done by worker <an old pid>")."""
    args = ("--models", "logreg", "--trials", "5000", "--folds", "3", "--study-name", "rerun", "--timeout", "12")
    run_tune(features, *args, "--no-resume")
    monkeypatch.setattr(runner, "worker_id", lambda: "vm:another-process")   # a later `dvc repro` is a new process
    report = run_tune(features, *args)
    assert report["final_fit"] == "done here"
    info = json.loads((features / "out/tuned/logreg/info.json").read_text())
    assert "skipped" not in info


def test_a_failing_trial_is_recorded_and_the_study_goes_on(features, monkeypatch):
    real = cv.fit_family
    calls = {"n": 0}

    def flaky(family, params, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected failure")
        return real(family, params, *args, **kwargs)

    monkeypatch.setattr(cv, "fit_family", flaky)
    report = run_tune(features, "--models", "logreg", "--trials", "3", "--folds", "3", "--no-resume")
    row = report["families"]["logreg"]
    assert row["n_failed"] == 1 and row["n_complete"] == 2
    assert row["history"][0]["fail_reason"] == "RuntimeError: injected failure"


def test_all_trials_failing_gives_one_clear_error(features, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ValueError("solver exploded")

    monkeypatch.setattr(cv, "fit_family", broken)
    with pytest.raises(SystemExit) as info:
        run_tune(features, "--models", "forest", *FAST)
    err = capsys.readouterr().err
    assert info.value.code == 1 and "every trial" in err and "ValueError: solver exploded" in err


def test_resampling_never_sees_validation_rows(features, monkeypatch):
    """A spy sampler records the rows it is given: never a row of the fold being validated."""
    data = load_train(features / "data" / "features")
    folds = cv.make_folds(data.y, 3, seed=11)
    seen: list[np.ndarray] = []
    real = cv.make_sampler

    def spy(*args, **kwargs):
        sampler = real(*args, **kwargs)
        original = sampler.fit_resample

        def recording(X, y, **kw):
            seen.append(np.asarray(X.index))
            return original(X, y, **kw)

        sampler.fit_resample = recording
        return sampler

    monkeypatch.setattr(cv, "make_sampler", spy)
    for family in ("logreg", "xgb"):
        seen.clear()
        cv.cross_validate(family, {}, data, folds, metric="roc_auc", seed=11,
                          resample=tune.load_params(features / "params.yaml").resample, device="cpu", max_epochs=1)
        assert len(seen) == len(folds)
        for rows, (fit_rows, val_rows) in zip(seen, folds):
            assert set(rows) <= set(fit_rows) and not set(rows) & set(val_rows)


def test_noise_labels_give_chance_level_cv(features, tmp_path):
    """Canary: with training labels replaced by noise, no family finds signal (a leak would)."""
    root = tmp_path / "noise"
    shutil.copytree(features / "data", root / "data")
    shutil.copy(features / "params.yaml", root / "params.yaml")
    for name in ("train.parquet",):
        path = root / "data" / "features" / name
        table = pd.read_parquet(path)
        table["target"] = np.random.default_rng(0).permutation(table["target"].to_numpy())
        table.to_parquet(path, index=False)
    report = run_tune(root, "--trials", "3", "--folds", "3", "--no-resume")
    for family, row in report["families"].items():
        assert abs(row["cv_score"] - 0.5) < 0.12, (family, row["cv_score"])


def test_test_labels_cannot_change_tuning(features, tmp_path):
    """Canary: tune never reads the test split; shuffling its labels changes nothing."""
    base = run_tune(features, *FAST, "--models", "logreg")
    root = tmp_path / "shuffled"
    shutil.copytree(features / "data", root / "data")
    shutil.copy(features / "params.yaml", root / "params.yaml")
    path = root / "data" / "features" / "test.parquet"
    table = pd.read_parquet(path)
    table["target"] = 1 - table["target"]
    table.to_parquet(path, index=False)
    shuffled = run_tune(root, *FAST, "--models", "logreg")
    for key in ("params", "cv_score", "threshold"):
        assert base["families"]["logreg"][key] == shuffled["families"]["logreg"][key]


def test_lstm_is_skipped_with_a_reason_without_events(tmp_path):
    from pipeline.core.params import SyntheticParams
    from pipeline.data.simulator import simulate

    sim = simulate(SyntheticParams(n_customers=200), seed=2)
    sim.customers.to_csv(tmp_path / "customers.csv", index=False)
    params = params_file(tmp_path)
    raw = yaml.safe_load(params.read_text())
    raw["data"].update({"source": "files", "customers": str(tmp_path / "customers.csv")})
    params.write_text(yaml.safe_dump(raw))
    run_stages(tmp_path, params, ["prepare", "impute", "outliers", "features"])
    report = run_tune(tmp_path, *FAST, "--models", "logreg,lstm")
    assert "event log" in report["families"]["lstm"]["skipped"]
    assert json.loads((tmp_path / "out/tuned/lstm/info.json").read_text())["skipped"]


def test_cli_flags_override_params_and_bad_values_fail_clearly(features, capsys):
    with pytest.raises(SystemExit) as info:
        run_tune(features, "--models", "logreg,svm")
    assert info.value.code == 2 and "unknown model family ['svm']" in capsys.readouterr().err


def test_logreg_and_forest_report_each_fold_and_can_be_pruned(features):
    """Families without a learning curve report the running CV mean per fold, so bad trials stop early."""
    data = load_train(features / "data" / "features")
    folds = cv.make_folds(data.y, 3, seed=11)
    resample = tune.load_params(features / "params.yaml").resample
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for family in ("logreg", "forest"):
        study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
        trial = study.ask()
        with pytest.raises(optuna.TrialPruned, match="after fold 0"):
            cv.cross_validate(family, {}, data, folds, metric="roc_auc", trial=trial, seed=11,
                              resample=resample, device="cpu", max_epochs=1)
        assert list(trial.storage.get_trial(trial._trial_id).intermediate_values) == [0]


def test_timeout_is_a_hard_budget_that_still_leaves_fitted_models(features):
    """With many trials asked for and a short budget, tune stops on time and every family still has
    its final model (the budget covers the refits). The bound is loose: behaviour, not speed."""
    import time as clock

    started = clock.monotonic()
    report = run_tune(features, "--trials", "500", "--folds", "3", "--timeout", "12", "--no-resume",
                      "--models", "logreg,lstm")
    assert clock.monotonic() - started < 12 + 25   # imports, study set-up and one in-flight step at most
    for family in ("logreg", "lstm"):
        row = report["families"][family]
        assert row["n_trials"] < 500 and row["n_complete"] >= 1
        assert (features / "out" / "tuned" / family / "info.json").exists()


def test_a_family_with_no_finished_trial_in_the_budget_is_skipped_with_its_reason(features, monkeypatch):
    """On a busy machine the sequence model may finish no trial in its share of --timeout: the run keeps
    the other families and records why; with no budget the same study is an error, not a silent skip."""
    from pipeline.tuning import objective

    real_call = objective.Objective.__call__

    def lstm_never_finishes(self, trial):
        if self.family == "lstm":
            raise optuna.TrialPruned()   # what the deadline does to an epoch loop that runs out of time
        return real_call(self, trial)

    monkeypatch.setattr(objective.Objective, "__call__", lstm_never_finishes)
    report = run_tune(features, "--trials", "2", "--folds", "3", "--timeout", "600", "--no-resume",
                      "--models", "logreg,lstm")
    assert report["families"]["logreg"]["n_complete"] == 2
    lstm = report["families"]["lstm"]
    assert "tune.timeout" in lstm["skipped"] and lstm["n_pruned"] == 2
    info = json.loads((features / "out" / "tuned" / "lstm" / "info.json").read_text())
    assert info == {"family": "lstm", "skipped": lstm["skipped"]}
    assert [f.name for f in (features / "out" / "tuned" / "lstm").iterdir()] == ["info.json"]

    with pytest.raises(SystemExit) as stopped:
        run_tune(features, "--trials", "2", "--folds", "3", "--timeout", "0", "--no-resume", "--models", "lstm")
    assert stopped.value.code == 1


def test_without_a_pretrained_encoder_the_sequence_model_tunes_from_scratch_only(features, tmp_path):
    """features.embedding.dim 0 leaves no encoder.npz: `frozen` and `finetune` would fail every trial
    that drew them, so the space keeps `scratch` and every trial completes."""
    root = tmp_path / "noenc"
    shutil.copytree(features / "data", root / "data")
    shutil.copy(features / "params.yaml", root / "params.yaml")
    encoder = root / "data" / "features" / "encoder.npz"
    assert encoder.exists()   # the fixture's features pre-trained one: removing it is the point
    encoder.unlink()
    report = run_tune(root, "--trials", "5", "--folds", "3", "--no-resume", "--no-race", "--models", "lstm")
    row = report["families"]["lstm"]
    assert row["n_complete"] == 5 and row["n_failed"] == 0
    study = optuna.load_study(study_name=row["study_name"], storage=f"sqlite:///{root / 'studies.db'}")
    assert {t.params["encoder"] for t in study.trials} == {"scratch"}


def test_within_encoder_drops_only_the_starts_that_need_an_encoder():
    from pipeline.tuning.encoder_start import within_encoder

    space = {"encoder": {"choices": ["scratch", "frozen", "finetune"]}, "lr": {"low": 1e-4, "high": 1e-2}}
    assert within_encoder("lstm", space, has_encoder=True) == space
    assert within_encoder("lstm", space, has_encoder=False) == {**space, "encoder": {"choices": ["scratch"]}}
    assert within_encoder("logreg", {"C": {"low": 0.1, "high": 1}}, has_encoder=False) == {"C": {"low": 0.1, "high": 1}}
