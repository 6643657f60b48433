"""The report's lower sections, each from one stage's file: tuning (tune.json), explanations
(explain.json), data and pipeline (prepare/impute/outliers/resample/eda outputs, params, dvc.lock).

Each builder returns (section dict for the template, {figure id: plotly figure}); a missing file
gives a section with `available: False`, which the page shows as "not available".
"""
from __future__ import annotations

import logging
from typing import Any

import plotly.graph_objects as go

from pipeline.core.secrets import mask_value
from pipeline.reporting.figures import PALETTE, bar_figure, history_figure
from pipeline.reporting.inputs import ReportInputs, data_hashes
from pipeline.reporting.summary import METRIC_LABELS, family_labels

log = logging.getLogger(__name__)

TOP_FEATURES = 15          # bars per explanation chart; the full lists stay in explain.json
Figures = dict[str, go.Figure]


def tuning(tune: dict[str, Any] | None, ranking: list[str]) -> tuple[dict[str, Any], Figures]:
    """Per family: counts, best params, history and parameter-importance figures."""
    if not tune:
        return {"available": False}, {}
    families, figures = [], {}
    metric = str(tune.get("metric", "score"))
    shown = METRIC_LABELS.get(metric, metric)
    labels = family_labels(tune)
    entries = tune.get("families") or {}
    order = [f for f in ranking if f in entries] + [f for f in entries if f not in ranking]
    for i, family in enumerate(order):
        info = entries[family] or {}
        if "skipped" in info:
            families.append({"family": family, "label": labels.get(family, family), "skipped": info["skipped"]})
            continue
        history = info.get("history") or []
        failures = [{"number": h.get("number"), "reason": h.get("fail_reason") or "no reason recorded"}
                    for h in history if h.get("state") == "FAIL"]
        if (fig := history_figure(family, history, shown, metric != "log_loss")) is not None:
            figures[f"history-{i}"] = fig
        importances = info.get("importances") or {}
        if importances:
            names = list(importances)
            figures[f"importance-{i}"] = bar_figure(f"{family}: parameter importance (fANOVA)", names,
                                                    [importances[n] for n in names], "importance")
        families.append({"family": family, "label": labels.get(family, family), "index": i, "info": info,
                         "failures": failures, "params": info.get("params") or {},
                         "has_history": f"history-{i}" in figures, "has_importance": bool(importances)})
    return {"available": True, "metric": metric, "folds": tune.get("folds"), "seed": tune.get("seed"),
            "storage": mask_value(str(tune.get("storage") or "")),   # an older tune.json may hold it unmasked
            "families": families, "budget": budget_rows(tune, labels),
            "ensemble": ensemble_rows(tune.get("ensemble"), labels)}, figures


def budget_rows(tune: dict[str, Any], labels: dict[str, str]) -> dict[str, Any] | None:
    """How tune.timeout was spent: the race per family, then final fits and the ensemble."""
    budget = tune.get("budget")
    if not budget:
        return None
    rows = [{"family": f, "label": labels.get(f, f), **row} for f, row in (budget.get("families") or {}).items()]
    return {**{k: v for k, v in budget.items() if k != "families"}, "rows": rows}


def ensemble_rows(ensemble: dict[str, Any] | None, labels: dict[str, str]) -> dict[str, Any] | None:
    """Members and weights of the blend, heaviest first, with each candidate's own CV score."""
    if not ensemble:
        return None
    candidates = ensemble.get("candidates") or {}
    weights = ensemble.get("members") or {}
    members = [{"family": f, "label": labels.get(f, f), "weight": weights.get(f, 0.0),
                "cv_score": (candidates.get(f) or {}).get("cv_score")}
               for f in sorted(candidates, key=lambda f: -weights.get(f, 0.0))]
    return {"cv_score": ensemble.get("cv_score"), "threshold": ensemble.get("threshold"),
            "calibration": (ensemble.get("calibration") or {}).get("method"), "members": members}


def explanations(explain: dict[str, Any] | None) -> tuple[dict[str, Any], Figures]:
    """Permutation importance (best tree model), logreg coefficients, sequence-model perturbations."""
    if not explain:
        return {"available": False}, {}
    figures: Figures = {}
    perm, coef, seq = explain.get("permutation"), explain.get("coefficients"), explain.get("sequence")
    metric = str(explain.get("metric", "score"))
    shown = METRIC_LABELS.get(metric, metric)
    if perm and perm.get("features"):
        top = perm["features"][:TOP_FEATURES]
        figures["explain-permutation"] = bar_figure(
            f"{perm.get('family')}: permutation importance on test", [f["feature"] for f in top],
            [f["mean"] for f in top], f"drop in test {shown} when shuffled", errors=[f.get("std") or 0 for f in top])
    if coef and coef.get("features"):
        top = coef["features"][:TOP_FEATURES]
        values = [f["coef"] for f in top]
        figures["explain-coefficients"] = bar_figure(
            f"{coef.get('family')}: largest coefficients (scaled inputs)", [f["feature"] for f in top], values,
            "coefficient (log-odds per unit of scaled input)",
            colour=[PALETTE[4] if v > 0 else PALETTE[0] for v in values])
    if seq and seq.get("drop_event_type"):
        rows = seq["drop_event_type"][:TOP_FEATURES]
        figures["explain-events"] = bar_figure(
            f"{seq.get('family')}: events removed by type", [str(r["event_type"]) for r in rows],
            [r["drop"] for r in rows], f"drop in test {shown}", colour=PALETTE[1])
    return {"available": True, "metric": metric, "n_test": explain.get("n_test"), "permutation": perm,
            "coefficients": coef, "sequence": seq, "skipped": explain.get("skipped") or {}}, figures


def _imputed(impute: dict[str, Any] | None) -> list[dict[str, Any]]:
    columns = (impute or {}).get("columns") or {}
    return [{"column": c, **v} for c, v in columns.items() if v.get("filled_train") or v.get("filled_test")]


def _fenced(outliers: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [{"column": c, **v} for c, v in ((outliers or {}).get("columns") or {}).items()]


def data_pipeline(inputs: ReportInputs) -> dict[str, Any]:
    """Rows and columns in, imputation, outliers, SMOTE, event log, params, commit and data hashes."""
    meta = inputs.meta or {}
    events = (inputs.eda or {}).get("events") or {}
    tuned = ((inputs.tune or {}).get("families") or {}).values()
    widths = [len(i.get("feature_columns") or []) for i in tuned if i and i.get("input") == "matrix"]
    return {"meta": inputs.meta, "n_model_columns": max(widths, default=None), "impute": inputs.impute,
            "imputed": _imputed(inputs.impute), "outliers": inputs.outliers, "fenced": _fenced(inputs.outliers),
            "resample": inputs.resample,
            "events": {"has_events": bool(meta.get("has_events")), "n_events": meta.get("n_events"),
                       "types": meta.get("event_types") or [], "cutoff": meta.get("cutoff"),
                       "per_customer": (events.get("per_customer") or {}).get("train"),
                       "time": events.get("time")},
            "params": inputs.params, "commit": inputs.commit, "hashes": data_hashes(inputs.lock),
            "eda_html": inputs.eda_html}
