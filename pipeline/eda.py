"""eda stage: describe the prepared data in reports/eda.html (for people) and reports/eda.json (for machines).

Reads only the prepared directory (train.parquet, test.parquet, events.parquet when meta.has_events,
meta.json; never truth.parquet) and the `eda` params section. It describes both splits, but whatever
ranks or fits (relations to the target, IQR fences, the categorical levels shown, histogram ranges)
uses train only: DESIGN.md, "describes all; decisions use train only".

    python -m pipeline.eda --prepared data/interim/prepared --html reports/eda.html --json reports/eda.json
"""
from __future__ import annotations

import argparse
import logging
import time

from pipeline.core.cli import add_path_args
from pipeline.core.errors import cli, setup_logging
from pipeline.core.io import write_json, write_text
from pipeline.core.params import add_params_arg, load_params
from pipeline.core.schema import TEST, TRAIN
from pipeline.profiling.figures import build_figures
from pipeline.profiling.render import render_html
from pipeline.profiling.summary import check_params, read_prepared, summarise

log = logging.getLogger(__name__)

PATHS = {"prepared": "data/interim/prepared", "html": "reports/eda.html", "json": "reports/eda.json"}
HELP = {"prepared": "the prepare stage's output directory", "html": "the page to write",
        "json": "the numbers to write"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.eda", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    add_path_args(parser, PATHS, HELP)
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    p = load_params(args.params).eda
    check_params(p)
    start = time.perf_counter()
    summary = summarise(read_prepared(args.prepared), p)
    html = render_html(summary, build_figures(summary, p.max_plots, p.max_categories))
    write_json(summary, args.json)
    write_text(html, args.html)
    top = summary["relations"]["top"]
    strongest = f"strongest '{top[0]['feature']}' (AUC strength {top[0]['strength']:.3f})" if top else "no relations"
    events = summary["events"]["n_events"] if summary["events"] else 0
    log.info("eda: %d train / %d test customers, %d features, %d events, %s; %.1f s -> %s, %s",
             summary["target"][TRAIN]["n"], summary["target"][TEST]["n"], summary["dataset"]["n_features"],
             events, strongest, time.perf_counter() - start, args.html, args.json)


if __name__ == "__main__":
    main()
