"""report stage: reports/index.html, one self-contained page comparing the model families.

Reads the earlier stages' files only (STYLE §9): reports/metrics.json (required), reports/plots/,
reports/tune.json, reports/explain.json, reports/{impute,outliers,resample,eda}.json,
<prepared>/meta.json, params.yaml, dvc.lock (data hashes) and the git commit. Writes one HTML file
with plotly.js, every figure's data and a static SVG fallback of the curves inline: no CDN, no network.

    python -m pipeline.report --metrics reports/metrics.json --plots reports/plots ... --out reports/index.html
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs
from plotly.utils import PlotlyJSONEncoder

from pipeline import report_data as D
from pipeline import report_sections as S
from pipeline.eda_format import fmt_int, fmt_num, fmt_pct
from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.core.io import write_text
from pipeline.core.params import add_params_arg
from pipeline.report_figures import curve_figures_from
from pipeline.report_inputs import ReportInputs, load
from pipeline.report_static import curves_svg

log = logging.getLogger(__name__)

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
    evaluate = inputs.params.get("evaluate") or {}
    threshold = (metrics.get("models") or {}).get(metrics.get("best"), {}).get("threshold")
    columns = (inputs.meta or {}).get("columns") or {}
    return {"head": D.headline(metrics, table), "rows": D.records(table), "skipped": metrics.get("skipped") or {},
            "target": columns.get("target") or "target", "curves": list(curves),
            "curves_svg": Markup(curves_svg(inputs.curves) or ""), "confusion": D.confusion_summary(inputs.confusion),
            "rationale": D.threshold_rationale(evaluate.get("threshold_rule"), evaluate.get("cost_ratio"), threshold),
            "tuning": tuning, "explain": explain, "data": S.data_pipeline(inputs),
            "figures": {**curves, **tuning_figs, **explain_figs}}


def render(inputs: ReportInputs) -> str:
    """The whole page; every string from the data goes through Jinja's autoescape."""
    env = Environment(loader=PackageLoader("pipeline", "templates"), autoescape=True, undefined=StrictUndefined,
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    parser.add_argument("--metrics", type=Path, required=True, help="e.g. reports/metrics.json (required input)")
    for flag, example in (("plots", "reports/plots"), ("tune", "reports/tune.json"),
                          ("explain", "reports/explain.json"), ("impute", "reports/impute.json"),
                          ("outliers", "reports/outliers.json"), ("resample", "reports/resample.json"),
                          ("eda", "reports/eda.json"), ("eda-html", "reports/eda.html"),
                          ("prepared", "data/interim/prepared"), ("lock", "dvc.lock")):
        parser.add_argument(f"--{flag}", type=Path, default=None, help=f"e.g. {example} (optional)")
    parser.add_argument("--out", type=Path, required=True, help="the page to write, e.g. reports/index.html")
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    eda_link = None
    if args.eda_html is not None and args.eda_html.is_file():   # a relative link works wherever the folder goes
        eda_link = Path(os.path.relpath(args.eda_html, args.out.parent)).as_posix()
    inputs = load(args.metrics, args.plots, args.tune, args.explain, args.impute, args.outliers, args.resample,
                  args.eda, args.prepared, args.params, args.lock, eda_link,
                  Path(os.path.relpath(args.out, args.lock.parent)).as_posix() if args.lock else None)
    try:
        page = render(inputs)
    except (KeyError, TypeError, AttributeError) as err:   # a JSON input of another shape than its stage writes
        raise InputError(f"report: an input file has an unexpected structure ({type(err).__name__}: {err}); "
                         "rerun the stage that wrote it (dvc repro).") from err
    write_text(page, args.out)
    missing = [name for name in ("tune", "explain", "impute", "outliers", "resample", "meta")
               if getattr(inputs, name) is None]
    log.info("report: %d models, best %s, %d curve charts; %.1f MB -> %s%s", len(inputs.metrics.get("models") or {}),
             inputs.metrics.get("best"), len(inputs.curves), len(page.encode()) / 1e6, args.out,
             f"; not available: {', '.join(missing)}" if missing else "")


if __name__ == "__main__":
    main()
