"""The feature manifest (data/features/manifest.json): what each model-matrix column is.

One entry per column, in matrix order: {name, kind: numeric|binary|onehot, inputs, group (one-hot
group or None), level, transform, source: static|events}; see pipeline/featurization/static.py.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.core.errors import InputError, show_values

KINDS = ("numeric", "binary", "onehot")


def categorical_layout(manifest: dict[str, Any], columns: list[str],
                       where: str = "manifest") -> tuple[np.ndarray, list[list[int]]]:
    """(mask, groups) for `columns` from a manifest: binary/onehot are categorical; one-hot groups by `group`."""
    entries = {m["name"]: m for m in manifest.get("features", [])}
    if missing := [c for c in columns if c not in entries]:
        raise InputError(f"{where}: no entry for feature column(s) {show_values(missing)}.")
    kinds = [entries[c].get("kind") for c in columns]
    if bad := sorted({str(k) for k in kinds if k not in KINDS}):
        raise InputError(f"{where}: feature kind(s) {bad} unknown; expected numeric, binary or onehot.")
    groups: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(columns):
        if kinds[i] == "onehot" and entries[c].get("group"):   # keyed by origin too: static vs event groups
            groups.setdefault((str(entries[c].get("source")), entries[c]["group"]), []).append(i)
    mask = np.array([k != "numeric" for k in kinds], dtype=bool)
    return mask, [g for g in groups.values() if len(g) > 1]
