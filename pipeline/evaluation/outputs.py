"""Evaluate stage outputs: curve tables for `dvc plots`, the best-vs-runner-up verdict, atomic writes.

reports/plots/ (long format, every family in every file; "oracle" rows in roc/pr when known):
  roc.csv (model, fpr, tpr), pr.csv (model, recall, precision),
  calibration.csv (model, mean_predicted, observed, count), gains.csv (model, share_targeted, share_captured),
  confusion.json (best model at its threshold: model, threshold, tp, fp, fn, tn),
  confusion.csv (every family at its threshold: model, threshold, actual, predicted, count; for `dvc plots`).
dvc.yaml's top-level `plots:` draws one series per `model` through the templates in .dvc/plots/.
reports/predictions.csv: customer_id, target, one P(target=1) column per family, test customers only.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.io import atomic_dir, atomic_path, write_json
from pipeline.core.schema import ID, TARGET
from pipeline.evaluation import metrics as M
from pipeline.evaluation.leaderboard import Evaluation

log = logging.getLogger(__name__)

ORACLE = "oracle"
# metrics.curves key -> (file stem, {curve column: output column})
CURVES = {"roc": ("roc", {"fpr": "fpr", "tpr": "tpr"}),
          "pr": ("pr", {"recall": "recall", "precision": "precision"}),
          "calibration": ("calibration",
                          {"mean_predicted": "mean_predicted", "observed": "observed", "count": "count"}),
          "gains": ("gains", {"share_customers": "share_targeted", "share_positives": "share_captured"})}
WITH_ORACLE = ("roc", "pr")   # the oracle's calibration/gains add nothing a reader needs


def plot_tables(y: np.ndarray, probas: dict[str, np.ndarray], oracle: np.ndarray | None) -> dict[str, pd.DataFrame]:
    """Long-format curve tables, one per curve kind, every model in each (the oracle in roc/pr)."""
    parts: dict[str, list[pd.DataFrame]] = {stem: [] for stem, _ in CURVES.values()}
    named = {**probas, **({ORACLE: oracle} if oracle is not None else {})}
    for name, p in named.items():
        curves = M.curves(y, p)
        for kind, (stem, columns) in CURVES.items():
            if name == ORACLE and kind not in WITH_ORACLE:
                continue
            table = pd.DataFrame({out: curves[kind][src] for src, out in columns.items()})
            parts[stem].append(table.assign(model=name)[["model", *columns.values()]])
    return {stem: pd.concat(frames, ignore_index=True) for stem, frames in parts.items()}


def confusion(row: dict[str, Any], model: str) -> dict[str, Any]:
    return {"model": model, "threshold": row["threshold"], **row["confusion"]}


def confusion_table(rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Long-format confusion counts of every family at its own threshold (4 rows per family)."""
    cells = (("tp", 1, 1), ("fn", 1, 0), ("fp", 0, 1), ("tn", 0, 0))
    return pd.DataFrame([{"model": model, "threshold": row["threshold"], "actual": actual, "predicted": predicted,
                          "count": row["confusion"][key]}
                         for model, row in rows.items() for key, actual, predicted in cells])


SUMMARY_KEYS = ("roc_auc", "average_precision", "cv_score", "brier")


def summary(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The DVC metrics files: per family its CV rank (1 = best) and four numbers; the oracle when known.

    One small flat file per family, so `dvc metrics show` prints a table of one row per family
    (metrics.json keeps its full nested shape for the report and other tools)."""
    rows = {f: {"rank": i + 1, **{k: metrics["models"][f].get(k) for k in SUMMARY_KEYS}}
            for i, f in enumerate(metrics["ranking"])}
    if metrics.get(ORACLE):
        rows[ORACLE] = {k: metrics[ORACLE].get(k) for k in SUMMARY_KEYS if k in metrics[ORACLE]}
    return rows


def write_reports(result: Evaluation, metrics_path: Path, plots_dir: Path, predictions_path: Path,
                  summary_dir: Path) -> None:
    """metrics.json, the summary and plots directories (each replaced whole) and predictions.csv, atomically."""
    families = list(result.metrics["models"])
    y = result.predictions[TARGET].to_numpy().astype(int)
    tables = plot_tables(y, {f: result.predictions[f].to_numpy() for f in families}, result.oracle)
    best = result.metrics["best"]
    with atomic_dir(plots_dir) as tmp:
        for stem, table in tables.items():
            table.to_csv(tmp / f"{stem}.csv", index=False)
        write_json(confusion(result.metrics["models"][best], best), tmp / "confusion.json")
        confusion_table(result.metrics["models"]).to_csv(tmp / "confusion.csv", index=False)
    with atomic_path(predictions_path) as tmp:
        result.predictions[[ID, TARGET, *families]].to_csv(tmp, index=False)
    with atomic_dir(summary_dir) as tmp:
        for name, row in summary(result.metrics).items():
            write_json(row, tmp / f"{name}.json")
    write_json(result.metrics, metrics_path)
    log.info("evaluate: wrote %s, %s (%d curve files) and %s", metrics_path, plots_dir, len(tables), predictions_path)
