"""Where the raw tables come from: the user's files (CSV/Parquet, ids read as text) or the seeded simulator."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import read_table
from pipeline.core.params import DataParams, LabelParams
from pipeline.core.schema import EVENT_TYPE, ID, TIMESTAMP, TRUE_PROBABILITY
from pipeline.data.event_chunks import EventChunks, read_events
from pipeline.data.validate_customers import Report
from pipeline.data.validate_events import parse_cutoff

SOURCES = ("synthetic", "files")
SIMULATED_TARGET = "churn"     # pipeline.data.simulator's target column; its other columns use the canonical names


@dataclass(frozen=True)
class Sources:
    customers: pd.DataFrame | None     # None: no customers table (label.from_events: customers come from the log)
    events: pd.DataFrame | EventChunks | None    # EventChunks: files only, a log longer than data.event_chunk_rows
    truth: pd.DataFrame | None
    data: DataParams                   # the params describing these frames (synthetic: the simulator's names)
    labels: dict[str, str | None]      # how messages name each table: a path, or 'simulated ...'
    cutoff: pd.Timestamp | None
    report: Report = field(default_factory=Report)   # what reading the files warned (encoding, empty rows)


def read_sources(p: DataParams, seed: int, label: LabelParams | None = None) -> Sources:
    """The user's files, or a seeded simulation when data.source is synthetic.

    With label.from_events the customers table is optional, and the simulator writes its outcome into the
    log (the events after the snapshot) instead of a target column."""
    from_events = label is not None and label.from_events
    if p.source == "files":
        if p.customers is None and not from_events:
            raise InputError("params: data.customers is null; a customers table is needed unless the label is "
                             "built from the event log (label.from_events: true).")
        ids, report = (p.id_column,), Report()   # ids read as text: '00042' must stay '00042'
        customers = None if p.customers is None else read_table(p.customers, "customers", ids, report.warn)
        events = None
        if p.events is not None:   # a log longer than one chunk is validated chunk by chunk (event_chunks.py)
            events = read_table(p.events, "events", ids, report.warn) if from_events \
                else read_events(p.events, p.id_column, p.event_chunk_rows, report.warn)
        return Sources(customers, events, None, p, {"customers": p.customers or "the event log's customers",
                                                    "events": p.events}, parse_cutoff(p.cutoff), report)
    if p.source != "synthetic":
        raise InputError(f"params: data.source must be one of {list(SOURCES)}, got {p.source!r}.")
    if from_events:
        return _simulated_log(p, seed, label)
    from pipeline.data.simulator import simulate  # lazy: file users never need the simulator

    sim = simulate(p.synthetic, seed)
    data = dataclasses.replace(p, id_column=ID, target=SIMULATED_TARGET, positive_label=1,
                               timestamp_column=TIMESTAMP, event_type_column=EVENT_TYPE)
    # The simulated history ends at the snapshot date, which is therefore the natural cutoff.
    cutoff = parse_cutoff(p.cutoff) if p.cutoff is not None else parse_cutoff(p.synthetic.snapshot_date, "data.synthetic.snapshot_date")
    truth = pd.DataFrame({ID: sim.truth[ID].astype(str).to_numpy(dtype=object),
                          TRUE_PROBABILITY: sim.truth[TRUE_PROBABILITY].to_numpy(dtype="float64")})
    labels = {"customers": "simulated customers", "events": "simulated events"}
    return Sources(sim.customers, sim.events, truth, data, labels, cutoff)


def _simulated_log(p: DataParams, seed: int, label: LabelParams) -> Sources:
    """The simulator as a raw log with its outcome written after the snapshot (pipeline/data/simulated_log.py).

    The true probability is the oracle only for the label the simulator draws: churn over every event type,
    at the snapshot, over the horizon it wrote; any other label gets no truth."""
    from pipeline.data.simulated_log import simulate_log

    sim = simulate_log(p.synthetic, seed, label.horizon_days)
    data = dataclasses.replace(p, id_column=ID, timestamp_column=TIMESTAMP, event_type_column=EVENT_TYPE, cutoff=None)
    snapshot = parse_cutoff(p.synthetic.snapshot_date, "data.synthetic.snapshot_date")
    at_snapshot = label.cutoff is None or parse_cutoff(label.cutoff, "label.cutoff") == snapshot
    exact = label.kind == "churn" and label.event_types is None and not p.synthetic.event_types and at_snapshot
    truth = None
    if exact:
        truth = pd.DataFrame({ID: sim.truth[ID].astype(str).to_numpy(dtype=object),
                              TRUE_PROBABILITY: sim.truth[TRUE_PROBABILITY].to_numpy(dtype="float64")})
    labels = {"customers": "simulated customers", "events": "simulated events"}
    # Sources.cutoff: the default label cutoff, the snapshot the outcome was drawn at.
    return Sources(sim.customers, sim.events, truth, data, labels, snapshot)
