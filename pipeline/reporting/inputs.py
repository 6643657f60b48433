"""Read everything the report shows: the earlier stages' JSON/CSV outputs, params, dvc.lock, git commit.

Only reports/metrics.json is required. Every other input may be missing (a stage skipped, an
older run, the explain stage not yet run): the page then says "not available" for that part
instead of failing. A file that exists but cannot be parsed is an InputError naming it.
"""
from __future__ import annotations

import json
import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipeline.core.errors import InputError
from pipeline.core.params import as_dict, load_params
from pipeline.core.secrets import mask_params

log = logging.getLogger(__name__)

CURVE_FILES = ("roc", "pr", "calibration", "gains")   # reports/plots/<name>.csv, see evaluate_plots
CONFUSION_FILE = "confusion.json"
HASH_CHARS = 12                                       # enough to tell runs apart on the page


@dataclass(frozen=True)
class ReportInputs:
    metrics: dict[str, Any]
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)   # curve name -> long table (model, x, y..)
    confusion: dict[str, Any] | None = None
    tune: dict[str, Any] | None = None
    explain: dict[str, Any] | None = None
    impute: dict[str, Any] | None = None
    outliers: dict[str, Any] | None = None
    resample: dict[str, Any] | None = None
    eda: dict[str, Any] | None = None
    cells: dict[str, Any] | None = None                              # reports/cells.json (the cells stage)
    meta: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)             # params.yaml, defaults filled in, masked
    lock: dict[str, Any] | None = None                               # dvc.lock
    commit: str | None = None
    eda_html: str | None = None                                      # link to eda.html, relative to the page


def read_json_file(path: Path | None, required: bool = False) -> dict[str, Any] | None:
    """A JSON object from `path`; None when absent (an InputError when required or unparsable)."""
    if path is None or not path.is_file():
        if required:
            raise InputError(f"{path}: not found; run the earlier stages first (dvc repro).")
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err}); rerun the stage that writes it.") from err
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(value).__name__}.")
    return value


def read_yaml_file(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from err
    return value if isinstance(value, dict) else None


def read_curves(plots: Path | None) -> dict[str, pd.DataFrame]:
    """The long-format curve tables that exist; each must have a `model` column."""
    tables = {}
    for name in CURVE_FILES:
        path = plots / f"{name}.csv" if plots else None
        if path is None or not path.is_file():
            continue
        try:
            table = pd.read_csv(path, dtype={"model": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise InputError(f"{path}: cannot read curve table: {str(err).splitlines()[0]}") from err
        if "model" not in table or len(table.columns) < 3:
            raise InputError(f"{path}: expected columns model and two curve columns, got {list(table.columns)}.")
        tables[name] = table
    return tables


def git_commit(cwd: Path | None = None) -> str | None:
    """HEAD of the working tree the report is built in (None without git or outside a repository)."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def data_hashes(lock: dict[str, Any] | None) -> list[dict[str, str]]:
    """Content hashes of the raw data and every stage output recorded in dvc.lock (first 12 hex chars)."""
    rows: list[dict[str, str]] = []
    for stage, entry in ((lock or {}).get("stages") or {}).items():
        entry = entry or {}
        raw = [d for d in entry.get("deps") or [] if str(d.get("path", "")).startswith("data/raw")]
        for item, role in [(d, "input") for d in raw] + [(o, "output") for o in entry.get("outs") or []]:
            digest = str(item.get("md5") or item.get("hash") or "")
            rows.append({"stage": str(stage), "role": role, "path": str(item.get("path", "")),
                         "md5": digest.removesuffix(".dir")[:HASH_CHARS], "files": str(item.get("nfiles", 1))})
    return rows


def without_writer_of(lock: dict[str, Any] | None, page: str | None) -> dict[str, Any] | None:
    """dvc.lock minus the stage that writes `page`: that entry is this stage's previous run, stale by definition."""
    if not lock or not page:
        return lock
    stages = {name: entry for name, entry in (lock.get("stages") or {}).items()
              if page not in [str(o.get("path")) for o in (entry or {}).get("outs") or []]}
    return {**lock, "stages": stages}


def load(metrics: Path, plots: Path | None = None, tune: Path | None = None, explain: Path | None = None,
         impute: Path | None = None, outliers: Path | None = None, resample: Path | None = None,
         eda: Path | None = None, prepared: Path | None = None, params: Path | None = None,
         lock: Path | None = None, eda_html: str | None = None, page: str | None = None,
         cells: Path | None = None) -> ReportInputs:
    """Everything the page shows; only metrics.json is required. `page`: the output, relative to dvc.lock's folder."""
    confusion = read_json_file(plots / CONFUSION_FILE) if plots else None
    return ReportInputs(
        metrics=read_json_file(metrics, required=True), curves=read_curves(plots), confusion=confusion,
        tune=read_json_file(tune), explain=read_json_file(explain), impute=read_json_file(impute),
        outliers=read_json_file(outliers), resample=read_json_file(resample), eda=read_json_file(eda),
        cells=read_json_file(cells),
        meta=read_json_file(prepared / "meta.json") if prepared else None,
        params=mask_params(as_dict(load_params(params))) if params and params.is_file() else {},   # no password shown
        lock=without_writer_of(read_yaml_file(lock), page), commit=git_commit(lock.parent if lock else None),
        eda_html=eda_html)
