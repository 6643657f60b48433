"""Tabular model families (logreg, forest, xgb) and the YAML search spaces they draw from."""
import warnings

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import REPO
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from pipeline.core.errors import InputError
from pipeline.models import boosting, forest, logreg, space, xgb
from pipeline.models.family import BuildContext, FitData, FitHooks
from pipeline.tuning import imbalance

CONFIGS = REPO / "configs"
FAMILIES = {"logreg": logreg.FAMILY, "forest": forest.FAMILY, "xgb": xgb.FAMILY}
GOOD = {  # sensible fixed parameters, for the "it actually learns" checks
    "logreg": {"penalty": "l2", "C": 1.0, "class_weight": None},
    "forest": {"n_estimators": 100, "max_depth": 8, "min_samples_leaf": 2, "max_features": "sqrt",
               "class_weight": "balanced"},
    "xgb": {"max_depth": 3, "learning_rate": 0.1, "subsample": 0.8, "colsample_bytree": 0.8,
            "min_child_weight": 1.0, "gamma": 0.0, "reg_alpha": 0.0, "reg_lambda": 1.0, "scale_pos_weight": 1},
}
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def data():
    """Scaled features (as the features stage delivers them), 20 % positives, train/test halves."""
    X, y = make_classification(n_samples=800, n_features=12, n_informative=6, weights=[0.8], random_state=0)
    X = pd.DataFrame(StandardScaler().fit_transform(X), columns=[f"f{i}" for i in range(12)])
    return X[:600], y[:600], X[600:], y[600:]


def one_thread(model):
    """Tiny data: OpenMP thread start-up and spinning dominate (badly on a busy CI box), so use one.
    XGBoost hist gives bit-identical models for any thread count, so nothing is lost."""
    return model.set_params(n_jobs=1)


def fit_proba(family: str, params: dict, data, seed: int = 0) -> np.ndarray:
    """Build, fit and predict through the family's declared traits, as tuning does."""
    X, y, X_test, _ = data
    fam = FAMILIES[family]
    params, _ = imbalance.plan(fam, params)   # the tuned imbalance choice becomes class weights (or none)
    model = fam.build(params, BuildContext(seed=seed))
    if family == "xgb":
        one_thread(model)
    return fam.predict(fam.fit(model, FitData(X, y, None, seed), FitHooks()), X_test)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_shipped_space_drives_a_real_study(family, data):
    """Two TPE trials from configs/<family>.yaml: build accepts the params, fit gives probabilities."""
    fam = FAMILIES[family]
    spec = space.load_space(family, CONFIGS, allowed=fam.space_params)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    for _ in range(2):
        trial = study.ask()
        params = fam.suggest(trial, spec)
        proba = fit_proba(family, params, data)
        assert proba.shape == (200,) and np.all((proba >= 0) & (proba <= 1))
        study.tell(trial, roc_auc_score(data[3], proba))
    assert len(study.trials) == 2


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_learns_and_is_deterministic(family, data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no deprecation / convergence warnings from our calls
        first, second = fit_proba(family, GOOD[family], data), fit_proba(family, GOOD[family], data)
    assert roc_auc_score(data[3], first) > 0.8
    np.testing.assert_array_equal(first, second)


def test_forest_threaded_prediction_equals_serial_bit_for_bit(data):
    X, y, X_test, _ = data
    model = forest.build(GOOD["forest"], BuildContext(seed=0)).fit(X, y)
    big = pd.concat([X_test] * 25, ignore_index=True)          # 5000 rows: predicted in row chunks
    threaded = model.predict_proba(big)
    serial = clone(model).set_params(n_jobs=1).fit(X, y).predict_proba(big)
    np.testing.assert_array_equal(threaded, serial)
    assert isinstance(clone(model), forest.DeterministicRandomForest)


@pytest.mark.parametrize("penalty, l1_ratio", [("l2", 0.0), ("l1", 1.0), ("elasticnet", 0.3)])
def test_logreg_penalties_map_to_l1_ratio(penalty, l1_ratio, data):
    spec = {"penalty": {"choices": ["l2", "l1", "elasticnet"]}, "C": {"low": 0.001, "high": 100.0, "log": True},
            "l1_ratio": {"low": 0.05, "high": 0.95}, "class_weight": {"choices": [None, "balanced"]}}
    trial = optuna.trial.FixedTrial({"penalty": penalty, "C": 0.05, "l1_ratio": 0.3, "class_weight": "balanced"})
    params = logreg.FAMILY.suggest(trial, spec)
    assert ("l1_ratio" in params) == (penalty == "elasticnet")   # conditional parameter
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = logreg.build(params, BuildContext(seed=0)).fit(data[0], data[1])
    assert model.l1_ratio == l1_ratio and model.solver == ("newton-cholesky" if penalty == "l2" else "saga")
    assert roc_auc_score(data[3], model.predict_proba(data[2])[:, 1]) > 0.8
    if penalty == "l1":
        assert (model.coef_ == 0).any()   # l1 really selects at this C


def test_xgb_early_stops_on_rows_carved_from_training(data):
    X, y, _, _ = data
    X_fit, y_fit, X_es, y_es = boosting.carve_and_resample(X, y, None, seed=0)
    assert len(set(X_fit.index) & set(X_es.index)) == 0 and abs(y_es.mean() - y.mean()) < 0.02
    params = {**GOOD["xgb"], "learning_rate": 0.3}
    model = xgb.fit(one_thread(xgb.build(params, BuildContext(seed=0))), FitData(X, y, None, 0), FitHooks())
    best = model.best_iteration
    assert best < boosting.N_ESTIMATORS_MAX - 1 and model.get_params()["callbacks"] is None
    refit = one_thread(xgb.build({**params, "n_estimators": best + 1}, BuildContext(seed=0)))
    refit.set_params(early_stopping_rounds=None)
    refit.set_params(scale_pos_weight=1.0).fit(X_fit, y_fit)
    assert refit.get_booster().num_boosted_rounds() == best + 1


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


def test_xgb_pruning_callback_reports_and_prunes(data):
    X, y, _, _ = data
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    trial = study.ask()
    model = one_thread(xgb.build(GOOD["xgb"], BuildContext(seed=0)))
    with pytest.raises(optuna.TrialPruned, match="boosting round 5"):
        xgb.fit(model, FitData(X, y, None, 0), FitHooks(trial=trial, step_offset=3000), report_every=5)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    assert study.trials[0].intermediate_values.keys() == {3004}   # first report at round 5, offset by fold
    assert model.get_params()["callbacks"] is None                # the trial is not kept in the model


def test_xgb_scale_pos_weight_is_resolved_on_the_rows_it_is_fitted_on(data):
    X, y, _, _ = data   # 20 % positives: n_neg / n_pos is about 4
    ratio = boosting.pos_ratio(boosting.holdout_split(X, y, 0)[2])
    for choice, expected in (("balanced", ratio), ("sqrt", ratio ** 0.5), (1, 1.0)):
        model = one_thread(xgb.build({**GOOD["xgb"], "n_estimators": 5, "scale_pos_weight": choice}, BuildContext(0)))
        fitted = xgb.fit(model, FitData(X, y, None, 0), FitHooks())
        assert fitted.get_params()["scale_pos_weight"] == pytest.approx(expected)
    assert boosting.pos_ratio([0, 0, 0, 1]) == 3.0
    with pytest.raises(ValueError, match="pos_ratio"):
        boosting.resolve_pos_weight("balanced", None)
    assert xgb.build({}, BuildContext(seed=0, device="cuda")).get_params()["device"] == "cuda"


def test_build_rejects_unknown_parameters():
    for fam in FAMILIES.values():
        with pytest.raises(ValueError, match="unknown parameter"):
            fam.build({"max_dept": 3}, BuildContext(seed=0))


def test_suggest_types_follow_the_bounds():
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    got = space.suggest(trial, {"a": {"low": 1, "high": 5}, "b": {"low": 1, "high": 5.0},
                                "c": {"low": 0.1, "high": 1.0, "log": True}, "d": {"choices": [None, "x"]}})
    assert isinstance(got["a"], int) and isinstance(got["b"], float) and 0.1 <= got["c"] <= 1.0
    assert got["d"] in (None, "x")


@pytest.mark.parametrize("entry, match", [
    ("{low: 5, high: 1}", "low <= high"),
    ("{low: 1e-5, high: 1.0}", "1.0e-5"),
    ("{low: 0, high: 1, log: true}", "low > 0"),
    ("{choices: []}", "non-empty list"),
    ("{low: 1, high: 2, lg: true}", "unknown field"),
    ("[1, 2]", "expected"),
    ("{low: 1, high: 2, log: yes please}", "'log'"),
])
def test_malformed_entry_names_file_and_key(tmp_path, entry, match):
    (tmp_path / "xgb.yaml").write_text(f"max_depth: {{low: 2, high: 8}}\nlearning_rate: {entry}\n")
    with pytest.raises(InputError, match=match) as err:
        space.load_space("xgb", tmp_path)
    assert "xgb.yaml" in str(err.value) and "'learning_rate'" in str(err.value)


def test_space_file_level_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        space.load_space("nope", tmp_path)
    (tmp_path / "bad.yaml").write_text("a: {low: 1\n")
    with pytest.raises(InputError, match="bad.yaml: not valid YAML"):
        space.load_space("bad", tmp_path)
    (tmp_path / "xgb.yaml").write_text("max_dept: {low: 2, high: 8}\n")
    with pytest.raises(InputError, match=r"xgb.yaml: unknown parameter\(s\) \['max_dept'\]"):
        space.load_space("xgb", tmp_path, allowed=xgb.FAMILY.params)


def test_xgb_refit_early_stops_on_the_cv_objective_like_its_trials(data):
    """A final refit (no trial) under tune.metric average_precision stops on aucpr, as its CV trials did."""
    X, y, _, _ = data
    for metric, eval_metric in (("average_precision", "aucpr"), ("roc_auc", "auc"), ("log_loss", "auc")):
        model = one_thread(xgb.build({**GOOD["xgb"], "n_estimators": 20}, BuildContext(seed=0)))
        fitted = xgb.fit(model, FitData(X, y, None, 0), FitHooks(metric=metric))
        assert fitted.get_params()["eval_metric"] == eval_metric, metric
