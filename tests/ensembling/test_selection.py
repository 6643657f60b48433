"""Greedy ensemble selection: weights follow the signal, are deterministic, and are cross-fitted honestly."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.model_selection import StratifiedKFold

from pipeline.ensembling.selection import CrossFit, blend, cross_fitted, greedy_weights


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Mann-Whitney ROC-AUC: the same value as roc_auc_score, without its per-call validation cost."""
    r, n1 = rankdata(p), int(y.sum())
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * (len(y) - n1)))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def strong_and_noise(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    strong = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.15, n), 0.01, 0.99)
    return np.c_[rng.random(n), strong], y      # the noise member comes first: index order cannot help it


def complementary(n: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The label depends on x1 + x2; each member sees one of them, i.e. half of the signal."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=(2, n))
    y = (rng.random(n) < sigmoid(2 * x1 + 2 * x2)).astype(int)
    return np.c_[sigmoid(2 * x1), sigmoid(2 * x2)], y


def test_a_pure_noise_member_gets_no_weight():
    oof, y = strong_and_noise()
    assert np.array_equal(greedy_weights(oof, y, auc), [0.0, 1.0])


def test_complementary_members_share_the_weight_and_the_blend_beats_each():
    oof, y = complementary()
    w = greedy_weights(oof, y, auc)
    assert (w >= 0.2).all(), w
    assert auc(y, blend(oof, w)) > max(auc(y, oof[:, 0]), auc(y, oof[:, 1])) + 0.05


def test_lower_is_better_scores_are_minimised():
    oof, y = strong_and_noise()

    def brier(y: np.ndarray, p: np.ndarray) -> float:
        return float(np.mean((p - y) ** 2))

    assert greedy_weights(oof, y, brier, higher_is_better=False)[1] >= 0.9


@pytest.mark.parametrize("rounds", [1, 7, 25])
def test_weights_sum_to_one_in_steps_of_one_over_rounds(rounds):
    oof, y = complementary()
    w = greedy_weights(np.c_[oof, oof[:, ::-1] ** 2], y, auc, rounds=rounds)
    assert w.shape == (4,) and w.sum() == pytest.approx(1.0)
    assert np.allclose(w * rounds, np.round(w * rounds))


def test_deterministic_and_exact_ties_go_to_the_lowest_index():
    oof, y = complementary()
    assert np.array_equal(greedy_weights(oof, y, auc), greedy_weights(oof.copy(), y.copy(), auc))
    twins = np.c_[oof[:, 1], oof[:, 1]]                    # identical members: every round is a tie
    assert np.array_equal(greedy_weights(twins, y, auc), [1.0, 0.0])


def test_a_single_member_gets_all_the_weight():
    oof, y = complementary()
    assert np.array_equal(greedy_weights(oof[:, :1], y, auc), [1.0])


def test_shape_nan_and_rounds_errors():
    oof, y = complementary(n=20)
    with pytest.raises(ValueError, match="2-D"):
        greedy_weights(oof[:, 0], y, auc)
    with pytest.raises(ValueError, match="one label per oof row"):
        greedy_weights(oof, y[:-1], auc)
    bad = oof.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*column\(s\) \[1\]"):
        greedy_weights(bad, y, auc)
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        greedy_weights(oof, y, auc, rounds=0)


def folds_of(y: np.ndarray, k: int = 4, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def test_cross_fitting_never_chooses_weights_on_the_rows_it_scores():
    oof, y = complementary(n=80)
    n = len(y)
    marker = (np.arange(n) + 0.5) / n                      # a distinct per-row value, read back by the spy
    oof = np.c_[marker, oof]
    seen: list[np.ndarray] = []

    def spy(o, yy, score, higher_is_better, rounds):
        rows = np.rint(o[:, 0] * n - 0.5).astype(int)
        assert np.array_equal(yy, y[rows])                 # labels travel with their rows
        seen.append(rows)
        return greedy_weights(o, yy, score, higher_is_better, rounds)

    folds = folds_of(y)
    out = cross_fitted(oof, y, folds, auc, rounds=10, choose=spy)
    assert isinstance(out, CrossFit) and len(seen) == len(folds) == len(out.fold_weights)
    for (_, val), rows, w, s in zip(folds, seen, out.fold_weights, out.fold_scores):
        assert not np.intersect1d(rows, val).size          # weights never saw the rows they are scored on
        assert np.array_equal(np.sort(rows), np.setdiff1d(np.arange(n), val))   # ...but saw all the others
        assert np.array_equal(out.oof[val], blend(oof[val], w))
        assert s == pytest.approx(auc(y[val], out.oof[val]))
    assert out.mean == pytest.approx(np.mean(out.fold_scores))


def test_cross_fitting_does_not_overstate_an_ensemble_of_noise():
    """Greedy weights chosen on the scored rows fit noise; cross-fitted, the score falls back towards 0.5."""
    rng = np.random.default_rng(3)
    y = (rng.random(120) < 0.4).astype(int)
    noise = rng.random((120, 12))
    in_sample = auc(y, blend(noise, greedy_weights(noise, y, auc)))
    honest = cross_fitted(noise, y, folds_of(y, k=5), auc).mean
    assert in_sample > 0.6 and honest < in_sample - 0.08, (in_sample, honest)


def test_folds_that_leak_or_miss_rows_are_rejected():
    oof, y = complementary(n=40)
    folds = folds_of(y)
    leaky = [(np.arange(len(y)), val) for _, val in folds]
    with pytest.raises(ValueError, match="both fit and scored"):
        cross_fitted(oof, y, leaky, auc)
    with pytest.raises(ValueError, match="exactly once"):
        cross_fitted(oof, y, folds[:-1], auc)
