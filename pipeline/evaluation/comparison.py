"""Is the family picked by CV really better than the runner-up on test? A paired bootstrap, in one sentence."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.evaluation import metrics as M
from pipeline.evaluation.definitions import LABELS


def verdict(best: str, runner_up: str, metric: str, diff: float | None, ci: list[float | None]) -> str:
    """One plain-language sentence: is `best` (picked by CV) really better than `runner_up` on test?"""
    label = LABELS.get(metric, metric)
    if diff is None or None in ci:
        return f"{best} and {runner_up} cannot be compared on test {label}: too few usable bootstrap resamples."
    detail = f"({diff:+.3f}, 95 % CI [{ci[0]:.3f}, {ci[1]:.3f}])"
    if ci[0] <= 0 <= ci[1]:
        return f"{best} and {runner_up} are not significantly different on test {label} {detail}."
    better = (diff > 0) == (metric != "log_loss")   # log loss: lower is better
    return f"{best} is significantly {'better' if better else 'worse'} than {runner_up} on test {label} {detail}."


def comparison(y: np.ndarray, predictions: pd.DataFrame, ranking: list[str], metric: str,
               n_boot: int, seed: int) -> dict[str, Any] | None:
    """Paired bootstrap of the CV winner vs the CV runner-up on the same test customers; None with one model."""
    if len(ranking) < 2:
        return None
    best, runner_up = ranking[:2]
    test = M.paired_bootstrap(y, predictions[best], predictions[runner_up], metric=metric, n_boot=n_boot, seed=seed)
    return {"best": best, "runner_up": runner_up, "metric": metric, "diff": test["diff"], "ci": test["ci"],
            "p_value": test["p_value"], "verdict": verdict(best, runner_up, metric, test["diff"], test["ci"])}
