"""Figures of the "Recurrent cells compared" section: Plotly for the page, one static SVG fallback (matplotlib).

Both draw, per cell and epoch (means over folds, from reports/cells.json): the validation ROC-AUC, and
the gradient norm before clipping on a log axis, the epoch's mean (solid) and its largest batch (dotted),
with and without clipping. One colour per cell on every chart.
"""
from __future__ import annotations

import logging
from typing import Any

import matplotlib
import plotly.graph_objects as go
from matplotlib.figure import Figure
from plotly.subplots import make_subplots

from pipeline.presentation.svg import style, to_svg
from pipeline.reporting.cell_comparison import RUNS, label
from pipeline.reporting.figures import REFERENCE, base_layout, colours, esc

log = logging.getLogger(__name__)

DASHES = {"clipped": "solid", "unclipped": "dot"}
MPL_DASHES = {"solid": "-", "dot": ":"}
NORMS = (("grad_norm_mean", "mean", 2.0), ("grad_norm_max", "largest batch", 1.2))   # key, name, line width


def series(entries: dict[str, Any], run: str, cell: str, key: str) -> tuple[list[int], list[float | None]]:
    epochs = ((entries.get(cell) or {}).get(run) or {}).get("epochs") or []
    return [e["epoch"] for e in epochs], [e.get(key) for e in epochs]


def cell_figures(cells: dict[str, Any] | None) -> dict[str, go.Figure]:
    """{"cells-auc": validation ROC-AUC per epoch, "cells-gradients": gradient norms per epoch}; {} without data."""
    entries = (cells or {}).get("cells") or {}
    if not entries or (cells or {}).get("skipped"):
        return {}
    palette = colours(list(entries))
    return {"cells-auc": auc_figure(entries, palette),
            "cells-gradients": gradient_figure(entries, palette, ((cells or {}).get("config") or {}).get("grad_clip"))}


def auc_figure(entries: dict[str, Any], palette: dict[str, str]) -> go.Figure:
    fig = go.Figure()
    for cell in entries:
        for run in RUNS:
            x, y = series(entries, run, cell, "val_auc")
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=esc(f"{label(cell, entries)}, {run}"),
                                     legendgroup=cell, line={"color": palette[cell], "dash": DASHES[run], "width": 2},
                                     marker={"size": 5}, hovertemplate=esc(f"{label(cell, entries)} ({run})")
                                     + "<br>epoch %{x}: ROC-AUC %{y:.4f}<extra></extra>"))
    fig.update_layout(**base_layout("Validation ROC-AUC per epoch (mean over folds)", "epoch", "ROC-AUC"))
    fig.update_xaxes(dtick=1)
    return fig


def gradient_figure(entries: dict[str, Any], palette: dict[str, str], clip: float | None) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=("with clipping", "without clipping"))
    for col, run in enumerate(RUNS, start=1):
        for cell in entries:
            for key, name, width in NORMS:
                x, y = series(entries, run, cell, key)
                dash = "solid" if key == "grad_norm_mean" else "dot"
                hover = esc(f"{label(cell, entries)} ({run}), {name}") + "<br>epoch %{x}: norm %{y:.3g}<extra></extra>"
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=esc(f"{label(cell, entries)}, {name}"), legendgroup=cell,
                                         showlegend=col == 1, hovertemplate=hover,
                                         line={"color": palette[cell], "width": width, "dash": dash}), row=1, col=col)
    last = max((len(((e.get(run) or {}).get("epochs") or [])) for e in entries.values() for run in RUNS), default=1)
    for col in (1, 2) if clip else ():   # a trace, not add_hline: its label lands at 10**clip on a log axis
        fig.add_trace(go.Scatter(x=[0, max(last - 1, 1)], y=[clip, clip], mode="lines", name="clip value",
                                 showlegend=col == 1, hoverinfo="skip",
                                 line={"color": REFERENCE, "dash": "dash", "width": 1.2}), row=1, col=col)
    fig.update_layout(**base_layout("Gradient norm per epoch (before clipping)", "epoch", "L2 norm (log scale)",
                                    height=380, margin={"l": 56, "r": 12, "t": 64, "b": 48}))
    fig.update_xaxes(title_text="epoch", dtick=1)
    fig.update_yaxes(type="log")
    return fig


def cells_svg(cells: dict[str, Any] | None) -> str | None:
    """The same three panels (AUC, norms clipped, norms unclipped) as one static SVG; None without data."""
    entries = (cells or {}).get("cells") or {}
    if not entries or (cells or {}).get("skipped"):
        return None
    palette = colours(list(entries))
    clip = ((cells or {}).get("config") or {}).get("grad_clip")
    with matplotlib.rc_context(style()):
        fig = Figure(figsize=(11.0, 3.6), layout="constrained")
        auc, *norms = fig.subplots(1, 3)
        norms[1].sharey(norms[0])
        for cell in entries:
            for run in RUNS:
                x, y = series(entries, run, cell, "val_auc")
                auc.plot(x, as_floats(y), color=palette[cell], ls=MPL_DASHES[DASHES[run]], marker="o", ms=2.5, lw=1.4,
                         label=label(cell, entries) if run == "clipped" else None)
            for ax, run in zip(norms, RUNS):
                for key, _, width in NORMS:
                    x, y = series(entries, run, cell, key)
                    ax.plot(x, as_floats(y), color=palette[cell], lw=width * 0.7,
                            ls="-" if key == "grad_norm_mean" else ":")
        auc.set(title="Validation ROC-AUC (solid clipped, dotted not)", xlabel="epoch", ylabel="ROC-AUC")
        auc.legend(loc="best")
        for ax, run in zip(norms, RUNS):
            if clip:
                ax.axhline(clip, color=REFERENCE, ls="--", lw=1)
            ax.set(yscale="log", title=f"Gradient norm, {'with' if run == 'clipped' else 'without'} clipping",
                   xlabel="epoch", ylabel="solid: mean, dotted: largest batch" if run == "clipped" else None)
        return to_svg(fig, "cells")


def as_floats(values: list[float | None]) -> list[float]:
    """None (a value cells.json could not hold, e.g. a diverged epoch) as NaN: matplotlib leaves a gap."""
    return [float("nan") if v is None else float(v) for v in values]
