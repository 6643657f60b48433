"""The drift summary written next to the scores (scores.csv -> scores.drift.json) and its one log line.

PSI is read with the usual thresholds: < 0.1 stable, 0.1-0.25 moderate, > 0.25 large. A categorical column
is large too when more than UNSEEN_LARGE of the customers have a level never seen in training, and the share
of customers without events is large when it moves by more than NO_EVENTS_SHIFT (absolute). Below
MIN_CUSTOMERS scored customers PSI is mostly sampling noise (about (bins - 1) / n between identical
distributions, and an empty bin alone adds ~0.7), so the summary is written but not judged: the log line is
a note, not a warning. Layout ("bins" counts the missing bin; shares are per bin, then missing):

  {"format": "drift-summary/1", "n_scored": 400, "n_train": 128, "status": "large", "judged": true,
   "thresholds": {"stable_below": 0.1, "large_above": 0.25, ...},
   "top_drifting": [{"feature": "age", "psi": 3.1, "status": "large"}, ...],    (up to 5 with PSI >= 0.1)
   "no_events": {"train_share": 0.02, "scored_share": 0.03, "shift": 0.01, "status": "stable"},   (null: no log)
   "features": {"age": {"kind": "numeric", "psi": 3.1, "status": "large", "bins": 11,
                        "train_shares": [...], "scored_shares": [...]},
                "plan": {"kind": "categorical", ..., "levels": ["basic", "plus", "pro", "(unseen)", "(missing)"],
                         "unseen_share": 0.3, "unseen_examples": ["platinum"]}}}
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.io import write_json
from pipeline.monitoring.psi import DriftCounts, psi
from pipeline.monitoring.reference import DriftReference

FORMAT = "drift-summary/1"
STABLE_BELOW, LARGE_ABOVE = 0.1, 0.25
UNSEEN_LARGE = 0.05      # more than 5 % of the customers with a level training never saw
NO_EVENTS_SHIFT = 0.10   # the share without events moved by more than 10 points
MIN_CUSTOMERS = 200
TOP = 5
STATUSES = ("stable", "moderate", "large")
UNSEEN, MISSING = "(unseen)", "(missing)"

log = logging.getLogger(__name__)


def drift_path(out: Path) -> Path:
    """Where the summary of the scores file `out` goes: scores.csv -> scores.drift.json."""
    return out.with_suffix(".drift.json")


def psi_status(value: float) -> str:
    return "large" if value > LARGE_ABOVE else "moderate" if value >= STABLE_BELOW else "stable"


def _worst(statuses: list[str]) -> str:
    return max(statuses, key=STATUSES.index, default="stable")


def _compare(kind: str, expected: np.ndarray, counts: np.ndarray, n: int) -> dict[str, Any]:
    actual = counts / max(n, 1)
    value = psi(expected, actual)
    return {"kind": kind, "psi": round(value, 6), "status": psi_status(value), "bins": len(expected),
            "train_shares": np.round(expected, 6).tolist(), "scored_shares": np.round(actual, 6).tolist()}


def _no_events(reference: DriftReference, counts: DriftCounts) -> dict[str, Any] | None:
    if reference.no_events is None:
        return None
    share = counts.no_events / max(counts.n, 1)
    shift = share - reference.no_events
    status = "large" if abs(shift) > NO_EVENTS_SHIFT else "moderate" if abs(shift) > NO_EVENTS_SHIFT / 2 else "stable"
    return {"train_share": round(reference.no_events, 6), "scored_share": round(share, 6), "shift": round(shift, 6),
            "status": status}


def summarize(reference: DriftReference, counts: DriftCounts) -> dict[str, Any]:
    """The scored customers' counts against the reference: per-feature PSI and status, overall status."""
    n = counts.n
    features = {c: _compare("numeric", b.expected, counts.numeric[c], n) for c, b in reference.numeric.items()}
    for column, levels in reference.categorical.items():
        row = _compare("categorical", levels.expected, counts.categorical[column], n)
        unseen = float(counts.categorical[column][-2] / max(n, 1))
        row |= {"levels": [*levels.shares, UNSEEN, MISSING], "unseen_share": round(unseen, 6),
                "unseen_examples": list(counts.unseen_examples[column])}
        if unseen > UNSEEN_LARGE:
            row["status"] = "large"
        features[column] = row
    no_events = _no_events(reference, counts)
    ranked = sorted(features.items(), key=lambda item: -item[1]["psi"])   # stable: ties keep the reference order
    top = [{"feature": c, "psi": r["psi"], "status": r["status"]} for c, r in ranked if r["status"] != "stable"]
    statuses = [r["status"] for r in features.values()] + ([no_events["status"]] if no_events else [])
    return {"format": FORMAT, "n_scored": n, "n_train": reference.n_train, "status": _worst(statuses),
            "judged": n >= MIN_CUSTOMERS,
            "thresholds": {"stable_below": STABLE_BELOW, "large_above": LARGE_ABOVE, "unseen_share_large": UNSEEN_LARGE,
                           "no_events_shift_large": NO_EVENTS_SHIFT, "min_customers": MIN_CUSTOMERS},
            "top_drifting": top[:TOP], "no_events": no_events, "features": features}


def _named(summary: dict[str, Any]) -> str:
    """'age PSI 3.10, plan PSI 0.41 (30% unseen levels, e.g. ['platinum'])' for the top drifting features."""
    parts = []
    for item in summary["top_drifting"]:
        row = summary["features"][item["feature"]]
        unseen = (f" ({row['unseen_share']:.0%} unseen levels, e.g. {row['unseen_examples']})"
                  if row.get("unseen_share") else "")
        parts.append(f"{item['feature']} PSI {item['psi']:.2f}{unseen}")
    return ", ".join(parts)


def drift_message(summary: dict[str, Any], where: str) -> tuple[int, str]:
    """(logging level, the one line): a warning when drift is large, else an info line."""
    n, status, named = summary["n_scored"], summary["status"], _named(summary)
    events = summary["no_events"]
    moved = (f"customers without events {events['scored_share']:.0%} (train {events['train_share']:.0%})"
             if events and events["status"] != "stable" else "")
    found = "; ".join(p for p in (named and f"top drifting: {named}", moved) if p)
    if not summary["judged"]:
        return logging.INFO, (f"drift: {n:,} customers scored, too few to judge drift (PSI needs >= {MIN_CUSTOMERS}); "
                              f"{found or 'no feature with PSI >= 0.1'} -> {where}")
    if status == "large":
        return logging.WARNING, (f"drift: LARGE drift from the training data in the {n:,} scored customers: "
                                 f"{found}; the scores may be unreliable -> {where}")
    if status == "moderate":
        return logging.INFO, f"drift: moderate drift in the {n:,} scored customers: {found} -> {where}"
    return logging.INFO, f"drift: stable, no feature with PSI >= {STABLE_BELOW} in the {n:,} scored customers -> " \
                         f"{where}"


def write_summary(reference: DriftReference, counts: DriftCounts, out: Path, as_of: str = "") -> Path:
    """<out>.drift.json beside the scores file `out` (atomically), and its one log line; returns its path.
    `as_of`: the scores' reference time (ISO; empty for a model without time), recorded with them."""
    summary = {"as_of": as_of} | summarize(reference, counts)
    path = drift_path(out)
    write_json(summary, path)
    log.log(*drift_message(summary, str(path)))
    return path
