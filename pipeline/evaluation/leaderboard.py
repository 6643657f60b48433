"""The test-set leaderboard: every tuned family scored once on the TEST split, ranked by its CV score.

`best` is the family with the best CROSS-VALIDATED train score, not the best test score: picking
on test would make the winner's test numbers a selected, optimistic estimate. Chosen by CV (and
with thresholds chosen by tune on out-of-fold train predictions), the test set stays what it
should be, an untouched final check. The paired bootstrap then says whether that choice holds on test.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.schema import ID, TARGET, TRUE_PROBABILITY
from pipeline.evaluation import metrics as M
from pipeline.evaluation.comparison import comparison
from pipeline.evaluation.definitions import OBJECTIVES
from pipeline.events.sequences import SequenceBatch
from pipeline.models.registry import position
from pipeline.models.store import predict_calibrated

log = logging.getLogger(__name__)

INFO_KEYS = ("cv_score", "n_trials", "n_complete", "n_pruned", "n_failed", "fit_seconds", "best_trial")
ORACLE_KEYS = ("roc_auc", "roc_auc_ci", "average_precision", "average_precision_ci", "log_loss", "brier")


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, Any]           # -> reports/metrics.json (plain JSON, no NaN)
    predictions: pd.DataFrame         # customer_id, target, one P(target=1) column per family
    oracle: np.ndarray | None         # true probabilities of the test customers (synthetic data only)


def rank_by_cv(infos: dict[str, dict[str, Any]]) -> tuple[list[str], str]:
    """Tuned families best-first by CV score, and the shared CV metric (all must use the same one)."""
    tuned = {f: i for f, i in infos.items() if "skipped" not in i}
    if not tuned:
        raise InputError(f"no tuned model to evaluate; skipped: {sorted(infos)}.")
    used = {f: i.get("metric") for f, i in tuned.items()}
    metric = next(iter(used.values()))
    # CV scores of different metrics (or folds) cannot be ranked against each other.
    if len(set(used.values())) != 1 or metric not in OBJECTIVES:
        raise InputError(f"tuned families must share one CV metric of {list(OBJECTIVES)}; got {used}. "
                         "Retune them together.")
    scored = [f for f in tuned if _finite(tuned[f].get("cv_score")) is not None]
    if not scored:
        raise InputError("no tuned family has a finite cv_score; cannot pick the best model.")
    sign = -OBJECTIVES[metric].sign   # best first
    order = sorted(scored, key=lambda f: (sign * float(tuned[f]["cv_score"]), position(f)))
    return order + sorted(set(tuned) - set(scored), key=position), metric


def score(test: pd.DataFrame, seq: SequenceBatch | None, info: dict[str, Any], model: Any) -> tuple[np.ndarray, float]:
    """Calibrated P(target=1) for every test row (what predict reports), and the seconds predict took."""
    start = time.perf_counter()
    p = predict_calibrated(info, model, test, seq)
    return p, time.perf_counter() - start


def model_row(y: np.ndarray, p: np.ndarray, info: dict[str, Any], seconds: float, n_boot: int, seed: int) -> dict:
    """One leaderboard row: test metrics at tune's threshold + the study's record from info.json."""
    row = {k: v for k, v in M.evaluate(y, p, threshold=info.get("threshold"), n_boot=n_boot, seed=seed).items()
           if k not in ("n", "positives")}
    for key in INFO_KEYS:
        value = info.get(key)
        row[key] = _finite(value) if isinstance(value, float) else value
    return {**row, "predict_seconds": seconds}


def oracle_row(y: np.ndarray, truth: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """What the true probabilities score: the ceiling any model can reach on these customers."""
    out = M.evaluate(y, truth, threshold=M.DEFAULT_THRESHOLD, n_boot=n_boot, seed=seed)
    return {k: out[k] for k in ORACLE_KEYS}


def evaluate_models(test: pd.DataFrame, seq: SequenceBatch | None, infos: dict[str, dict[str, Any]],
                    models: dict[str, Any], *, truth: pd.DataFrame | None = None, n_boot: int = 1000,
                    seed: int = 0) -> Evaluation:
    """Pure core: metrics for every model in `models` (infos may add skipped families)."""
    y = test[TARGET].to_numpy().astype(int)
    if len(np.unique(y)) != 2:
        raise InputError(f"the test split has only class {np.unique(y).tolist()}; metrics need both classes.")
    ranking, metric = rank_by_cv(infos)
    if missing := [f for f in ranking if f not in models]:
        raise InputError(f"no loaded model for tuned famil(ies) {missing}.")
    predictions = test[[ID, TARGET]].reset_index(drop=True).copy()
    rows = {}
    for family in ranking:
        p, seconds = score(test, seq, infos[family], models[family])
        predictions[family] = p
        rows[family] = model_row(y, p, infos[family], seconds, n_boot, seed)
        log.info("evaluate: %s test ROC-AUC %s, AP %s (CV %s %s), predict %.2f s", family, _f(rows[family]["roc_auc"]),
                 _f(rows[family]["average_precision"]), metric, _f(rows[family]["cv_score"]), seconds)
    out = {"best": ranking[0], "metric": metric, "selected_by": "cv_score", "ranking": ranking, "models": rows,
           "skipped": {f: i["skipped"] for f, i in infos.items() if "skipped" in i}}
    oracle = None if truth is None else _truth_for(test, truth)
    if oracle is not None:
        out["oracle"] = oracle_row(y, oracle, n_boot, seed)
    out["comparison"] = comparison(y, predictions, ranking, metric, n_boot, seed)
    out.update(n_test=len(y), positives_test=int(y.sum()))
    return Evaluation(out, predictions, oracle)


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and np.isfinite(x) else None


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _truth_for(test: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """true_probability of each test customer, in test row order (every one must be present)."""
    joined = test[[ID]].astype(str).merge(truth[[ID, TRUE_PROBABILITY]].astype({ID: str}), on=ID, how="left")
    if joined[TRUE_PROBABILITY].isna().any():
        raise InputError(f"truth.parquet lacks {int(joined[TRUE_PROBABILITY].isna().sum())} test customers.")
    return joined[TRUE_PROBABILITY].to_numpy(float)


def read_truth(prepared: Path) -> pd.DataFrame | None:
    """The simulator's true probabilities (synthetic data only): the oracle row reads them, nothing else."""
    path = prepared / "truth.parquet"
    return pd.read_parquet(path) if path.is_file() else None
