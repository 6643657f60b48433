"""Saving, loading and scoring tuned models: one directory per family, written atomically.

models/tuned/<family>/ holds the model files plus, when given, info.json (tune's record of the
study), all replaced together so a crash never leaves a model beside a stale info.json.
Formats, safe where one exists:
  xgb            model.ubj (XGBoost's own binary JSON; no code runs on load)
  lstm           state_dict.pt (tensors only, loaded with weights_only=True) + config.json
  logreg/forest  model.joblib: a PICKLE, which can run arbitrary code when loaded. Load it only
                 from a source you trust (your own pipeline's output), never from a download.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from xgboost import XGBClassifier

from pipeline.core.errors import InputError
from pipeline.core.io import atomic_dir, read_json, write_json
from pipeline.core.schema import ID
from pipeline.events.sequences import SequenceBatch

log = logging.getLogger(__name__)

INFO_FILE = "info.json"
XGB_FILE, PICKLE_FILE = "model.ubj", "model.joblib"
PICKLED = ("logreg", "forest")
KNOWN = ("logreg", "forest", "xgb", "lstm")


def _check_family(family: str) -> None:
    if family not in KNOWN:
        raise InputError(f"unknown model family {family!r}; expected one of {list(KNOWN)}.")


def save_model(family: str, model: Any, directory: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Write `model` (and info.json when given) into `directory`, replacing it whole and atomically."""
    _check_family(family)
    with atomic_dir(directory) as tmp:
        if family == "xgb":
            if not isinstance(model, XGBClassifier):
                raise TypeError(f"xgb: expected an XGBClassifier, got {type(model).__name__}.")
            model.save_model(tmp / XGB_FILE)   # sklearn API: keeps best_iteration and feature names
        elif family == "lstm":
            model.save(tmp)
        else:
            joblib.dump(model, tmp / PICKLE_FILE)
        if info is not None:
            write_json(info, tmp / INFO_FILE)
    return Path(directory)


def save_skipped(family: str, directory: str | Path, reason: str) -> Path:
    """Record a family that was not tuned: info.json with {"family", "skipped"} only, no model files."""
    _check_family(family)
    with atomic_dir(directory) as tmp:
        write_json({"family": family, "skipped": reason}, tmp / INFO_FILE)
    return Path(directory)


def read_info(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / INFO_FILE
    if not path.is_file():
        raise InputError(f"{path}: not found; run the tune stage first (dvc repro tune).")
    return read_json(path)


def load_model(family: str, directory: str | Path, device: str = "cpu") -> Any:
    """The fitted estimator saved by `save_model`; `device` applies to xgb and lstm (CPU: reproducible)."""
    _check_family(family)
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no saved {family} model there.")
    if family == "xgb":
        model = XGBClassifier()
        model.load_model(_existing(directory / XGB_FILE))
        return model.set_params(device=device)   # a model tuned on a GPU still scores on a CPU-only box
    if family == "lstm":
        # Imported here: torch takes seconds to import, and tabular-only runs never need it.
        from pipeline.models.sequence.classifier import SequenceClassifier
        return SequenceClassifier.load(directory, device=device)
    return joblib.load(_existing(directory / PICKLE_FILE))   # trusted sources only: see module docstring


def load_tuned(models_dir: str | Path, device: str = "cpu") -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """info.json of every family directory, and the model of each that was not skipped."""
    models_dir = Path(models_dir)
    # Dot-directories are atomic_dir's temp/old copies, never a family.
    dirs = sorted((d for d in models_dir.glob("*") if not d.name.startswith(".") and (d / INFO_FILE).is_file()),
                  key=lambda d: family_position(d.name))
    if not dirs:
        raise InputError(f"{models_dir}: no <family>/info.json found; run the tune stage first.")
    infos = {d.name: read_info(d) for d in dirs}
    if wrong := [d for d, i in infos.items() if i.get("family") != d]:
        raise InputError(f"{models_dir}: info.json 'family' disagrees with its directory for {wrong}.")
    return infos, {f: load_model(f, models_dir / f, device) for f, i in infos.items() if "skipped" not in i}


def family_position(family: str) -> int:
    """Canonical family order (logreg, forest, xgb, lstm): listings and exact-tie breaks."""
    return KNOWN.index(family) if family in KNOWN else len(KNOWN)


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: model file not found; rerun the tune stage.")
    return path


def model_columns(model: Any) -> list[str] | None:
    """Feature names the tabular model was fitted with (None when it was fitted on a bare array)."""
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(c) for c in names]


def _require(X: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if missing := [c for c in columns if c not in X.columns]:
        raise InputError(f"the feature matrix lacks {len(missing)} column(s) the saved {what} was fitted with: "
                         f"{missing[:10]}{' ...' if len(missing) > 10 else ''}; rerun features and tune together.")


def predict_proba(family: str, model: Any, X: pd.DataFrame, seq: SequenceBatch | None = None,
                  static_columns: Sequence[str] = (), feature_columns: Sequence[str] | None = None) -> np.ndarray:
    """P(class 1) per row of X. Tabular: X's columns in the model's fitted order (else `feature_columns`).
    lstm: `seq` (rows aligned with X) plus X[static_columns] as the static features."""
    _check_family(family)
    if family == "lstm":
        return _predict_sequence(model, X, seq, list(static_columns))
    columns = model_columns(model) or (list(feature_columns) if feature_columns is not None else None)
    if columns is None:
        raise InputError(f"{family}: the model has no saved feature names; pass feature_columns from info.json.")
    _require(X, columns, f"{family} model")
    return np.asarray(model.predict_proba(X[columns])[:, 1], dtype=float)


def _predict_sequence(model: Any, X: pd.DataFrame, seq: SequenceBatch | None, static: list[str]) -> np.ndarray:
    if seq is None:
        raise InputError("lstm: the sequence model needs event sequences, but none were given (no events table?).")
    if len(seq) != len(X) or (ID in X.columns and
                              not np.array_equal(seq.customer_ids.astype(str), X[ID].astype(str).to_numpy())):
        raise InputError(f"lstm: the sequences ({len(seq)} customers) are not in the feature matrix's row order "
                         f"({len(X)} rows); rerun the features stage.")
    _require(X, static, "lstm model (static_columns)")
    if len(static) != getattr(model, "n_static_", len(static)):
        raise InputError(f"lstm: got {len(static)} static columns, the model was fitted with {model.n_static_}.")
    # copy=True: pandas 3 may hand back a read-only view, which torch.from_numpy warns about.
    data = seq.with_static(X[static].to_numpy(np.float32, copy=True))
    return np.asarray(model.predict_proba(data)[:, 1], dtype=float)
