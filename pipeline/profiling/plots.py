"""Inline-SVG figures for the eda page, drawn from the summary dict alone (so the page shows eda.json's numbers)."""
from __future__ import annotations

import logging
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from pipeline.presentation.svg import compact, short, to_svg

log = logging.getLogger(__name__)

NEGATIVE, POSITIVE, TEST, ACCENT = "#4C78A8", "#E4572E", "#333333", "#4C78A8"
SOURCE_COLOURS = {"numeric": "#4C78A8", "categorical": "#72B7B2", "missing": "#B279A2", "events": "#F58518"}


def target_balance(target: dict[str, Any]) -> str:
    """Stacked 100 % bars per split: negative and positive share, with counts."""
    fig = Figure(figsize=(6.6, 1.45), layout="constrained")
    ax = fig.add_subplot()
    splits = [s for s in ("train", "test") if target.get(s, {}).get("n")]
    for i, split in enumerate(splits):
        t = target[split]
        neg, pos = 1 - t["positive_rate"], t["positive_rate"]
        ax.barh(i, neg, color=NEGATIVE, height=0.6)
        ax.barh(i, pos, left=neg, color=POSITIVE, height=0.6)
        ax.text(0.01, i, f"negative {t['negative']:,} ({neg:.1%})", va="center", color="white", fontsize=8.5)
        ax.text(0.99, i, f"positive {t['positive']:,} ({pos:.1%})", va="center", ha="right", color="white",
                fontsize=8.5, fontweight="bold")
    ax.set_yticks(range(len(splits)), splits)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(False)
    return to_svg(fig, "target")


def missingness(missing: dict[str, Any], limit: int) -> str | None:
    """Missing share per column (train and test), worst first; None when nothing is missing."""
    cols = [(c, v["train"]["share"] or 0, v["test"]["share"] or 0) for c, v in missing["columns"].items()
            if v["train"]["count"] or v["test"]["count"]]
    if not cols:
        return None
    cols = sorted(cols, key=lambda c: (-c[1], c[0]))[:limit]
    fig = Figure(figsize=(8.0, 0.7 + 0.25 * len(cols)), layout="constrained")
    ax = fig.add_subplot()
    pos = range(len(cols))
    ax.barh([p - 0.2 for p in pos], [c[1] for c in cols], height=0.4, color=ACCENT, label="train")
    ax.barh([p + 0.2 for p in pos], [c[2] for c in cols], height=0.4, color="#A0A7B0", label="test")
    ax.set_yticks(list(pos), [short(c[0], 34) for c in cols])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right")
    return to_svg(fig, "missing")


def relations(items: list[dict[str, Any]]) -> str | None:
    """Strength (max(auc, 1 - auc)) of the top relations, coloured by where the feature comes from."""
    if not items:
        return None
    fig = Figure(figsize=(8.0, 0.65 + 0.25 * len(items)), layout="constrained")
    ax = fig.add_subplot()
    pos = list(range(len(items)))
    widths = [r["strength"] - 0.5 for r in items]
    ax.barh(pos, widths, left=0.5, height=0.65, color=[SOURCE_COLOURS.get(r["source"], ACCENT) for r in items])
    labels = [short(r["feature"], 34) + (" · missing" if r["source"] == "missing" else "") for r in items]
    ax.set_yticks(pos, labels)
    for p, r in zip(pos, items):
        ax.text(r["strength"] + 0.003, p, f"{r['strength']:.3f}", va="center", fontsize=8, color="#333333")
    ax.invert_yaxis()
    ax.set_xlim(0.5, max(0.6, max(r["strength"] for r in items) + 0.04))
    ax.set_xlabel("univariate ROC-AUC strength on train (0.5 = no signal)")
    ax.grid(axis="y", visible=False)
    return to_svg(fig, "relations")


def density(counts: list[int], edges: list[float]) -> list[float]:
    """Counts -> density over the shown bins, so classes of different sizes compare by shape."""
    total = sum(counts)
    return [c / total / (hi - lo) if total else 0.0 for c, lo, hi in zip(counts, edges, edges[1:])]


def histogram(hist: dict[str, Any], key: str, size: tuple[float, float] = (2.6, 1.45)) -> str:
    """Small multiple: train negatives and positives filled, test as a dashed outline (all as densities)."""
    fig = Figure(figsize=size)
    fig.subplots_adjust(left=0.04, right=0.96, bottom=0.25 / size[1], top=0.97)   # fixed margins: fast, aligned
    ax = fig.add_subplot()
    edges = hist["edges"]
    for name, colour in (("train_negative", NEGATIVE), ("train_positive", POSITIVE)):
        ax.stairs(density(hist["counts"][name], edges), edges, fill=True, color=colour, alpha=0.38, lw=0)
        ax.stairs(density(hist["counts"][name], edges), edges, color=colour, lw=1.1)
    ax.stairs(density(hist["counts"]["test"], edges), edges, color=TEST, lw=0.9, ls=(0, (3, 2)))
    ax.set_yticks([])
    ax.grid(False)
    ax.spines["left"].set_visible(False)
    whole = all(float(e + 0.5).is_integer() for e in edges)     # whole-number bins: whole-number ticks
    ax.xaxis.set_major_locator(MaxNLocator(5, integer=whole))
    ax.xaxis.set_major_formatter(FuncFormatter(compact))
    ax.tick_params(axis="x", labelsize=7.5)
    return to_svg(fig, key)


def label_width(labels: list[str], size: float) -> float:
    """Inches taken by the longest tick label (a rough average glyph width is plenty for a margin)."""
    return 0.12 + 0.6 * size / 72 * max((len(label) for label in labels), default=1)


def categorical(desc: dict[str, Any], overall_rate: float | None, key: str) -> str:
    """Level shares (train bars, test ticks) beside the train positive rate per level.

    Axes are placed in inches rather than by constrained layout: that is several times faster,
    and with up to max_plots of these per page the difference is seconds.
    """
    levels = desc["levels"]
    labels = [short(lv["level"], 20) for lv in levels]
    width, height = 3.4, 0.62 + 0.19 * len(levels)
    left, gap, right, top, bottom = label_width(labels, 7.5), 0.2, 0.12, 0.24, 0.3
    panel = (width - left - gap - right) / 2
    fig = Figure(figsize=(width, height))
    def place(x: float) -> list[float]:
        return [x / width, bottom / height, panel / width, (height - top - bottom) / height]
    share_ax = fig.add_axes(place(left))
    rate_ax = fig.add_axes(place(left + panel + gap), sharey=share_ax)
    pos = list(range(len(levels)))
    share_ax.barh(pos, [lv["train_share"] or 0 for lv in levels], color=ACCENT, height=0.7)
    share_ax.scatter([lv["test_share"] or 0 for lv in levels], pos, marker="|", color=TEST, s=60, zorder=3)
    rate_ax.barh(pos, [lv["positive_rate_train"] or 0 for lv in levels], color=POSITIVE, height=0.7, alpha=0.85)
    if overall_rate is not None:
        rate_ax.axvline(overall_rate, color=TEST, lw=0.8, ls=(0, (3, 2)))
    share_ax.set_yticks(pos, labels, fontsize=7.5)
    share_ax.set_ylim(len(levels) - 0.5, -0.5)
    rate_ax.tick_params(labelleft=False)
    for ax, title in ((share_ax, "share of customers"), (rate_ax, "positive rate")):
        ax.set_title(title, fontsize=8, color="#555555")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.xaxis.set_major_locator(MaxNLocator(3))
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="y", visible=False)
    return to_svg(fig, key)
