"""Stage prepare: raw customers/events (user files, or the simulator) -> validated, canonical, split tables.

Reads params seed, data, split. Writes one directory laid out as in pipeline/core/schema.py
(train.parquet, test.parquet, events.parquet when there are events, truth.parquet for synthetic data,
meta.json), atomically: on bad input nothing is written and a previous output stays as it was.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline.core.cli import add_path_args
from pipeline.core.errors import cli, setup_logging
from pipeline.core.params import add_params_arg, load_params
from pipeline.core.scratch import scratch_dir
from pipeline.data.preparation import prepare
from pipeline.data.prepared import write_prepared

log = logging.getLogger(__name__)

PATHS = {"out": "data/interim/prepared"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.prepare", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    add_path_args(parser, PATHS, {"out": "output directory"})
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    # Beside the output: a long log's sorted copy is moved into it, not copied across file systems.
    # Owned by this process: the next prepare removes a killed one's (gigabytes at scale).
    with scratch_dir(Path(args.out).parent, "prepare") as scratch:
        data = prepare(load_params(args.params), Path(scratch))
        write_prepared(data, args.out)
    meta = data.meta
    log.info("prepare: %d train / %d test customers, %s events, %d warnings",
             meta["n_train"], meta["n_test"], f"{meta['n_events']:,}", len(meta["warnings"]))


if __name__ == "__main__":
    main()
