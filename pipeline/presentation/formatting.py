"""Number formatting shared by the EDA page, the report and the app: thousands, shares, significant digits."""
from __future__ import annotations

from typing import Any

DASH = "–"


def fmt_int(value: Any) -> str:
    """12345 -> '12,345'; None -> dash."""
    return DASH if value is None else f"{int(round(value)):,}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """0.1234 -> '12.3 %'; tiny but non-zero shares are not shown as 0."""
    if value is None:
        return DASH
    if 0 < value * 100 < 10 ** -digits:
        return f"<{10 ** -digits:.{digits}f} %"
    return f"{value * 100:.{digits}f} %"


def fmt_num(value: Any, digits: int = 4) -> str:
    """A float with `digits` significant digits, thousands separated when large."""
    if value is None:
        return DASH
    if isinstance(value, int) or (abs(value) >= 10 ** digits and float(value).is_integer()):
        return f"{int(value):,}"
    if abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    return f"{value:,.{digits}g}"
