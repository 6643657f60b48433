"""Calibration: miscalibrated scores get fixed on held-out rows, calibrated ones are left (nearly) alone."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import log_loss

from pipeline.ensembling.calibration import (
    EPS,
    Calibrator,
    choose_calibrator,
    fit_calibrator,
)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def true_model(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """True probabilities from a logistic model, and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = sigmoid(1.5 * rng.normal(size=n) - 1)
    return p, (rng.random(n) < p).astype(int)


def held_out_losses(scores: np.ndarray, y: np.ndarray) -> tuple[Calibrator, float, float]:
    """Choose on the first half, then raw and calibrated log loss on the second half."""
    h = len(y) // 2
    cal, _ = choose_calibrator(scores[:h], y[:h], seed=0)
    raw = log_loss(y[h:], scores[h:], labels=[0, 1])
    return cal, raw, log_loss(y[h:], cal.apply(scores[h:]), labels=[0, 1])


@pytest.mark.parametrize("distort", [lambda p: p ** 0.3, lambda p: sigmoid(3 * logit(p))],
                         ids=["inflated", "overconfident"])
def test_miscalibrated_scores_are_fixed_on_held_out_rows(distort):
    p, y = true_model(1200)
    cal, raw, calibrated = held_out_losses(distort(p), y)
    assert cal.method in ("sigmoid", "isotonic")
    assert calibrated < raw - 0.1, (raw, calibrated)


def test_calibrated_scores_are_left_alone_or_nearly():
    p, y = true_model(4000, seed=1)
    cal, raw, calibrated = held_out_losses(p, y)
    assert cal.method == "none" or calibrated <= raw + 2e-3, (cal, raw, calibrated)


def test_cv_losses_are_reported_and_the_minimum_is_chosen():
    p, y = true_model(600, seed=2)
    cal, losses = choose_calibrator(p ** 0.3, y)
    assert set(losses) == {"none", "sigmoid", "isotonic"}
    assert cal.method == min(losses, key=losses.get)


def test_a_tie_goes_to_the_first_method():
    p, y = true_model(200, seed=3)
    cal, losses = choose_calibrator(p, y, methods=("none", "none"))
    assert cal.method == "none" and set(losses) == {"none"}


def test_too_few_positives_means_none_and_few_positives_means_fewer_folds():
    y = np.zeros(30, dtype=int)
    y[0] = 1
    assert choose_calibrator(np.linspace(0.1, 0.9, 30), y)[0].method == "none"
    y[:3] = 1                                               # 3 positives: 3 stratified folds instead of 5
    _, losses = choose_calibrator(np.linspace(0.9, 0.1, 30), y, folds=5)
    assert set(losses) == {"none", "sigmoid", "isotonic"} and all(np.isfinite(list(losses.values())))


@pytest.mark.parametrize("method", ["none", "sigmoid", "isotonic"])
def test_json_round_trip_gives_identical_outputs(method):
    p, y = true_model(300, seed=4)
    cal = fit_calibrator(method, p ** 0.3, y)
    again = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    grid = np.linspace(0, 1, 101)
    assert again == cal and np.array_equal(again.apply(grid), cal.apply(grid))


def test_isotonic_output_stays_inside_eps_bounds():
    y = np.r_[np.zeros(50, dtype=int), np.ones(50, dtype=int)]
    cal = fit_calibrator("isotonic", np.linspace(0, 1, 100), y)   # perfectly separated: steps at 0 and 1
    out = cal.apply(np.r_[-1.0, 0.0, np.linspace(0, 1, 50), 1.0, 2.0])
    assert out.min() == EPS and out.max() == 1 - EPS


def test_sigmoid_is_finite_at_zero_and_one():
    cal = Calibrator("sigmoid", {"a": 1.0, "b": 0.0})
    assert np.allclose(cal.apply(np.array([0.0, 0.25, 1.0])), [EPS, 0.25, 1 - EPS])


def test_unknown_methods_and_bad_params_are_rejected():
    with pytest.raises(ValueError, match="unknown calibration method 'beta'"):
        Calibrator.from_dict({"method": "beta", "params": {}})
    with pytest.raises(ValueError, match="unknown calibration method"):
        fit_calibrator("beta", np.array([0.2, 0.8]), np.array([0, 1]))
    with pytest.raises(ValueError, match="sigmoid calibrator needs params"):
        Calibrator.from_dict({"method": "sigmoid", "params": {"a": 1.0}})
    with pytest.raises(ValueError, match="non-empty subset"):
        choose_calibrator(np.array([0.2, 0.8]), np.array([0, 1]), methods=("platt",))
    with pytest.raises(ValueError, match="1-D of equal length"):
        choose_calibrator(np.array([0.2, 0.8]), np.array([0, 1, 1]))
