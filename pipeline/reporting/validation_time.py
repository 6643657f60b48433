"""The report's "Validation over time" section: the label built from the log, its periods, and in-time CV
next to the out-of-time test per model, with the fall in plain words.

Only for labels built from the event log (meta.json `label`); a customers table's target has no time. The
numbers are copied from metrics.json (cv_score: tuning's CV on the training period; the test score on the
same metric), never recomputed.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.evaluation.definitions import LABELS as METRIC_LABELS

KIND_WORDS = {"churn": "no {types} in the {days:g} days after the cutoff",
              "repeat": "at least one {types} in the {days:g} days after the cutoff",
              "event": "a {types} in the {days:g} days after the cutoff"}
HIGHER_IS_BETTER = {"roc_auc": True, "average_precision": True, "log_loss": False}


def _day(value: str | None) -> str:
    return "" if not value else pd.Timestamp(value).strftime("%Y-%m-%d")


def label_sentence(label: dict[str, Any], target: str) -> str:
    types = "event" if not label.get("event_types") else " or ".join(label["event_types"]) + " event"
    words = KIND_WORDS.get(label.get("kind"), "{types}").format(types=types, days=label.get("horizon_days", 0))
    history = label.get("min_history_days") or 0
    who = f", among customers with at least {history:g} days of history" if history else ""
    return f"The target {target} is built from the event log: 1 when there is {words}{who}."


def time_section(meta: dict[str, Any] | None, metrics: dict[str, Any]) -> dict[str, Any]:
    label = (meta or {}).get("label")
    if not label:
        return {"available": False}
    target = ((meta or {}).get("columns") or {}).get("target") or "target"
    windows, rates = label.get("window") or {}, label.get("positive_rate") or {}
    periods = [{"split": split, "customers": (meta or {}).get(f"n_{split}"), "cutoff": _day(span[0]),
                "end": _day(span[1]), "positive_rate": rates.get(split)}
               for split, span in windows.items()]
    metric = metrics.get("metric", "roc_auc")
    rows = [{"family": family, "cv": values.get("cv_score"), "test": values.get(metric)}
            for family in metrics.get("ranking") or [] if (values := (metrics.get("models") or {}).get(family))]
    out_of_time = label.get("split_method") == "time"
    return {"available": True, "out_of_time": out_of_time, "label": label_sentence(label, target),
            "periods": periods, "rows": rows, "metric": METRIC_LABELS.get(metric, metric),
            "summary": _summary(rows, metrics.get("best"), metric, out_of_time, periods)}


def _summary(rows: list[dict[str, Any]], best: str | None, metric: str, out_of_time: bool,
             periods: list[dict[str, Any]]) -> str:
    if not out_of_time:
        return ("Both validations are in time: the test customers were split at random from the same cutoff as the "
                "training customers. Set split.method: time to measure how a model fitted now scores the next period.")
    row = next((r for r in rows if r["family"] == best), None)
    if row is None or row["cv"] is None or row["test"] is None:
        return "No model has both an in-time and an out-of-time score."
    name = METRIC_LABELS.get(metric, metric)
    change = row["test"] - row["cv"]
    worse = change < 0 if HIGHER_IS_BETTER.get(metric, True) else change > 0
    train, test = (next((p for p in periods if p["split"] == s), {}) for s in ("train", "test"))
    verdict = f"it falls by {abs(change):.3f} over one period" if worse else f"it holds over one period ({change:+.3f})"
    return (f"Fitted on the customers as of {train.get('cutoff')} (labels up to {train.get('end')}) and tested on "
            f"the customers as of {test.get('cutoff')} (labels up to {test.get('end')}), the best model's {name} is "
            f"{row['cv']:.3f} in time (cross-validated within the training period) and {row['test']:.3f} out of "
            f"time: {verdict}. The out-of-time figure is the one to expect when the model scores the next period.")
