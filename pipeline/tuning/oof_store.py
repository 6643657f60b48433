"""Out-of-fold predictions of the trials that were a family's best when they finished, on disk next to the study.

The ensemble and the calibrators are fitted on these (pipeline/tuning/finalize.py). They live in
files, not in the study: a trial's OOF vector is one float per train row (3 MB at 800k rows), too big
for Optuna's attributes. A study on a shared server may hold a best trial whose file is on another
machine: finalize then recomputes it by cross-validation when the budget allows.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sqlalchemy.engine import make_url

DEFAULT_DIR = Path("optuna/oof")


def directory_for(url: str) -> Path:
    """optuna/oof beside the SQLite file of the default storage; optuna/oof for a server storage."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return Path(parsed.database).parent / "oof"
    return DEFAULT_DIR


def path(root: Path, study_name: str, trial_number: int) -> Path:
    return root / study_name / f"{trial_number}.npy"


def save(root: Path, study_name: str, trial_number: int, oof: np.ndarray) -> None:
    """Written atomically: a killed run leaves the previous file or none, never half a vector."""
    target = path(root, study_name, trial_number)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, np.asarray(oof, dtype=np.float64))
    os.replace(tmp, target)


def load(root: Path, study_name: str, trial_number: int, n_rows: int) -> np.ndarray | None:
    """The saved vector, or None when missing or not of this data's length (then it is recomputed)."""
    target = path(root, study_name, trial_number)
    if not target.is_file():
        return None
    oof = np.load(target, allow_pickle=False)
    return oof if oof.shape == (n_rows,) and np.isfinite(oof).all() else None
