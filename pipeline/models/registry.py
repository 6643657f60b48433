"""The model families, in their canonical order (listings, exact-tie breaks); one line per family."""
from __future__ import annotations

from pipeline.core.errors import InputError
from pipeline.models import forest, lgbm, logreg, sequence, xgb
from pipeline.models.family import Family

FAMILIES: dict[str, Family] = {f.name: f for f in (
    logreg.FAMILY,
    forest.FAMILY,
    xgb.FAMILY,
    lgbm.FAMILY,
    sequence.FAMILY,
)}


def get(name: str) -> Family:
    """The family called `name`; an unknown name is an InputError listing the known ones."""
    if name not in FAMILIES:
        raise InputError(f"unknown model family {name!r}; expected one of {list(FAMILIES)}.")
    return FAMILIES[name]


def position(name: str) -> int:
    """Canonical order of a family (unknown names last)."""
    return list(FAMILIES).index(name) if name in FAMILIES else len(FAMILIES)
