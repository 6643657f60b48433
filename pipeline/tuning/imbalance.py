"""Class imbalance as a tuned choice of every tabular family: `imbalance` in configs/<family>.yaml.

    none     fit on the rows as they are (probabilities stay calibrated-ish; often the best AUC)
    weights  the family's own class reweighting (Family.balanced: class_weight, scale_pos_weight ...)
    smote    over-sample the fold's training part with params.resample (SMOTE inside the fold: leakage rule 3)

A space without `imbalance` keeps the old behaviour: params.resample decides (SMOTE by default) and
the family's weight params are tuned as written. Above resample.max_rows training rows `smote` leaves the
choices (`within_size`): SMOTE's neighbour search does not scale (17 min for 800k rows).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pipeline.core.params import ResampleParams
from pipeline.models.family import Family

log = logging.getLogger(__name__)

IMBALANCE = "imbalance"
CHOICES = ("none", "weights", "smote")


def plan(fam: Family, params: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """(params for fam.build, whether the training rows go through the over-sampler)."""
    choice = params.get(IMBALANCE)
    rest = {k: v for k, v in params.items() if k != IMBALANCE}
    if choice is None:
        return rest, True
    if choice not in CHOICES:
        raise ValueError(f"{fam.name}: imbalance must be one of {list(CHOICES)}, got {choice!r}.")
    if choice == "weights":
        if not fam.balanced:
            raise ValueError(f"{fam.name}: has no class weights; imbalance 'weights' is not available.")
        return {**rest, **fam.balanced}, False
    return rest, choice == "smote"


def describe(fam: Family, params: Mapping[str, Any], resample_method: str) -> str:
    """What the fit did about imbalance, for info.json and the report."""
    if fam.inputs == "sequence":
        return "class-weighted loss (the sequence model never resamples)"
    choice = params.get(IMBALANCE)
    if choice is None:
        return f"{resample_method} (params.resample; not tuned)" if resample_method != "none" else "none (not tuned)"
    return choice


def within_size(family: str, space: dict[str, dict[str, Any]], n_rows: int, p: ResampleParams) -> dict[str, dict[str, Any]]:
    """The space without the `smote` choice when the training set is larger than resample.max_rows."""
    choices = (space.get(IMBALANCE) or {}).get("choices") or []
    if p.max_rows is None or n_rows <= p.max_rows or "smote" not in choices:
        return space
    kept = [c for c in choices if c != "smote"] or ["none"]
    log.info("tune %s: imbalance choices %s, not smote: %s training rows is above resample.max_rows %s",
             family, kept, f"{n_rows:,}", f"{p.max_rows:,}")
    return {**space, IMBALANCE: {"choices": kept}}
