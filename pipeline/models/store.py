"""Saving, loading and scoring tuned models: one directory per family, written atomically.

models/tuned/<family>/ holds the family's model files plus, when given, info.json (tune's record of
the study), all replaced together so a crash never leaves a model beside a stale info.json. Each
family saves in a safe format (its module says which: XGBoost UBJ, LightGBM's text model, a torch
state dict + JSON, skops for scikit-learn models); nothing here unpickles.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import atomic_dir, read_json, write_json
from pipeline.core.schema import ID
from pipeline.events.sequences import SequenceBatch
from pipeline.models.family import Family
from pipeline.models.registry import get, position

log = logging.getLogger(__name__)

INFO_FILE = "info.json"
ENSEMBLE = "ensemble"   # models/tuned/ensemble/: info.json only (members, weights); the models are the members'


@dataclass
class Blend:
    """A loaded ensemble: the members' fitted models (with their info.json) and the blend weights."""
    members: dict[str, tuple[Any, dict[str, Any]]]
    weights: dict[str, float]


def save_model(family: str, model: Any, directory: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Write `model` (and info.json when given) into `directory`, replacing it whole and atomically."""
    fam = get(family)
    with atomic_dir(directory) as tmp:
        fam.save(model, tmp)
        if info is not None:
            write_json(info, tmp / INFO_FILE)
    return Path(directory)


def save_skipped(family: str, directory: str | Path, reason: str) -> Path:
    """Record a family that was not tuned: info.json with {"family", "skipped"} only, no model files."""
    get(family)
    with atomic_dir(directory) as tmp:
        write_json({"family": family, "skipped": reason}, tmp / INFO_FILE)
    return Path(directory)


def save_ensemble(directory: str | Path, info: dict[str, Any]) -> Path:
    """The ensemble's record (members, weights, CV, calibrator, threshold), replaced atomically."""
    with atomic_dir(directory) as tmp:
        write_json(info, tmp / INFO_FILE)
    return Path(directory)


def read_info(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / INFO_FILE
    if not path.is_file():
        raise InputError(f"{path}: not found; run the tune stage first (dvc repro tune).")
    return read_json(path)


def load_model(family: str, directory: str | Path, device: str = "cpu") -> Any:
    """The fitted model saved by `save_model`; `device` applies to the GPU-capable families (CPU: reproducible)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no saved {family} model there.")
    if family == ENSEMBLE:
        return _load_blend(directory, device)
    return get(family).load(directory, device)


def _load_blend(directory: Path, device: str) -> Blend:
    """The members are the sibling family directories the ensemble's info.json names."""
    weights = read_info(directory)["members"]
    members = {}
    for f, w in weights.items():
        info = read_info(directory.parent / f)
        if "skipped" in info:
            raise InputError(f"{directory}: ensemble member {f} has no fitted model ({info['skipped']}); rerun tune.")
        members[f] = (load_model(f, directory.parent / f, device), info)
    return Blend(members, {f: float(w) for f, w in weights.items()})


def load_tuned(models_dir: str | Path, device: str = "cpu") -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """info.json of every family directory, and the model of each that was not skipped."""
    models_dir = Path(models_dir)
    # Dot-directories are atomic_dir's temp/old copies, never a family.
    dirs = sorted((d for d in models_dir.glob("*") if not d.name.startswith(".") and (d / INFO_FILE).is_file()),
                  key=lambda d: position(d.name))
    if not dirs:
        raise InputError(f"{models_dir}: no <family>/info.json found; run the tune stage first.")
    infos = {d.name: read_info(d) for d in dirs}
    if wrong := [d for d, i in infos.items() if i.get("family") != d]:
        raise InputError(f"{models_dir}: info.json 'family' disagrees with its directory for {wrong}.")
    return infos, {f: load_model(f, models_dir / f, device) for f, i in infos.items() if "skipped" not in i}


def feature_columns(family: str, model: Any, info: dict[str, Any] | None = None) -> list[str] | None:
    """The columns a tabular model was fitted with: from the model itself, else info.json's feature_columns."""
    columns = get(family).feature_names(model)
    return columns if columns is not None else (info or {}).get("feature_columns")


def _require(X: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if missing := [c for c in columns if c not in X.columns]:
        raise InputError(f"the feature matrix lacks {len(missing)} column(s) the saved {what} was fitted with: "
                         f"{missing[:10]}{' ...' if len(missing) > 10 else ''}; rerun features and tune together.")


def model_inputs(fam: Family, model: Any, X: pd.DataFrame, seq: SequenceBatch | None = None,
                 static_columns: Sequence[str] = (), columns: Sequence[str] | None = None) -> Any:
    """What the family's model reads: X's fitted columns in order (tabular), or `seq` with X[static_columns]."""
    if fam.inputs == "sequence":
        return _sequence_inputs(fam, model, X, seq, list(static_columns))
    fitted = fam.feature_names(model) or (list(columns) if columns is not None else None)
    if fitted is None:
        raise InputError(f"{fam.name}: the model has no saved feature names; pass feature_columns from info.json.")
    _require(X, fitted, f"{fam.name} model")
    return X[fitted]


def predict_proba(family: str, model: Any, X: pd.DataFrame, seq: SequenceBatch | None = None,
                  static_columns: Sequence[str] = (), feature_columns: Sequence[str] | None = None) -> np.ndarray:
    """P(class 1) per row of X. Tabular: X's columns in the model's fitted order (else `feature_columns`).
    Sequence: `seq` (rows aligned with X) plus X[static_columns] as the static features."""
    if isinstance(model, Blend):
        return sum(w * predict_proba(f, model.members[f][0], X, seq, model.members[f][1].get("static_columns", ()),
                                     model.members[f][1].get("feature_columns"))
                   for f, w in model.weights.items())
    fam = get(family)
    return fam.predict(model, model_inputs(fam, model, X, seq, static_columns, feature_columns))


def reads_sequences(family: str, model: Any) -> bool:
    """Whether scoring this model needs the event sequences (a sequence family, or a blend holding one)."""
    if isinstance(model, Blend):
        return any(get(f).inputs == "sequence" for f in model.members)
    return get(family).inputs == "sequence"


def predict_calibrated(info: dict[str, Any], model: Any, X: pd.DataFrame, seq: SequenceBatch | None = None) -> np.ndarray:
    """The probability the pipeline reports: the model's score through the calibrator tune fitted on its
    out-of-fold scores (info.json "calibration"; none for models tuned before calibration existed)."""
    from pipeline.ensembling.calibration import Calibrator

    p = predict_proba(info["family"], model, X, seq, info.get("static_columns", ()), info.get("feature_columns"))
    calibration = info.get("calibration")
    return p if calibration is None else Calibrator.from_dict(calibration).apply(p)


def _sequence_inputs(fam: Family, model: Any, X: pd.DataFrame, seq: SequenceBatch | None,
                     static: list[str]) -> SequenceBatch:
    if seq is None:
        raise InputError(f"{fam.name}: the sequence model needs event sequences, but none were given (no events table?).")
    if len(seq) != len(X) or (ID in X.columns and
                              not np.array_equal(seq.customer_ids.astype(str), X[ID].astype(str).to_numpy())):
        raise InputError(f"{fam.name}: the sequences ({len(seq)} customers) are not in the feature matrix's row order "
                         f"({len(X)} rows); rerun the features stage.")
    _require(X, static, f"{fam.name} model (static_columns)")
    if len(static) != getattr(model, "n_static_", len(static)):
        raise InputError(f"{fam.name}: got {len(static)} static columns, the model was fitted with {model.n_static_}.")
    # copy=True: pandas 3 may hand back a read-only view, which torch.from_numpy warns about.
    return seq.with_static(X[static].to_numpy(np.float32, copy=True))
