"""pipeline/tuning/refit_plan.py: which refits go first when not all of them fit in the time left."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from optuna.trial import create_trial
from sklearn.metrics import roc_auc_score

from pipeline.core.params import TuneParams
from pipeline.tuning.finalize import subset_score
from pipeline.tuning.refit_plan import largest_affordable, plan_refits

# the 1M run's measured refit costs (s): xgb alone would take the whole budget
COSTS = {"xgb": 129.0, "lightgbm": 80.0, "logreg": 15.0}


def test_all_refits_when_they_fit_and_none_when_nothing_does() -> None:
    assert plan_refits(COSTS, 1000.0, score=lambda fs: 0.0) == ["lightgbm", "logreg", "xgb"]
    assert plan_refits(COSTS, 10.0, score=lambda fs: 0.0) == []


def test_only_the_largest_affordable_sets_are_candidates() -> None:
    sets = largest_affordable(COSTS, 145.0)
    assert sorted(sets) == [("lightgbm", "logreg"), ("logreg", "xgb")]
    assert largest_affordable(COSTS, 100.0) == [("lightgbm", "logreg")]


def test_the_best_scoring_set_wins_not_the_heaviest_member() -> None:
    scores = {("lightgbm", "logreg"): 0.84, ("logreg", "xgb"): 0.83}
    assert plan_refits(COSTS, 145.0, score=lambda fs: scores[tuple(fs)]) == ["lightgbm", "logreg"]
    scores[("logreg", "xgb")] = 0.85
    assert plan_refits(COSTS, 145.0, score=lambda fs: scores[tuple(fs)]) == ["logreg", "xgb"]
    # a loss (lower is better) flips the choice
    assert plan_refits(COSTS, 145.0, score=lambda fs: scores[tuple(fs)], higher_is_better=False) == ["lightgbm", "logreg"]


def test_equal_scores_go_to_the_cheaper_set() -> None:
    costs = {"a": 50.0, "b": 50.0, "c": 90.0}
    assert plan_refits(costs, 100.0, score=lambda fs: 0.8) == ["c"]          # 90 s against 100 s


def test_subset_score_blends_out_of_fold_scores_and_falls_back_to_cv() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    noise = lambda s: np.clip(y + rng.normal(0, s, len(y)), -3, 4)   # noqa: E731
    oofs = {"a": noise(1.0), "b": noise(1.0)}          # independent errors: the blend beats either
    bests = {f: create_trial(value=v, params={}, distributions={}) for f, v in (("a", 0.7), ("b", 0.7), ("c", 0.9))}
    data = SimpleNamespace(y=y)                       # subset_score reads only the labels
    s = TuneParams(metric="roc_auc")
    together = subset_score(["a", "b"], oofs, bests, data, s)
    assert together > max(roc_auc_score(y, oofs["a"]), roc_auc_score(y, oofs["b"])) + 0.01
    assert subset_score(["c"], oofs, bests, data, s) == 0.9          # no OOF scores: its trial's CV
    assert subset_score(["a", "c"], oofs, bests, data, s) == 0.9     # one blendable member: the best CV
