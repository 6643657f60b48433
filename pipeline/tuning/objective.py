"""The Optuna objective of one family: draw params, cross-validate, record why a trial failed."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd

from pipeline.core.params import EvaluateParams, ResampleParams
from pipeline.evaluation.metrics import choose_threshold
from pipeline.models.registry import get
from pipeline.tuning.cv import cross_validate
from pipeline.tuning.studies import FAIL_REASON
from pipeline.tuning.train_data import TrainData

BUILD_PARAMS = "build_params"   # user attrs of a trial: what build() got, the OOF threshold, per-fold scores
THRESHOLD = "threshold"
FOLD_SCORES = "fold_scores"


@dataclass
class Objective:
    """Callable for study.optimize; holds the data and settings, no globals."""
    family: str
    data: TrainData
    folds: list[tuple[np.ndarray, np.ndarray]]
    space: dict[str, Any] | None
    metric: str
    seed: int
    resample: ResampleParams
    threshold: EvaluateParams
    device: str
    max_epochs: int
    deadline: float | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        params = get(self.family).suggest(trial, self.space)
        trial.set_user_attr(BUILD_PARAMS, params)
        try:
            score, fold_scores, oof = cross_validate(
                self.family, params, self.data, self.folds, metric=self.metric, trial=trial,
                deadline=self.deadline, seed=self.seed, resample=self.resample, device=self.device,
                max_epochs=self.max_epochs)
        except optuna.TrialPruned:
            raise
        except Exception as err:  # recorded on the trial, then re-raised: Optuna marks it FAIL and goes on
            trial.set_user_attr(FAIL_REASON, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            raise
        if not math.isfinite(score):
            trial.set_user_attr(FAIL_REASON, f"CV {self.metric} is not finite ({score}); fold scores {fold_scores}")
            return float("nan")   # Optuna records a NaN objective as FAIL
        trial.set_user_attr(FOLD_SCORES, fold_scores)
        trial.set_user_attr(THRESHOLD, choose_threshold(self.data.y, oof, self.threshold.threshold_rule,
                                                        self.threshold.cost_ratio))
        return score


def fingerprint(data: TrainData, family: str, space: Any, settings: dict[str, Any]) -> str:
    """Hash of what a study's trials depend on, so a resumed study never mixes data or search spaces."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(pd.util.hash_pandas_object(data.X, index=False).to_numpy().tobytes())
    digest.update(np.asarray(data.y, dtype=np.int8).tobytes())
    digest.update(json.dumps({"family": family, "space": space, **settings}, sort_keys=True, default=str).encode())
    if data.seq is not None and get(family).inputs == "sequence":
        for array in (data.seq.types, data.seq.values, data.seq.lengths):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def settings_of(metric: str, folds: int, seed: int, resample: ResampleParams, max_epochs: int) -> dict[str, Any]:
    return {"metric": metric, "folds": folds, "seed": seed, "resample": asdict(resample), "max_epochs": max_epochs}
