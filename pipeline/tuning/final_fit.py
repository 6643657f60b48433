"""Refit a family's best parameters on the full train set and save it with its info.json."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from pipeline.core.params import Params, TuneParams
from pipeline.models.registry import get
from pipeline.models.store import save_model, save_skipped
from pipeline.tuning import studies
from pipeline.tuning.cv import fit_family
from pipeline.tuning.objective import BUILD_PARAMS, FOLD_SCORES, THRESHOLD
from pipeline.tuning.train_data import TrainData

log = logging.getLogger(__name__)


def skip_family(family: str, reason: str, out: Path) -> dict[str, Any]:
    log.info("tune %s: skipped: %s", family, reason)
    save_skipped(family, out / family, reason)
    return {"skipped": reason, "label": get(family).label}


def final_fit(family: str, study: optuna.Study, data: TrainData, s: TuneParams, params: Params, seed: int,
              out: Path, deadline: float | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Full-train refit of the best trial (resampled like every CV fold); returns the summary row.
    `extra` (calibration, threshold on calibrated OOF scores, imbalance, race) joins info.json."""
    fam = get(family)
    sequence = fam.inputs == "sequence"
    best = studies.best_trial(study)
    build_params = best.user_attrs[BUILD_PARAMS]
    started = time.perf_counter()
    model = fit_family(family, build_params, data, np.arange(len(data)), seed=seed, resample=params.resample,
                       device=s.device, max_epochs=s.lstm_max_epochs, metric=s.metric, deadline=deadline,
                       final=True, threads=1)   # as in the trials: their fold times are what the budget planned on
    fit_seconds = time.perf_counter() - started
    info = {"family": family, "params": build_params, "metric": s.metric, "cv_score": best.value,
            "cv_fold_scores": best.user_attrs.get(FOLD_SCORES), "threshold": best.user_attrs[THRESHOLD],
            **studies.counts(study), "best_trial": best.number, "study_name": study.study_name,
            "fit_seconds": round(fit_seconds, 3), "feature_columns": list(data.X.columns),
            "input": "sequence" if sequence else "matrix", "static_columns": data.static_columns if sequence else [],
            "label": fam.display_label(build_params), **(extra or {})}
    save_model(family, model, out / family, info=info)
    return {**info, "importances": studies.param_importances(study), "history": studies.history(study)}
