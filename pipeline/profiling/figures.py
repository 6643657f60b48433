"""All figures of the eda page from the summary dict: event charts here, the rest in plots.py.

Figures are capped (`max_plots` per kind) so a wide table gives a page of bounded size and time;
eda.json still describes every column.
"""
from __future__ import annotations

import logging
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from pipeline.presentation import svg
from pipeline.profiling import plots

log = logging.getLogger(__name__)

TYPE_COLOURS = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#9D755D", "#72B7B2")


def event_types(types: list[dict[str, Any]], limit: int) -> str | None:
    """Events per type, most frequent first; the tail beyond `limit` folded into one bar."""
    if not types:
        return None
    rows = [(t["type"], t["count"]) for t in types[:limit]]
    if len(types) > limit:
        rows.append((f"{len(types) - limit} other types", sum(t["count"] for t in types[limit:])))
    fig = Figure(figsize=(6.6, 0.6 + 0.25 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    pos = list(range(len(rows)))
    ax.barh(pos, [r[1] for r in rows], color=plots.ACCENT, height=0.65)
    for p, (_, count) in zip(pos, rows):
        ax.text(count, p, f" {count:,}", va="center", fontsize=8, color="#333333")
    ax.set_yticks(pos, [svg.short(r[0], 30) for r in rows])
    ax.invert_yaxis()
    ax.margins(x=0.12)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("events (all customers)")
    return svg.to_svg(fig, "evtypes")


def events_weekly(weekly: dict[str, Any] | None) -> str | None:
    """Events per week: the total, and the most frequent types as thinner lines."""
    if not weekly or not weekly["week_start"]:
        return None
    weeks = pd.to_datetime(weekly["week_start"])
    partial = np.array(weekly["partial"], dtype=bool)
    fig = Figure(figsize=(11.4, 2.9), layout="constrained")
    ax = fig.add_subplot()
    series = [("all events", weekly["total"], plots.TEST, 2.0)]
    series += [(svg.short(name, 20), counts, colour, 1.1)
               for colour, (name, counts) in zip(TYPE_COLOURS, weekly["by_type"].items())]
    for label, counts, colour, width in series:
        full = np.where(partial, np.nan, np.asarray(counts, dtype=float))
        # Partial weeks at the ends are drawn dotted, so their dip does not read as a trend.
        ax.plot(weeks, counts, color=colour, lw=width * 0.7, ls=(0, (1, 2)))
        ax.plot(weeks, full, color=colour, lw=width, label=label, marker="o" if len(weeks) < 4 else None)
    locator = AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_ylim(bottom=0)
    ax.set_ylabel("events per week")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return svg.to_svg(fig, "evweekly")


def numeric_figures(summary: dict[str, Any], max_plots: int) -> dict[str, str]:
    """One histogram per numeric column (the first `max_plots`)."""
    out = {}
    for i, (name, desc) in enumerate(list(summary["numeric"].items())[:max_plots]):
        if desc.get("histogram"):
            out[name] = plots.histogram(desc["histogram"], f"num{i}")
    return out


def categorical_figures(summary: dict[str, Any], max_plots: int) -> dict[str, str]:
    """One level chart per categorical column (the first `max_plots`)."""
    rate = summary["target"]["train"]["positive_rate"]
    return {name: plots.categorical(desc, rate, f"cat{i}")
            for i, (name, desc) in enumerate(list(summary["categorical"].items())[:max_plots])}


def build_figures(summary: dict[str, Any], max_plots: int, max_categories: int) -> dict[str, Any]:
    """Every figure of the page as inline SVG text (None where there is nothing to draw)."""
    with matplotlib.rc_context(svg.style()):
        events = summary["events"]
        per_customer = events["per_customer"]["histogram"] if events else None
        return {
            "target": plots.target_balance(summary["target"]),
            "missing": plots.missingness(summary["missing"], max_plots),
            "relations": plots.relations(summary["relations"]["top"]),
            "numeric": numeric_figures(summary, max_plots),
            "categorical": categorical_figures(summary, max_plots),
            "event_types": event_types(events["types"], max_categories) if events else None,
            "events_weekly": events_weekly(events["weekly"]) if events else None,
            "events_per_customer": plots.histogram(per_customer, "evpc", (4.3, 2.1)) if per_customer else None,
        }
