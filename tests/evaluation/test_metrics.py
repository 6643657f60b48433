"""Test-set metrics: hand-checkable values, bootstrap intervals, paired comparison, curve data."""
import json

import numpy as np
import pytest
from sklearn import metrics as skm

from pipeline.evaluation import metrics


def noisy_scores(n: int, seed: int = 0, rate: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Labels and informative-but-noisy scores, rounded so there are ties."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    p = np.clip(0.3 + 0.25 * y + rng.normal(0, 0.15, n), 0, 1).round(2)
    return y, p


def test_perfect_ranking_gives_auc_one_and_lift_one_over_rate():
    y = np.r_[np.zeros(16), np.ones(4)]           # positive rate 0.2, top decile = 2 customers
    p = np.linspace(0.01, 0.99, 20)
    out = metrics.evaluate(y, p, threshold=0.5, n_boot=200)
    assert out["roc_auc"] == 1.0 and out["average_precision"] == 1.0
    assert out["lift_top_decile"] == pytest.approx(1 / 0.2)
    assert out["capture_top_decile"] == pytest.approx(2 / 4)
    assert (out["n"], out["positives"]) == (20, 4)


def test_known_confusion_matrix_and_inclusive_threshold():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.3, 0.7, 0.2, 0.1, 0.4, 0.05])
    out = metrics.evaluate(y, p, threshold=0.6, n_boot=50)   # 0.6 itself counts as positive
    assert out["confusion"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 4}
    assert out["precision"] == pytest.approx(2 / 3) and out["recall"] == pytest.approx(2 / 3)
    assert out["f1"] == pytest.approx(2 / 3)
    assert out["roc_auc"] == pytest.approx(12 / 15)          # pairs ordered right: 5 + 4 + 3 of 3 x 5


def test_point_metrics_match_scikit_learn_with_ties():
    y, p = noisy_scores(3000)
    out = metrics.evaluate(y, p, n_boot=20)
    assert out["threshold"] == 0.5
    assert out["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert out["average_precision"] == pytest.approx(skm.average_precision_score(y, p))
    assert out["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert out["brier"] == pytest.approx(skm.brier_score_loss(y, p))


def test_bootstrap_replicates_equal_metrics_on_explicitly_resampled_customers():
    y, p = noisy_scores(500)
    weights = next(metrics._resample_weights(len(y), 3, seed=7))
    idx = np.random.default_rng(7).integers(0, len(y), size=(3, len(y)))   # the same draws, as indices
    auc = metrics._auc(weights, y.astype(float), p)
    ap = metrics._ap(weights, y.astype(float), p)
    for r in range(3):
        assert auc[r] == pytest.approx(skm.roc_auc_score(y[idx[r]], p[idx[r]]))
        assert ap[r] == pytest.approx(skm.average_precision_score(y[idx[r]], p[idx[r]]))


def test_ties_at_the_decile_cut_count_pro_rata():
    y = np.r_[np.ones(5), np.zeros(45)]
    out = metrics.top_share(y, np.full(50, 0.3))              # all tied: no ranking information
    assert out["lift_top_decile"] == pytest.approx(1.0) and out["capture_top_decile"] == pytest.approx(0.1)


def test_interval_contains_estimate_and_narrows_with_more_data():
    small, large = (metrics.evaluate(*noisy_scores(n), n_boot=500) for n in (200, 5000))
    for out in (small, large):
        for key in ("roc_auc", "average_precision"):
            lo, hi = out[f"{key}_ci"]
            assert lo <= out[key] <= hi
    width = {key: out["roc_auc_ci"][1] - out["roc_auc_ci"][0] for key, out in (("s", small), ("l", large))}
    assert width["l"] < width["s"] / 2


def test_deterministic_given_seed():
    y, p = noisy_scores(800)
    assert metrics.evaluate(y, p, seed=3) == metrics.evaluate(y, p, seed=3)
    assert metrics.evaluate(y, p, seed=3)["roc_auc_ci"] != metrics.evaluate(y, p, seed=4)["roc_auc_ci"]
    pa = metrics.paired_bootstrap(y, p, p[::-1], seed=1)
    assert pa == metrics.paired_bootstrap(y, p, p[::-1], seed=1)


@pytest.mark.parametrize("metric", sorted(metrics.METRICS))
def test_paired_bootstrap_of_a_model_against_itself(metric):
    y, p = noisy_scores(600)
    out = metrics.paired_bootstrap(y, p, p, metric=metric, n_boot=300)
    assert out["diff"] == 0.0 and out["ci"] == [0.0, 0.0] and out["p_value"] == 1.0


def test_paired_bootstrap_detects_a_clearly_better_model():
    y, p = noisy_scores(2000)
    worse = np.clip(p + np.random.default_rng(1).normal(0, 0.3, len(p)), 0, 1)
    out = metrics.paired_bootstrap(y, p, worse, n_boot=500)
    assert out["diff"] > 0 and out["ci"][0] > 0 and 0 < out["p_value"] < 0.01


def test_single_class_gives_none_not_nan():
    out = metrics.evaluate(np.zeros(30), np.linspace(0, 1, 30), n_boot=50)
    assert out["roc_auc"] is None and out["roc_auc_ci"] == [None, None]
    assert out["average_precision"] is None and out["lift_top_decile"] is None and out["recall"] is None
    json.dumps(out, allow_nan=False)


def test_choose_threshold_rules_on_separable_scores():
    y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.7, 0.8])
    assert metrics.choose_threshold(y, p) == 0.7
    assert metrics.choose_threshold(y, p, rule="youden") == 0.7
    with pytest.raises(ValueError, match="rule"):
        metrics.choose_threshold(y, p, rule="median")


def test_curves_are_small_plain_and_anchored():
    y, p = noisy_scores(5000)
    p = p + np.random.default_rng(2).uniform(0, 1e-3, len(p))    # break ties: thousands of ROC points
    c = metrics.curves(y, np.clip(p, 0, 1))
    json.dumps(c, allow_nan=False)
    for curve in ("roc", "pr", "gains"):
        assert all(isinstance(v, list) and 2 <= len(v) <= metrics.MAX_POINTS for v in c[curve].values())
    assert (c["roc"]["fpr"][0], c["roc"]["tpr"][-1], c["roc"]["threshold"][0]) == (0.0, 1.0, None)
    assert (c["gains"]["share_positives"][0], c["gains"]["share_positives"][-1]) == (0.0, 1.0)
    cal = c["calibration"]
    assert len(cal["count"]) == 10 and sum(cal["count"]) == len(y)
    assert cal["mean_predicted"] == sorted(cal["mean_predicted"])


@pytest.mark.parametrize("y, p, match", [
    ([0, 1, 2], [0.1, 0.2, 0.3], "0/1"),
    ([0, 1], [0.1, np.nan], "finite"),
    ([0, 1], [0.1], "equally long"),
])
def test_bad_input_is_a_clear_value_error(y, p, match):
    with pytest.raises(ValueError, match=match):
        metrics.evaluate(y, p)


def test_cost_threshold_moves_down_when_misses_cost_more():
    from pipeline.evaluation.metrics import choose_threshold
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    p = np.clip(0.3 * y + rng.normal(0.35, 0.2, 2000), 0, 1)
    cheap = choose_threshold(y, p, rule="cost", cost_ratio=1.0)
    dear = choose_threshold(y, p, rule="cost", cost_ratio=10.0)
    assert dear < cheap
