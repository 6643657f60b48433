"""The Optuna objective of one family: draw params, cross-validate, record why a trial failed."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from pipeline.core.params import EvaluateParams, ResampleParams
from pipeline.evaluation.definitions import OBJECTIVES
from pipeline.evaluation.metrics import choose_threshold
from pipeline.models.registry import get
from pipeline.tuning import oof_store
from pipeline.tuning.cv import cross_validate
from pipeline.tuning.studies import FAIL_REASON
from pipeline.tuning.train_data import TrainData

BUILD_PARAMS = "build_params"   # user attrs of a trial: what build() got, the OOF threshold, per-fold scores
THRESHOLD = "threshold"
FOLD_SCORES = "fold_scores"
FOLD_SECONDS = "fold_seconds"   # fit + predict time per fold: what a final refit will cost


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
    deadline: float | None = None   # set by the race before each trial (the search's share of tune.timeout)
    oof_dir: Path | None = None     # where the OOF vector of a trial that is its study's best so far goes
    threads: int = -1

    def __call__(self, trial: optuna.Trial) -> float:
        params = get(self.family).suggest(trial, self.space)
        trial.set_user_attr(BUILD_PARAMS, params)
        fold_seconds: list[float] = []
        try:
            score, fold_scores, oof = cross_validate(
                self.family, params, self.data, self.folds, metric=self.metric, trial=trial,
                deadline=self.deadline, fold_seconds=fold_seconds, seed=self.seed, resample=self.resample,
                device=self.device, max_epochs=self.max_epochs, threads=self.threads)
        except optuna.TrialPruned:
            raise
        except Exception as err:  # recorded on the trial, then re-raised: Optuna marks it FAIL and goes on
            trial.set_user_attr(FAIL_REASON, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            raise
        if not math.isfinite(score):
            trial.set_user_attr(FAIL_REASON, f"CV {self.metric} is not finite ({score}); fold scores {fold_scores}")
            return float("nan")   # Optuna records a NaN objective as FAIL
        trial.set_user_attr(FOLD_SCORES, fold_scores)
        trial.set_user_attr(FOLD_SECONDS, [round(t, 3) for t in fold_seconds])
        trial.set_user_attr(THRESHOLD, choose_threshold(self.data.y, oof, self.threshold.threshold_rule,
                                                        self.threshold.cost_ratio))
        if self.oof_dir is not None and self._is_best(trial, score):
            oof_store.save(self.oof_dir, trial.study.study_name, trial.number, oof)
        return score

    def _is_best(self, trial: optuna.Trial, score: float) -> bool:
        """At least as good as every completed trial so far (then the ensemble may need its OOF)."""
        done = [t.value for t in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
        if not done:
            return True
        return score >= max(done) if OBJECTIVES[self.metric].higher_is_better else score <= min(done)


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
