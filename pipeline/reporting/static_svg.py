"""Static fallback of the four curves: one inline SVG (matplotlib) shown when JavaScript is off and on paper.

Same data and colours as the interactive Plotly charts (figures.py); matplotlib escapes its
text, and pipeline.presentation.svg.to_svg keeps the SVG deterministic with ids prefixed for one shared page.
"""
from __future__ import annotations

import logging

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from pipeline.presentation.svg import short, style, to_svg
from pipeline.reporting.figures import CURVES, ORACLE, REFERENCE, colours

log = logging.getLogger(__name__)


def curves_svg(tables: dict[str, pd.DataFrame]) -> str | None:
    """A 2×2 grid (ROC, PR, calibration, gains) of every model; None when there is no curve table."""
    kinds = [k for k in CURVES if k in tables and len(tables[k])]
    if not kinds:
        return None
    palette = colours([m for k in kinds for m in tables[k]["model"].astype(str)])
    with matplotlib.rc_context(style()):
        fig = Figure(figsize=(9.6, 7.4), layout="constrained")
        axes = fig.subplots(2, 2).ravel()
        for ax, kind in zip(axes, kinds):
            x, y, title, x_label, y_label = CURVES[kind]
            for model, part in tables[kind].groupby("model", sort=False):
                ax.plot(part[x], part[y], color=palette.get(str(model)), lw=1.1 if model == ORACLE else 1.6,
                        ls="--" if model == ORACLE else "-", marker="o" if kind == "calibration" else None,
                        ms=3, label=short(model, 22))
            if kind != "pr":
                ax.plot([0, 1], [0, 1], color=REFERENCE, ls=":", lw=1)
            ax.set(xlim=(0, 1), ylim=(0, 1.02), title=title, xlabel=x_label, ylabel=y_label)
        for ax in axes[len(kinds):]:
            ax.set_visible(False)
        axes[0].legend(loc="lower right")
        return to_svg(fig, "curves")
