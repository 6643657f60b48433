"""The cells stage's runs: RNN vs LSTM vs GRU vs Transformer, each with and without gradient clipping.

Every cell gets the SAME fixed configuration (CellsParams), the same seeded stratified folds of the
TRAIN customers and the same model seed, so only the cell (and clipping) differs. Each fold's held-out
part is scored by ROC-AUC and never fitted on; the per-epoch validation ROC-AUC is the classifier's own
early-stopping hold-out inside the fold's training rows. All epochs run (patience = max_epochs), so the
per-epoch curves line up; the kept weights are still the best epoch's. torch is imported only when a
fit runs, so importing the stage stays cheap.
"""
from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from pipeline.cell_study.summary import EPOCH_KEYS, RUNS, finite, fmt, skipped, summarise
from pipeline.core.errors import InputError
from pipeline.core.params import CellsParams
from pipeline.events.sequences import SequenceBatch
from pipeline.models.sequence.cell_names import CELLS, GATED, LABELS

log = logging.getLogger(__name__)

# One torch thread: these nets are tiny, and two threads on two cores that another process also uses
# ran an RNN epoch ~10x slower (OpenMP threads wait on each other), which would make the time cap bite.
THREADS = 1
Folds = list[tuple[np.ndarray, np.ndarray]]


def check_params(p: CellsParams) -> None:
    """Raise InputError naming the cells.* setting that cannot run."""
    if unknown := sorted(set(p.cells or ()) - set(CELLS)):
        raise InputError(f"params: cells.cells holds unknown cell(s) {unknown}; known cells: {list(CELLS)}.")
    if p.cells == [] or p.folds < 2 or p.max_epochs < 1 or not p.grad_clip > 0 or not p.seconds_per_cell > 0:
        raise InputError(f"params: cells needs at least one cell, folds >= 2, max_epochs >= 1, grad_clip > 0 and "
                         f"seconds_per_cell > 0; got {p}.")


def sample_rows(y: np.ndarray, max_customers: int | None, seed: int) -> np.ndarray:
    """Row indices of a seeded, stratified sample of at most `max_customers` customers (all when None)."""
    rows = np.arange(len(y))
    if max_customers is None or max_customers >= len(y):
        return rows
    kept, _ = train_test_split(rows, train_size=max_customers, stratify=y, random_state=seed)
    return np.sort(kept)


def compare_cells(batch: SequenceBatch, y: np.ndarray, p: CellsParams, seed: int) -> dict[str, Any]:
    """Fold scores and per-epoch curves of every cell in `p.cells`, on TRAIN customers only."""
    check_params(p)
    rows = sample_rows(y, p.max_customers, seed)
    batch, y = batch.subset(rows), y[rows]
    if (smallest := int(np.bincount(y, minlength=2).min())) < 2 * p.folds:
        return skipped(f"{smallest} customers in the smaller class: too few for {p.folds} folds "
                       "with an early-stopping hold-out inside each")
    folds = list(StratifiedKFold(p.folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    cells = {cell: compare_cell(cell, batch, y, folds, p, seed) for cell in (p.cells or CELLS)}
    config = {k: getattr(p, k) for k in ("hidden_size", "max_len", "lr", "max_epochs", "batch_size", "grad_clip",
                                          "seconds_per_cell", "device")}
    return {"skipped": None, "metric": "roc_auc", "seed": seed, "folds": p.folds, "n_customers": len(y),
            "positives": int(y.sum()), "config": config, "cells": cells}


def compare_cell(cell: str, batch: SequenceBatch, y: np.ndarray, folds: Folds, p: CellsParams,
                 seed: int) -> dict[str, Any]:
    """Both runs (clipped, unclipped) of one cell on every fold, within the cell's time cap."""
    start = time.monotonic()
    n_fits, fits = len(RUNS) * len(folds), {run: [] for run in RUNS}
    # Runs alternate fold by fold, so a time cap (or a busy machine) hits clipped and unclipped alike.
    for done, ((fit_rows, held_rows), run) in enumerate(itertools.product(folds, RUNS), start=1):
        # Each fit may use its even share of the cap plus whatever the earlier fits left over.
        stop_at = start + p.seconds_per_cell * done / n_fits
        clip = p.grad_clip if run == "clipped" else None
        fits[run].append(fit_fold(cell, clip, batch, y, fit_rows, held_rows, p, seed, stop_at))
    out: dict[str, Any] = {"label": LABELS.get(cell, cell), "gated": cell in GATED,
                           **{run: summarise(fits[run]) for run in RUNS}}
    out["seconds"] = round(time.monotonic() - start, 3)
    log.info("cells: %s CV ROC-AUC %s clipped, %s unclipped (%.1f s)", cell, fmt(out["clipped"]),
             fmt(out["unclipped"]), out["seconds"])
    return out


def fit_fold(cell: str, clip: float | None, batch: SequenceBatch, y: np.ndarray, fit_rows: np.ndarray,
             held_rows: np.ndarray, p: CellsParams, seed: int, stop_at: float) -> dict[str, Any]:
    """Fit on one fold's training rows, score its held-out rows; a diverged fit scores None."""
    from pipeline.models.sequence.classifier import SequenceClassifier

    model = SequenceClassifier(cell=cell, hidden_size=p.hidden_size, max_len=p.max_len, lr=p.lr,
                               max_epochs=p.max_epochs, patience=p.max_epochs, batch_size=p.batch_size,
                               grad_clip=clip, device=p.device, random_state=seed, num_threads=THREADS, stop_at=stop_at,
                               on_epoch=lambda epoch, score: time.monotonic() > stop_at)
    start = time.monotonic()
    try:
        model.fit(batch.subset(fit_rows), y[fit_rows])
    except FloatingPointError:   # unclipped runs may explode before any epoch scores: that is a result too
        return {"score": None, "seconds": time.monotonic() - start, "history": [], "capped": False}
    proba = model.predict_proba(batch.subset(held_rows))[:, 1]
    score = float(roc_auc_score(y[held_rows], proba)) if np.isfinite(proba).all() else None
    history = [{k: finite(h[k]) for k in ("epoch", "train_loss", *EPOCH_KEYS, "grad_norm_nonfinite")}
               for h in model.history_]
    return {"score": score, "seconds": time.monotonic() - start, "history": history,
            "capped": len(history) < p.max_epochs}
