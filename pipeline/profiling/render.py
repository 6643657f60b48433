"""The EDA page: the summary and its figures through the Jinja template, one self-contained HTML file."""
from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from pipeline.presentation.formatting import fmt_int, fmt_num, fmt_pct
from pipeline.profiling.cards import cards

TEMPLATE = "eda.html.j2"


def render_html(summary: dict[str, Any], figures: dict[str, Any]) -> str:
    """The self-contained page: template + inline SVGs; every string from the data is autoescaped."""
    env = Environment(loader=PackageLoader("pipeline.profiling", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(int=fmt_int, pct=fmt_pct, num=fmt_num)
    return env.get_template(TEMPLATE).render(s=summary, fig=trusted(figures), cards=cards(summary))


def trusted(figures: Any) -> Any:
    """Matplotlib's SVG already escapes its text, so the markup goes in as is."""
    if isinstance(figures, dict):
        return {k: trusted(v) for k, v in figures.items()}
    return Markup(figures) if isinstance(figures, str) else figures
