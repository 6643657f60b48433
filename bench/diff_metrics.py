"""Compare two reports/metrics.json files number by number, ignoring wall-clock fields (*_seconds).

    python bench/diff_metrics.py BEFORE/reports/metrics.json AFTER/reports/metrics.json

Prints every differing key path with both values and exits 1, or says the files agree and exits 0.
Used to show that a change of layout changes no number (same params, same seed, CPU).
"""
from __future__ import annotations

import json
import sys
from typing import Any


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{path}.{key}" if path else key).items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in flatten(item, f"{path}[{i}]").items()}
    return {path: value}


def main() -> None:
    before, after = (flatten(json.load(open(p))) for p in sys.argv[1:3])
    keys = sorted(k for k in before.keys() | after.keys() if not k.split(".")[-1].endswith("_seconds"))
    diffs = [(k, before.get(k, "<absent>"), after.get(k, "<absent>")) for k in keys if before.get(k, "<absent>") != after.get(k, "<absent>")]
    for key, a, b in diffs:
        print(f"{key}: {a!r} -> {b!r}")
    print(f"{len(keys) - len(diffs)} of {len(keys)} values equal (wall-clock *_seconds ignored); {len(diffs)} differ")
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
