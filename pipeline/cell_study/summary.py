"""What the cells study reports: per run, fold scores with mean and sd, and the per-epoch curves over folds.

Values are made JSON-safe here (NaN and infinity become None): cells.json is read by the report, whose
inline figure JSON refuses them.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

RUNS = ("clipped", "unclipped")
EPOCH_KEYS = ("val_auc", "grad_norm_mean", "grad_norm_max")


def skipped(reason: str) -> dict[str, Any]:
    """cells.json when there is nothing to compare: the reason, no cells."""
    return {"skipped": reason, "cells": {}}


def summarise(fits: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold scores, their mean and sd (ddof=1: folds are a sample), seconds, and per-epoch curves."""
    scores = [f["score"] for f in fits]
    ok = [s for s in scores if s is not None]
    return {"fold_scores": scores, "mean": float(np.mean(ok)) if ok else None,
            "sd": float(np.std(ok, ddof=1)) if len(ok) > 1 else None, "diverged": len(scores) - len(ok),
            "capped": sum(f["capped"] for f in fits), "seconds": round(sum(f["seconds"] for f in fits), 3),
            "epochs": epoch_curve([f["history"] for f in fits]), "histories": [f["history"] for f in fits]}


def epoch_curve(histories: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per epoch, over the folds that reached it: mean validation AUC and mean norm, max of the max norms."""
    curve = []
    for epoch in range(max((len(h) for h in histories), default=0)):
        rows = [h[epoch] for h in histories if len(h) > epoch]
        values = {k: [r[k] for r in rows if r[k] is not None] for k in EPOCH_KEYS}
        curve.append({"epoch": epoch, "folds": len(rows),
                      "val_auc": float(np.mean(values["val_auc"])) if values["val_auc"] else None,
                      "grad_norm_mean": float(np.mean(values["grad_norm_mean"])) if values["grad_norm_mean"] else None,
                      "grad_norm_max": max(values["grad_norm_max"], default=None)})
    return curve


def metrics_summary(result: dict[str, Any]) -> dict[str, Any]:
    """The DVC metrics file: per cell, CV ROC-AUC mean and sd with and without clipping."""
    if result.get("skipped"):
        return {"skipped": result["skipped"]}
    return {cell: {f"{run}_{stat}": entry[run][stat] for run in RUNS for stat in ("mean", "sd")}
            for cell, entry in result["cells"].items()}


def finite(value: Any) -> Any:
    """JSON-safe: NaN and infinity become None (the report's JSON refuses them)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def fmt(run: dict[str, Any]) -> str:
    return "n/a" if run["mean"] is None else f"{run['mean']:.4f} ± {run['sd'] or 0:.4f}"
