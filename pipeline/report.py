"""report stage: reports/index.html, one self-contained page comparing the model families.

Reads the earlier stages' files only (STYLE §9): reports/metrics.json (required), reports/plots/,
reports/tune.json, reports/explain.json, reports/{impute,outliers,resample,eda,cells}.json,
<prepared>/meta.json, params.yaml, dvc.lock (data hashes) and the git commit. Writes one HTML file
with plotly.js, every figure's data and a static SVG fallback of the curves inline: no CDN, no network.

    python -m pipeline.report --metrics reports/metrics.json --plots reports/plots ... --out reports/index.html
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from pipeline.core.cli import add_path_args
from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.core.io import write_text
from pipeline.core.params import add_params_arg
from pipeline.reporting.inputs import load
from pipeline.reporting.render import render

log = logging.getLogger(__name__)

INPUTS = {"plots": "reports/plots", "tune": "reports/tune.json", "explain": "reports/explain.json",
          "impute": "reports/impute.json", "outliers": "reports/outliers.json", "resample": "reports/resample.json",
          "eda": "reports/eda.json", "eda-html": "reports/eda.html", "prepared": "data/interim/prepared",
          "cells": "reports/cells.json", "lock": "dvc.lock"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    add_path_args(parser, {"metrics": "reports/metrics.json"}, {"metrics": "the one required input"})
    add_path_args(parser, INPUTS, dict.fromkeys(INPUTS, "a missing file shows as 'not available'"))
    add_path_args(parser, {"out": "reports/index.html"}, {"out": "the page to write"})
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    eda_link = None
    if args.eda_html is not None and args.eda_html.is_file():   # a relative link works wherever the folder goes
        eda_link = Path(os.path.relpath(args.eda_html, args.out.parent)).as_posix()
    inputs = load(args.metrics, args.plots, args.tune, args.explain, args.impute, args.outliers, args.resample,
                  args.eda, args.prepared, args.params, args.lock, eda_link,
                  Path(os.path.relpath(args.out, args.lock.parent)).as_posix() if args.lock else None, args.cells)
    try:
        page = render(inputs)
    except (KeyError, TypeError, AttributeError) as err:   # a JSON input of another shape than its stage writes
        raise InputError(f"report: an input file has an unexpected structure ({type(err).__name__}: {err}); "
                         "rerun the stage that wrote it (dvc repro).") from err
    write_text(page, args.out)
    missing = [name for name in ("tune", "explain", "impute", "outliers", "resample", "cells", "meta")
               if getattr(inputs, name) is None]
    log.info("report: %d models, best %s, %d curve charts; %.1f MB -> %s%s", len(inputs.metrics.get("models") or {}),
             inputs.metrics.get("best"), len(inputs.curves), len(page.encode()) / 1e6, args.out,
             f"; not available: {', '.join(missing)}" if missing else "")


if __name__ == "__main__":
    main()
