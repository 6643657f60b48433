"""Command-line conventions of the stage entries: path flags that default to the paths dvc.yaml passes."""
from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path


def add_path_args(parser: argparse.ArgumentParser, paths: Mapping[str, str],
                  descriptions: Mapping[str, str] | None = None) -> None:
    """One --<name> Path flag per entry, its default the path dvc.yaml passes (so a bare
    `python -m pipeline.<stage>` runs what `dvc repro` runs); --help names each default."""
    for flag, default in paths.items():
        text = f"{descriptions[flag]} " if descriptions and flag in descriptions else ""
        parser.add_argument(f"--{flag}", type=Path, default=Path(default), help=f"{text}(default: {default})")
