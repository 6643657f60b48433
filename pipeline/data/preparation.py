"""The prepare stage's core: read the sources, validate them, cut off the events, split the customers.

Pure apart from reading the sources (user files or the simulator); raises InputError on bad input.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.params import Params
from pipeline.core.schema import EVENT_TYPE, TARGET, TEST, TIMESTAMP, TRAIN
from pipeline.data.contract import validate_tables
from pipeline.data.event_chunks import ChunkedEvents
from pipeline.data.labelled import prepare_from_events
from pipeline.data.prepared import PreparedData
from pipeline.data.sources import Sources, read_sources
from pipeline.data.split import pop_split_column, train_test_split_ids
from pipeline.data.validate_customers import CleanCustomers, Report, to_days
from pipeline.data.validate_events import CleanEvents


def _iso(value: pd.Timestamp | None) -> str | None:
    return None if value is None or pd.isna(value) else value.isoformat()


def _event_facts(events: CleanEvents | ChunkedEvents) -> tuple[int, pd.Timestamp | None, list[str]]:
    """(events kept, the latest one's time, the distinct event types, sorted)."""
    if isinstance(events, ChunkedEvents):
        return events.n_events, events.latest, events.event_types
    ev = events.frame
    types = sorted(ev[EVENT_TYPE].dropna().unique().tolist()) if events.has_event_type else []
    return len(ev), ev[TIMESTAMP].max(), types


def reference_time(src: Sources, events: CleanEvents | ChunkedEvents | None) -> pd.Timestamp | None:
    """The run's reference time (as-of): the cutoff, else just after the latest kept event (features use
    events strictly before it), else none."""
    if src.cutoff is not None or events is None:
        return src.cutoff
    latest = events.latest if isinstance(events, ChunkedEvents) else events.frame[TIMESTAMP].max()
    return latest + pd.Timedelta(seconds=1)


def require_signal(customers: CleanCustomers, events: object, file_label: str) -> None:
    """A table with no usable feature and no event log leaves nothing to learn from: refused, not a constant model."""
    if not customers.numeric and not customers.categorical and events is None:
        raise InputError(f"{file_label}: no usable feature column is left (after dropping empty, id-like and "
                         "ignored columns) and there is no event log (data.events): nothing to learn from.")


def build_meta(src: Sources, source: str, customers: CleanCustomers, events: CleanEvents | ChunkedEvents | None,
               train: pd.DataFrame, test: pd.DataFrame, report: Report) -> dict[str, Any]:
    """meta.json, keys as in pipeline/core/schema.py: the user's names, types, counts, drops and warnings."""
    p = src.data
    typed = events is not None and events.has_event_type
    n_events, _, types = (0, None, []) if events is None else _event_facts(events)
    as_of = reference_time(src, events)
    return {
        "source": source,
        "files": {"customers": None if source == "synthetic" else p.customers,
                  "events": None if source == "synthetic" else p.events},
        "columns": {"id": p.id_column, "target": p.target,
                    "positive_label": 1 if p.positive_label is None else p.positive_label,
                    "timestamp": None if events is None else p.timestamp_column,
                    "event_type": p.event_type_column if typed else None},
        "numeric": customers.numeric, "categorical": customers.categorical,
        # Only when some column held bucket tokens, so meta.json of other tables is unchanged.
        **({"ordered_levels": customers.ordered_levels} if customers.ordered_levels else {}),
        # Only when some column held dates or formatted numbers, so meta.json of plain tables is unchanged.
        **({"dates": {c: report.date_formats[c] for c in customers.dates}} if customers.dates else {}),
        **({"number_formats": report.number_formats} if report.number_formats else {}),
        "has_events": events is not None, "has_event_type": typed, "has_truth": src.truth is not None,
        "event_numeric": [] if events is None else events.numeric,
        "event_types": types,
        "cutoff": _iso(src.cutoff), "as_of": _iso(as_of),
        "n_train": len(train), "n_test": len(test), "positive_rate_train": float(train[TARGET].mean()),
        "n_events": n_events,
        # How the timestamps were read (pipeline/data/timestamps.py): a scoring holds the same format.
        "timestamp_format": None if events is None or events.time_format is None else str(events.time_format),
        "dropped": report.dropped, "warnings": report.warnings,
    }


def prepare(params: Params, scratch: Path | None = None) -> PreparedData:
    """Read, validate, cut off and split; pure apart from reading the sources. Raises InputError on bad input.

    An events file longer than data.event_chunk_rows is sorted into a file under `scratch` (PreparedData.events
    is then its path)."""
    src = read_sources(params.data, params.seed, params.label)
    if params.label.from_events:
        return _prepare_labelled(params, src)
    if params.split.method != "random":
        raise InputError(f"params: split.method {params.split.method!r} needs a label built from the event log "
                         "(label.from_events: true); a customers table's target has no time.")
    p, split = src.data, params.split
    raw, split_values = pop_split_column(src.customers, split, src.labels["customers"], (p.id_column, p.target))
    customers, events, report = validate_tables(raw, src.events, p, src.labels, cutoff=src.cutoff, scratch=scratch,
                                                report=src.report)
    require_signal(customers, events, src.labels["customers"])
    customers = to_days(customers, reference_time(src, events), src.labels["customers"])
    frame = customers.frame if split_values is None else customers.frame.assign(**{split.column: split_values})
    assignment = train_test_split_ids(frame, split, params.seed, src.labels["customers"])
    train = customers.frame[assignment == TRAIN].reset_index(drop=True)
    test = customers.frame[assignment == TEST].reset_index(drop=True)
    meta = build_meta(src, params.data.source, customers, events, train, test, report)
    kept = None if events is None else events.path if isinstance(events, ChunkedEvents) else events.frame
    return PreparedData(train, test, kept, src.truth, meta)


def _prepare_labelled(params: Params, src: Sources) -> PreparedData:
    """label.from_events: the target from the log at each split's cutoff (pipeline/data/labelled.py)."""
    data, extra = prepare_from_events(params, src)
    labelled = dataclasses.replace(src, data=dataclasses.replace(src.data, target=extra["target"], positive_label=1),
                                   cutoff=extra["cutoff"])
    meta = build_meta(labelled, params.data.source, extra["static"], extra["events"], data.train, data.test,
                      extra["report"])
    meta.update(label=extra["label"], as_of_train=extra["as_of_train"])
    return dataclasses.replace(data, meta=meta)
