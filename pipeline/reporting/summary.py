"""The report's numbers, shaped from reports/metrics.json: leaderboard, headline, threshold and confusion.

`leaderboard` is shared with the Streamlit app: one row per evaluated family in metrics.json's
ranking order (best by cross-validated score first), plus the oracle row when the data is
synthetic. Values are copied, never recomputed, so the page and the app show metrics.json exactly.
"""
from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd

from pipeline.evaluation.definitions import LABELS as METRIC_LABELS
from pipeline.presentation.formatting import DASH, fmt_int, fmt_pct

log = logging.getLogger(__name__)

ORACLE = "oracle"
ORACLE_LABEL = "Oracle (true probabilities)"
INTERVALS = ("roc_auc", "average_precision")   # metrics.json holds <name>_ci = [low, high]
PLAIN = ("cv_score", "roc_auc", "average_precision", "log_loss", "brier", "threshold", "f1", "precision", "recall",
         "lift_top_decile", "capture_top_decile", "fit_seconds", "predict_seconds",
         "n_trials", "n_complete", "n_pruned", "n_failed")
COLUMNS = ("family", "rank", "best", *PLAIN, "roc_auc_low", "roc_auc_high",
           "average_precision_low", "average_precision_high")
RULES = {
    "max_f1": "maximises F1 (the balance of precision and recall)",
    "youden": "maximises Youden's J (true-positive rate minus false-positive rate)",
    "cost": "minimises the expected cost when missing a positive costs {ratio:g}× as much as a false alarm",
}


def fmt_fixed(value: Any, digits: int = 3, sign: bool = False) -> str:
    """0.80963 -> '0.810' (fixed decimals, so a column lines up); None -> dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:{'+' if sign else ''}.{digits}f}"


def family_labels(tune: dict[str, Any] | None) -> dict[str, str]:
    """Display names as tune recorded them (e.g. 'Sequence model (GRU)'); a family without one shows its name."""
    out = {family: str((info or {}).get("label") or family)
           for family, info in ((tune or {}).get("families") or {}).items()}
    if (tune or {}).get("ensemble"):
        out["ensemble"] = "Ensemble"
    return {**out, ORACLE: ORACLE_LABEL}


def _row(family: str, values: dict[str, Any], rank: int | None, best: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"family": family, "rank": rank, "best": best}
    row.update({key: values.get(key) for key in PLAIN})
    for key in INTERVALS:
        low, high = (list(values.get(f"{key}_ci") or []) + [None, None])[:2]
        row[f"{key}_low"], row[f"{key}_high"] = low, high
    return row


def leaderboard(metrics: dict) -> pd.DataFrame:
    """One row per family, best (by CV) first, then the oracle row when known; missing values are NaN."""
    models = metrics.get("models") or {}
    ranking = [f for f in metrics.get("ranking") or list(models) if f in models]
    rows = [_row(f, models[f], i + 1, f == metrics.get("best")) for i, f in enumerate(ranking)]
    if metrics.get(ORACLE):
        rows.append(_row(ORACLE, metrics[ORACLE], None, False))
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    numeric = [c for c in COLUMNS if c not in ("family", "best")]
    table[numeric] = table[numeric].astype(float)
    return table.astype({"best": bool})


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Leaderboard rows as dicts with None (not NaN) for missing values, for the template."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in table.to_dict("records")]


def gain_over_chance(model_auc: float | None, oracle_auc: float | None) -> float | None:
    """Share of the oracle's ROC-AUC gain over chance (0.5) that the model reaches."""
    if model_auc is None or oracle_auc is None or oracle_auc <= 0.5:
        return None
    return (model_auc - 0.5) / (oracle_auc - 0.5)


def threshold_rationale(rule: str | None, cost_ratio: float | None, threshold: float | None) -> str:
    """Why the best model flags customers above this threshold, in plain language."""
    if threshold is None:
        return "No threshold was recorded; 0.5 is used."
    how = RULES.get(rule or "", "follows the rule {rule!r}").format(ratio=cost_ratio or 0, rule=rule)
    return (f"Customers scoring at least {threshold:.3f} are flagged. This threshold {how} on out-of-fold "
            "predictions for the training customers; it was never tuned on the test set.")


def confusion_summary(confusion: dict[str, Any] | None) -> dict[str, Any] | None:
    """2×2 counts with the shares a manager asks about: how many positives are caught, how many flags are right."""
    if not confusion or any(k not in confusion for k in ("tp", "fp", "fn", "tn")):
        return None
    tp, fp, fn, tn = (int(confusion[k]) for k in ("tp", "fp", "fn", "tn"))
    n, flagged, positives = tp + fp + fn + tn, tp + fp, tp + fn
    recall = tp / positives if positives else None
    precision = tp / flagged if flagged else None
    sentence = (f"Of {fmt_int(positives)} positive test customers, {fmt_int(tp)} ({fmt_pct(recall)}) are flagged; "
                f"of the {fmt_int(flagged)} customers flagged ({fmt_pct(flagged / n if n else None)} of all), "
                f"{fmt_pct(precision)} are positive.")
    return {"model": confusion.get("model"), "threshold": confusion.get("threshold"), "tp": tp, "fp": fp, "fn": fn,
            "tn": tn, "n": n, "recall": recall, "precision": precision, "sentence": sentence}


def headline(metrics: dict[str, Any], table: pd.DataFrame) -> dict[str, Any]:
    """The top of the page: best family, its test ROC-AUC with CI, vs oracle, significance, test size."""
    rows = {r["family"]: r for r in records(table)}
    best = rows.get(metrics.get("best"))
    oracle = rows.get(ORACLE)
    comparison = metrics.get("comparison") or {}
    if comparison.get("verdict") and comparison.get("p_value") is not None:
        significance = (f"{comparison['verdict']} Paired bootstrap on the same {fmt_int(metrics.get('n_test'))} "
                        f"test customers, p = {comparison['p_value']:.2f}.")
    else:
        significance = comparison.get("verdict") or "Only one model was evaluated: there is no runner-up to compare."
    n, pos = metrics.get("n_test"), metrics.get("positives_test")
    ci = comparison.get("ci") or [None, None]
    significant = None if None in ci[:2] or len(ci) < 2 else not ci[0] <= 0 <= ci[1]
    return {"best": best, "oracle": oracle, "significance": significance, "significant": significant,
            "n_test": n, "positives_test": pos,
            "positive_rate": pos / n if n and pos is not None else None,
            "metric": METRIC_LABELS.get(metrics.get("metric", ""), metrics.get("metric")),
            "gain": gain_over_chance(best and best["roc_auc"], oracle and oracle["roc_auc"]),
            "n_models": len([r for r in rows if r != ORACLE])}


def interval_bars(rows: list[dict[str, Any]], key: str = "roc_auc") -> dict[str, dict[str, float]]:
    """Per family, CSS percentages placing its point estimate and 95 % interval on one shared scale."""
    spans = [(r["family"], r[key], r[f"{key}_low"], r[f"{key}_high"]) for r in rows if r.get(key) is not None]
    values = [v for _, p, lo, hi in spans for v in (p, lo, hi) if v is not None]
    if not values:
        return {}
    low, high = min(values), max(values)
    pad = max((high - low) * 0.08, 0.005)
    low, high = low - pad, high + pad

    def at(v: float) -> float:
        return round(100 * (v - low) / (high - low), 2)

    return {f: {"point": at(p), "left": at(lo if lo is not None else p),
                "width": round(at(hi if hi is not None else p) - at(lo if lo is not None else p), 2)}
            for f, p, lo, hi in spans}
