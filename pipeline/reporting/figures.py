"""Plotly figures for the report (and the Streamlit app), built from the stages' files alone.

Every family keeps one colour on every chart (ranking order: the best model first); the oracle is
a dashed grey line. Text from the data (family, feature, parameter names) is HTML-escaped before it
reaches Plotly, which renders a subset of HTML in labels.
"""
from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from pipeline.reporting.inputs import read_curves

log = logging.getLogger(__name__)

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#9D755D", "#EECA3B")
ORACLE, ORACLE_COLOUR, REFERENCE = "oracle", "#6b6b6b", "#b9bdc2"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif"
# curve name -> (x column, y column, title, x label, y label)
CURVES = {"roc": ("fpr", "tpr", "ROC curve", "false-positive rate", "true-positive rate (recall)"),
          "pr": ("recall", "precision", "Precision-recall", "recall", "precision"),
          "calibration": ("mean_predicted", "observed", "Calibration (reliability)", "mean predicted probability",
                          "observed positive rate"),
          "gains": ("share_targeted", "share_captured", "Cumulative gains", "share of customers targeted (by score)",
                    "share of positives captured")}
HEIGHT = 360


def esc(text: Any) -> str:
    return html.escape(str(text), quote=False)


def colours(models: list[str]) -> dict[str, str]:
    """One colour per model, in order of first appearance; the oracle is always grey."""
    families = [m for m in dict.fromkeys(models) if m != ORACLE]
    return {**{m: PALETTE[i % len(PALETTE)] for i, m in enumerate(families)}, ORACLE: ORACLE_COLOUR}


def base_layout(title: str, x_title: str, y_title: str, height: int = HEIGHT, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "x": 0.01, "font": {"size": 14}}, "height": height, "template": "plotly_white",
            "font": {"family": FONT, "size": 12}, "margin": {"l": 56, "r": 12, "t": 40, "b": 48},
            "xaxis": {"title": {"text": x_title}}, "yaxis": {"title": {"text": y_title}},
            "legend": {"orientation": "h", "y": -0.22, "x": 0}, "hovermode": "closest", **extra}


def _reference(kind: str, table: pd.DataFrame) -> go.Scatter | None:
    """The no-skill line of each chart: chance diagonal, base rate, perfect calibration, random targeting."""
    line = {"color": REFERENCE, "dash": "dot", "width": 1.5}
    if kind == "pr":
        rate = table.loc[table["model"] != ORACLE, "precision"].min()   # precision at recall 1 = base rate
        return go.Scatter(x=[0, 1], y=[rate, rate], mode="lines", line=line, name="no skill", hoverinfo="skip")
    names = {"roc": "chance", "calibration": "perfectly calibrated", "gains": "random targeting"}
    return go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=line, name=names[kind], hoverinfo="skip")


def curve_figure(kind: str, table: pd.DataFrame, palette: dict[str, str]) -> go.Figure:
    """All models of one long-format curve table on shared axes."""
    x, y, title, x_title, y_title = CURVES[kind]
    fig = go.Figure()
    for model, part in table.groupby("model", sort=False):
        oracle = model == ORACLE
        hover = f"{esc(model)}<br>{x_title}: %{{x:.3f}}<br>{y_title}: %{{y:.3f}}<extra></extra>"
        fig.add_trace(go.Scatter(
            x=part[x].tolist(), y=part[y].tolist(), name=esc(model), hovertemplate=hover,
            mode="lines+markers" if kind == "calibration" else "lines",
            line={"color": palette.get(model), "width": 1.6 if oracle else 2.2, "dash": "dash" if oracle else "solid"},
            marker={"size": 6}))
    if (ref := _reference(kind, table)) is not None:
        fig.add_trace(ref)
    fig.update_layout(**base_layout(title, x_title, y_title))
    fig.update_xaxes(range=[0, 1], constrain="domain")
    fig.update_yaxes(range=[0, 1.02])
    if kind == "gains":
        fig.add_vline(x=0.1, line={"color": REFERENCE, "width": 1}, annotation_text="top 10 %",
                      annotation_position="top right")
    return fig


def curve_figures_from(tables: dict[str, pd.DataFrame]) -> dict[str, go.Figure]:
    """Figures for the curve tables given (keys among roc, pr, calibration, gains)."""
    order = [m for name in CURVES if name in tables for m in tables[name]["model"].astype(str)]
    palette = colours(order)
    return {kind: curve_figure(kind, tables[kind].astype({"model": str}), palette)
            for kind in CURVES if kind in tables and len(tables[kind])}


def curve_figures(plots_dir: Path) -> dict[str, go.Figure]:
    """ROC, PR, calibration and cumulative gains of every family, from reports/plots/*.csv."""
    return curve_figures_from(read_curves(Path(plots_dir)))


def history_figure(family: str, history: list[dict[str, Any]], metric: str, maximise: bool) -> go.Figure | None:
    """Each trial's CV score (pruned trials at their last reported score) and the best so far."""
    done = [h for h in history if h.get("value") is not None and h.get("state") in ("COMPLETE", "PRUNED")]
    if not done:
        return None
    fig = go.Figure()
    for state, colour, symbol in (("COMPLETE", PALETTE[0], "circle"), ("PRUNED", REFERENCE, "x")):
        rows = [h for h in done if h["state"] == state]
        if rows:
            fig.add_trace(go.Scatter(
                x=[h["number"] for h in rows], y=[h["value"] for h in rows], mode="markers", name=state.lower(),
                marker={"color": colour, "symbol": symbol, "size": 7},
                hovertemplate="trial %{x}<br>" + esc(metric) + " %{y:.4f}<extra>" + state.lower() + "</extra>"))
    best, xs, ys = None, [], []
    for h in sorted((h for h in done if h["state"] == "COMPLETE"), key=lambda h: h["number"]):
        if best is None or (h["value"] > best if maximise else h["value"] < best):
            best = h["value"]
        xs.append(h["number"])
        ys.append(best)
    if xs and (last := max(h["number"] for h in done)) > xs[-1]:   # carry the step to the last trial
        xs.append(last)
        ys.append(ys[-1])
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"shape": "hv", "color": PALETTE[1], "width": 2},
                             name="best so far", hoverinfo="skip"))
    fig.update_layout(**base_layout(f"{esc(family)}: optimisation history", "trial", f"CV {esc(metric)}", 300))
    if max(h["number"] for h in done) < 10:   # trial numbers are integers: no 0.2 ticks on short studies
        fig.update_xaxes(dtick=1)
    return fig


def bar_figure(title: str, names: list[str], values: list[float], x_title: str, errors: list[float] | None = None,
               colour: str | list[str] = PALETTE[0]) -> go.Figure:
    """Horizontal bars, the first name on top."""
    fig = go.Figure(go.Bar(x=values, y=[esc(n) for n in names], orientation="h", marker={"color": colour},
                           error_x={"type": "data", "array": errors, "visible": True} if errors else None,
                           hovertemplate="%{y}: %{x:.4g}<extra></extra>"))
    height = max(220, 60 + 22 * len(names))
    fig.update_layout(**base_layout(title, x_title, "", height, showlegend=False))
    fig.update_layout(margin={"l": 10, "r": 12, "t": 40, "b": 48})
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig
