"""Bucket tokens in numeric exports ('5+', '<1', '>= 10', '10-20'): recognise them and order levels by meaning.

CRM exports often cap or band a count: household size 1, 2, 3, 4, '5+'; tenure '<1'. validate_customers reads an
inferred column of numbers mixed with such tokens as an ordered categorical; this module only parses and orders.
"""
from __future__ import annotations

import math
import re

import pandas as pd

BUCKET_MAX_LEVELS = 30   # more distinct values is a measured quantity with stray text, not a bucketed count

_NUMBER = r"\d+(?:\.\d+)?"
_PLAIN = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(rf"(?P<plus>{_NUMBER})\s*\+|(?P<op><=|>=|<|>)\s*(?P<bound>{_NUMBER})"
                    rf"|(?P<low>{_NUMBER})\s*-\s*(?P<high>{_NUMBER})")
# Rank among the levels anchored at one number x: '<x' < '<=x' < x < 'x-b' < 'x+' (= '>=x') < '>x'.
_RANK = {"<": -2, "<=": -1, ">=": 2, ">": 3}


def plain_number(text: str) -> float | None:
    """The finite value of a plain number ('3', '-2.5', '1e3'), else None."""
    if not _PLAIN.fullmatch(text) or not math.isfinite(value := float(text)):
        return None
    return value


def bucket_key(text: str) -> tuple[float, int, float] | None:
    """Sort key (anchor, rank, upper bound) of a number or bucket token; None for any other text."""
    if (number := plain_number(text)) is not None:
        return number, 0, number
    if (match := _TOKEN.fullmatch(text)) is None:
        return None
    if match["plus"]:
        return float(match["plus"]), _RANK[">="], math.inf
    if match["op"]:
        bound = float(match["bound"])
        return bound, _RANK[match["op"]], bound if match["op"].startswith("<") else math.inf
    low, high = float(match["low"]), float(match["high"])
    return (low, 1, high) if low < high else None      # '2020-01' is a year-month, not a range


def order_levels(levels: list[str]) -> list[str]:
    """Numbers and bucket tokens in numeric order: '<1', '1', '2', '2-4', '5', '5+'; ties by text."""
    return sorted(levels, key=lambda level: (bucket_key(level), level))


def bucket_column(text: pd.Series) -> tuple[list[str], list[str]] | None:
    """(levels in order, the bucket tokens among them) when `text` (str, None for missing) is plain numbers plus
    bucket tokens with at most BUCKET_MAX_LEVELS distinct values; else None (all numbers, other text, too many)."""
    levels = [str(v) for v in text.dropna().unique().tolist()]
    if not levels or len(levels) > BUCKET_MAX_LEVELS or any(bucket_key(v) is None for v in levels):
        return None
    tokens = {v for v in levels if plain_number(v) is None}
    if not tokens or len(tokens) == len(levels):   # all tokens: a band column ('18-25'), left to the text rules
        return None
    ordered = order_levels(levels)
    return ordered, [v for v in ordered if v in tokens]
