"""Stage prepare: raw customers/events (user files, or the simulator) -> validated, canonical, split tables.

Reads params seed, data, split. Writes one directory laid out as in pipeline/schema.py (train.parquet,
test.parquet, events.parquet when there are events, truth.parquet for synthetic data, meta.json),
atomically: on bad input nothing is written and a previous output stays as it was.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.core.io import atomic_dir, read_table, write_json
from pipeline.core.params import DataParams, Params, add_params_arg, load_params
from pipeline.core.schema import EVENT_TYPE, ID, TARGET, TEST, TIMESTAMP, TRAIN, TRUE_PROBABILITY
from pipeline.split import pop_split_column, train_test_split_ids
from pipeline.validate import CleanCustomers, Report, check_listed, validate_customers
from pipeline.validate_events import CleanEvents, apply_cutoff, parse_cutoff, validate_events

log = logging.getLogger(__name__)

SOURCES = ("synthetic", "files")
SIMULATED_TARGET = "churn"     # pipeline.simulate's target column; its other columns use the canonical names


@dataclass(frozen=True)
class Sources:
    customers: pd.DataFrame
    events: pd.DataFrame | None
    truth: pd.DataFrame | None
    data: DataParams                   # the params describing these frames (synthetic: the simulator's names)
    labels: dict[str, str | None]      # how messages name each table: a path, or 'simulated ...'
    cutoff: pd.Timestamp | None


@dataclass(frozen=True)
class PreparedData:
    train: pd.DataFrame
    test: pd.DataFrame
    events: pd.DataFrame | None
    truth: pd.DataFrame | None
    meta: dict[str, Any]


def read_sources(p: DataParams, seed: int) -> Sources:
    """The user's files, or a seeded simulation when data.source is synthetic."""
    if p.source == "files":
        ids = (p.id_column,)   # read as text: '00042' must stay '00042'
        customers = read_table(p.customers, "customers", string_columns=ids)
        events = None if p.events is None else read_table(p.events, "events", string_columns=ids)
        return Sources(customers, events, None, p, {"customers": p.customers, "events": p.events}, parse_cutoff(p.cutoff))
    if p.source != "synthetic":
        raise InputError(f"params: data.source must be one of {list(SOURCES)}, got {p.source!r}.")
    from pipeline.simulate import simulate   # lazy: file users never need the simulator

    sim = simulate(p.synthetic, seed)
    data = dataclasses.replace(p, id_column=ID, target=SIMULATED_TARGET, positive_label=1,
                               timestamp_column=TIMESTAMP, event_type_column=EVENT_TYPE)
    # The simulated history ends at the snapshot date, which is therefore the natural cutoff.
    cutoff = parse_cutoff(p.cutoff) if p.cutoff is not None else parse_cutoff(p.synthetic.snapshot_date, "data.synthetic.snapshot_date")
    truth = pd.DataFrame({ID: sim.truth[ID].astype(str).to_numpy(dtype=object),
                          TRUE_PROBABILITY: sim.truth[TRUE_PROBABILITY].to_numpy(dtype="float64")})
    labels = {"customers": "simulated customers", "events": "simulated events"}
    return Sources(sim.customers, sim.events, truth, data, labels, cutoff)


def validate_tables(customers: pd.DataFrame, events: pd.DataFrame | None, p: DataParams, labels: Mapping[str, Any], *,
                    cutoff: pd.Timestamp | None = None, require_target: bool = True,
                    features: Mapping[str, Sequence[str]] | None = None,
                    report: Report | None = None) -> tuple[CleanCustomers, CleanEvents | None, Report]:
    """The one validation path for training data (prepare) and new data (predict: require_target=False,
    `features` from meta.json), so a scored customer passes exactly the checks the test set passed."""
    report = report if report is not None else Report()
    if features is None:
        columns = [*customers.columns, *([] if events is None else events.columns)]
        check_listed(p, "the customers or events file", columns, keys=("ignore",))
    clean = validate_customers(customers, p, labels["customers"], require_target=require_target,
                               features=features, report=report)
    if events is None:
        return clean, None, report
    ev = validate_events(events, p, labels["events"], clean.frame[ID], customers_label=labels["customers"], report=report)
    kept = apply_cutoff(ev.frame, cutoff, labels["events"], report)
    return clean, CleanEvents(kept, ev.numeric, ev.has_event_type), report


def _iso(value: pd.Timestamp | None) -> str | None:
    return None if value is None or pd.isna(value) else value.isoformat()


def build_meta(src: Sources, source: str, customers: CleanCustomers, events: CleanEvents | None,
               train: pd.DataFrame, test: pd.DataFrame, report: Report) -> dict[str, Any]:
    """meta.json, keys as in pipeline/schema.py: the user's names, types, counts, drops and warnings."""
    p, ev = src.data, None if events is None else events.frame
    typed = events is not None and events.has_event_type
    # Without a cutoff the snapshot is just after the latest event: features use events strictly before as_of.
    as_of = src.cutoff if src.cutoff is not None or ev is None else ev[TIMESTAMP].max() + pd.Timedelta(seconds=1)
    return {
        "source": source,
        "files": {"customers": None if source == "synthetic" else p.customers,
                  "events": None if source == "synthetic" else p.events},
        "columns": {"id": p.id_column, "target": p.target, "positive_label": p.positive_label,
                    "timestamp": None if ev is None else p.timestamp_column,
                    "event_type": p.event_type_column if typed else None},
        "numeric": customers.numeric, "categorical": customers.categorical,
        "has_events": ev is not None, "has_event_type": typed, "has_truth": src.truth is not None,
        "event_numeric": [] if events is None else events.numeric,
        "event_types": sorted(ev[EVENT_TYPE].dropna().unique().tolist()) if typed else [],
        "cutoff": _iso(src.cutoff), "as_of": _iso(as_of),
        "n_train": len(train), "n_test": len(test), "positive_rate_train": float(train[TARGET].mean()),
        "n_events": 0 if ev is None else len(ev),
        "dropped": report.dropped, "warnings": report.warnings,
    }


def run(params: Params) -> PreparedData:
    """Read, validate, cut off and split; pure apart from reading the sources. Raises InputError on bad input."""
    src = read_sources(params.data, params.seed)
    p, split = src.data, params.split
    raw, split_values = pop_split_column(src.customers, split, src.labels["customers"], (p.id_column, p.target))
    customers, events, report = validate_tables(raw, src.events, p, src.labels, cutoff=src.cutoff)
    frame = customers.frame if split_values is None else customers.frame.assign(**{split.column: split_values})
    assignment = train_test_split_ids(frame, split, params.seed, src.labels["customers"])
    train = customers.frame[assignment == TRAIN].reset_index(drop=True)
    test = customers.frame[assignment == TEST].reset_index(drop=True)
    meta = build_meta(src, params.data.source, customers, events, train, test, report)
    return PreparedData(train, test, None if events is None else events.frame, src.truth, meta)


def write_prepared(data: PreparedData, out: str | Path) -> None:
    """All files or none: the directory replaces `out` only once everything is written."""
    with atomic_dir(out) as tmp:
        data.train.to_parquet(tmp / "train.parquet", index=False)
        data.test.to_parquet(tmp / "test.parquet", index=False)
        if data.events is not None:
            data.events.to_parquet(tmp / "events.parquet", index=False)
        if data.truth is not None:
            data.truth.to_parquet(tmp / "truth.parquet", index=False)
        write_json(data.meta, tmp / "meta.json")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.prepare", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    parser.add_argument("--out", type=Path, required=True, help="output directory, e.g. data/interim/prepared")
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    data = run(load_params(args.params))
    write_prepared(data, args.out)
    meta = data.meta
    log.info("prepare: %d train / %d test customers, %s events, %d warnings",
             meta["n_train"], meta["n_test"], f"{meta['n_events']:,}", len(meta["warnings"]))


if __name__ == "__main__":
    main()
