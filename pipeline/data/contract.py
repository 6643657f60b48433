"""The one validation path for training data (prepare) and new data (predict, the app).

A scored customer passes exactly the checks the test set passed: customers first (ids, target,
feature types), then their events (ids, timestamps, types, values), then the cutoff.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.params import DataParams
from pipeline.core.schema import ID
from pipeline.data.event_chunks import ChunkedEvents, EventChunks, validate_event_chunks
from pipeline.data.timestamps import TimeFormat
from pipeline.data.validate_customers import CleanCustomers, Report, check_listed, validate_customers
from pipeline.data.validate_events import CleanEvents, apply_cutoff, validate_events


def validate_tables(customers: pd.DataFrame, events: pd.DataFrame | EventChunks | None, p: DataParams,
                    labels: Mapping[str, Any], *, cutoff: pd.Timestamp | None = None, require_target: bool = True,
                    features: Mapping[str, Sequence[str]] | None = None, report: Report | None = None,
                    scratch: Path | None = None, time_format: TimeFormat | None = None,
                    ) -> tuple[CleanCustomers, CleanEvents | ChunkedEvents | None, Report]:
    """Training data (require_target=True, types inferred) or new data (require_target=False, `features`
    = meta.json's column lists of the training run; `time_format` its timestamp format). A log in chunks is
    sorted into a file under `scratch`."""
    report = report if report is not None else Report()
    if features is None:
        columns = [*customers.columns, *([] if events is None else list(events.columns))]
        check_listed(p, "the customers or events file", columns, keys=("ignore",))
    clean = validate_customers(customers, p, labels["customers"], require_target=require_target,
                               features=features, report=report)
    if events is None:
        return clean, None, report
    if isinstance(events, EventChunks):
        if scratch is None:
            raise ValueError("validate_tables: an event log in chunks needs a scratch folder for its sorted copy")
        return clean, validate_event_chunks(events, p, labels["events"], clean.frame[ID],
                                            customers_label=labels["customers"], cutoff=cutoff, report=report,
                                            scratch=scratch, time_format=time_format,
                                            bulk=features is None), report
    # The bulk rule judges a time by the other rows: training only, so a scored customer depends on his rows alone.
    ev = validate_events(events, p, labels["events"], clean.frame[ID], customers_label=labels["customers"],
                         report=report, time_format=time_format, bulk=features is None)
    kept = apply_cutoff(ev.frame, cutoff, labels["events"], report)
    return clean, dataclasses.replace(ev, frame=kept), report
