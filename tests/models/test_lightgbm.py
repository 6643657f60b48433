"""The LightGBM family: learns, is deterministic, early-stops on rows carved from the training rows (never
resampled), follows the CV objective, prunes per boosting round, saves as its text model, explains exactly."""
from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score

from pipeline.models import boosting, lgbm, store
from pipeline.models.family import BuildContext, FitData, FitHooks

GOOD = {"num_leaves": 8, "learning_rate": 0.1, "min_child_samples": 10, "subsample": 0.8, "colsample_bytree": 0.8}
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=900, n_features=8, n_informative=5, weights=[0.8], random_state=2)
    # one-hot style names with the JSON-like characters LightGBM refuses in feature names
    X = pd.DataFrame(X, columns=[f"plan={c}" for c in ('a,b', 'c:d', '{e}', '"f"', 'g', 'h', 'i', 'j')])
    return X[:700], y[:700], X[700:].reset_index(drop=True), y[700:]


def fit(params, X, y, hooks=None, sampler=None, seed=0):
    model = lgbm.build(params, BuildContext(seed=seed)).set_params(n_jobs=1)
    return lgbm.fit(model, FitData(X, y, sampler, seed), hooks or FitHooks())


def test_learns_early_stops_and_is_deterministic(data):
    X, y, X_test, y_test = data
    first, second = fit(GOOD, X, y), fit(GOOD, X, y)
    p = lgbm.predict(first, X_test)
    assert roc_auc_score(y_test, p) > 0.85
    np.testing.assert_array_equal(p, lgbm.predict(second, X_test))
    assert 0 < first.best_iteration_ < boosting.N_ESTIMATORS_MAX
    assert not np.array_equal(p, lgbm.predict(fit(GOOD, X, y, seed=1), X_test))


def test_early_stopping_rows_come_from_training_rows_and_get_no_synthetic_rows(data):
    """A spy sampler sees exactly the fit part of the carve: the early-stopping rows are never resampled."""
    X, y, _, _ = data
    seen = []

    class Spy:
        def fit_resample(self, X_, y_):
            seen.append(set(X_.index))
            return X_, y_

    fit(GOOD, X, y, sampler=Spy())
    X_fit, _, X_es, y_es = boosting.carve_and_resample(X, y, None, seed=0)
    assert seen == [set(X_fit.index)] and not seen[0] & set(X_es.index)
    assert abs(np.mean(y_es) - np.mean(y)) < 0.02   # stratified


@pytest.mark.parametrize("metric, lightgbm_metric", [("roc_auc", "auc"), ("average_precision", "average_precision"),
                                                      ("log_loss", "binary_logloss")])
def test_early_stopping_follows_the_cv_objective(data, metric, lightgbm_metric):
    X, y, _, _ = data
    model = fit(GOOD, X, y, FitHooks(metric=metric))
    assert model.get_params()["metric"] == lightgbm_metric
    assert list(model.best_score_["valid_0"]) == [lightgbm_metric]


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


def test_pruning_reports_boosting_rounds_to_the_trial(data):
    X, y, _, _ = data
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    trial = study.ask()
    model = lgbm.build(GOOD, BuildContext(seed=0)).set_params(n_jobs=1)
    with pytest.raises(optuna.TrialPruned, match="boosting round 5"):
        lgbm.fit(model, FitData(X, y, None, 0), FitHooks(trial=trial, step_offset=3000), report_every=5)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    assert study.trials[0].intermediate_values.keys() == {3004}   # first report at round 5, offset by fold


def test_text_model_round_trip_and_exact_contributions(data, tmp_path):
    X, y, X_test, _ = data
    model = fit(GOOD, X, y)
    store.save_model("lightgbm", model, tmp_path / "m", info={"family": "lightgbm", "feature_columns": list(X.columns)})
    assert (tmp_path / "m" / "model.txt").read_text().startswith("tree")   # LightGBM's own text format
    loaded = store.load_model("lightgbm", tmp_path / "m")
    np.testing.assert_array_equal(lgbm.predict(loaded, X_test), lgbm.predict(model, X_test))
    shuffled = X_test[X_test.columns[::-1]]   # columns by name (info.json), not by position
    np.testing.assert_array_equal(
        store.predict_proba("lightgbm", loaded, shuffled, feature_columns=list(X.columns)), lgbm.predict(model, X_test))
    contrib, bias = lgbm.contributions(loaded, X_test)
    np.testing.assert_allclose(contrib.sum(axis=1) + bias, logit(lgbm.predict(loaded, X_test)), atol=1e-9)
