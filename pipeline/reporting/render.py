"""The comparison page: every value and figure it shows, from the loaded inputs, through the Jinja template.

One self-contained file: plotly.js, every figure's data and a static SVG of the curves are inline,
and every string from the data goes through Jinja's autoescape.
"""
from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs
from plotly.utils import PlotlyJSONEncoder

from pipeline.presentation.formatting import fmt_int, fmt_num, fmt_pct
from pipeline.reporting import sections as S
from pipeline.reporting import summary as D
from pipeline.reporting.cell_comparison import cells_section
from pipeline.reporting.cell_figures import cell_figures, cells_svg
from pipeline.reporting.validation_time import time_section
from pipeline.reporting.figures import curve_figures_from
from pipeline.reporting.inputs import ReportInputs
from pipeline.reporting.static_svg import curves_svg

TEMPLATE = "report.html.j2"
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}


def script_json(value: Any) -> Markup:
    """JSON safe inside <script>: '<', '>' and '&' as \\u escapes, so data can never close the tag."""
    text = json.dumps(value, cls=PlotlyJSONEncoder, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return Markup(text)


def figure_payload(figures: dict[str, go.Figure]) -> Markup:
    return script_json({key: fig.to_plotly_json() for key, fig in figures.items()})


def context(inputs: ReportInputs) -> dict[str, Any]:
    """Every value the template shows; `figures` holds every Plotly figure it draws, by id."""
    metrics = inputs.metrics
    table = D.leaderboard(metrics)
    curves = curve_figures_from(inputs.curves)
    tuning, tuning_figs = S.tuning(inputs.tune, list(metrics.get("ranking") or []))
    explain, explain_figs = S.explanations(inputs.explain)
    cells, cells_figs = cells_section(inputs.cells), cell_figures(inputs.cells)
    evaluate = inputs.params.get("evaluate") or {}
    threshold = (metrics.get("models") or {}).get(metrics.get("best"), {}).get("threshold")
    columns = (inputs.meta or {}).get("columns") or {}
    return {"head": D.headline(metrics, table), "rows": D.records(table), "skipped": metrics.get("skipped") or {},
            "target": columns.get("target") or "target", "curves": list(curves),
            "curves_svg": Markup(curves_svg(inputs.curves) or ""), "confusion": D.confusion_summary(inputs.confusion),
            "rationale": D.threshold_rationale(evaluate.get("threshold_rule"), evaluate.get("cost_ratio"), threshold),
            "tuning": tuning, "explain": explain, "data": S.data_pipeline(inputs),
            "cells": {**cells, "svg": Markup(cells_svg(inputs.cells) or "")},
            "over_time": time_section(inputs.meta, metrics),
            "figures": {**curves, **tuning_figs, **explain_figs, **cells_figs}}


def render(inputs: ReportInputs) -> str:
    """The whole page; every string from the data goes through Jinja's autoescape."""
    env = Environment(loader=PackageLoader("pipeline.reporting", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    labels = D.family_labels(inputs.tune)
    env.filters.update(filters(), label=lambda family: labels.get(family, family))
    values = context(inputs)
    figures = values.pop("figures")
    return env.get_template(TEMPLATE).render(
        **values, figures=figure_payload(figures), figure_ids=list(figures), plot_config=script_json(PLOT_CONFIG),
        plotly_js=Markup(get_plotlyjs()))


def filters() -> dict[str, Any]:
    """Formatting for the template: fixed decimals line up in columns; a % sign never wraps alone."""
    return {"int": fmt_int, "num": fmt_num, "fix": D.fmt_fixed, "raw": repr_value,
            "metric": lambda m: D.METRIC_LABELS.get(m, m), "interval_bars": D.interval_bars,
            "pct": lambda v, digits=1: fmt_pct(v, digits).replace(" %", "\u00a0%"),
            "signed": lambda v, digits=3: D.fmt_fixed(v, digits, sign=True),
            "yaml": lambda v: yaml.safe_dump(v, sort_keys=False, default_flow_style=False).strip()}


def repr_value(value: Any) -> str:
    """The exact value behind a rounded cell (data-value attribute): tests compare it with metrics.json."""
    return "" if value is None else repr(value.item() if hasattr(value, "item") else value)
