"""Deterministic inline SVG from matplotlib, shared by the EDA page and the report's static fallback.

SVG output is deterministic: fixed hash salt, text kept as text (svg.fonttype=none), no date metadata;
each figure's ids get a prefix so many inline SVGs can share one HTML page.
"""
from __future__ import annotations

import io
import re
from typing import Any

import matplotlib

matplotlib.use("Agg")   # headless: the stages run under DVC/CI with no display

from matplotlib.figure import Figure  # noqa: E402  (after the backend is chosen)

NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
LABEL_CHARS = 28


def style() -> dict[str, Any]:
    """rcParams for every figure: quiet axes, text as text, a fixed hash salt."""
    return {"svg.fonttype": "none", "svg.hashsalt": "eda", "font.family": "sans-serif",
            "font.sans-serif": ["DejaVu Sans"], "font.size": 9, "axes.titlesize": 9.5, "axes.titlelocation": "left",
            "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#b0b4b9",
            "axes.labelcolor": "#444444", "xtick.color": "#555555", "ytick.color": "#555555",
            "axes.grid": True, "grid.color": "#ebebeb", "grid.linewidth": 0.7, "axes.axisbelow": True,
            "legend.frameon": False, "legend.fontsize": 8, "figure.facecolor": "none", "axes.facecolor": "none"}


def short(text: Any, limit: int = LABEL_CHARS) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact(value: float, _pos: Any = None) -> str:
    """Tick label that fits a small multiple: 160000 -> '160k', 2500000 -> '2.5M'."""
    for threshold, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):   # 4-digit values stay
        if abs(value) >= threshold:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def to_svg(fig: Figure, key: str) -> str:
    """The figure as an <svg> element (no XML header), with ids prefixed by `key`."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": key}):
        fig.savefig(buf, format="svg", metadata=NO_METADATA)
    svg = buf.getvalue()
    return re.sub(r"<[^<>]+>", lambda tag: prefix_ids(tag.group(0), key), svg[svg.index("<svg"):])


def prefix_ids(tag: str, key: str) -> str:
    """Prefix ids and #references inside one tag (never in text, where a label may look like one)."""
    tag = re.sub(r'\bid="([^"]+)"', rf'id="{key}-\1"', tag)
    tag = re.sub(r"url\(#([^)]+)\)", rf"url(#{key}-\1)", tag)
    return re.sub(r'href="#([^"]+)"', rf'href="#{key}-\1"', tag)
