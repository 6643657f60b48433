"""Scoring files of customers: in one piece when small, chunk by chunk in bounded memory when large.

Both paths validate with the training contract and score through `Scorer.score`, so a file gives the
same scores whichever path it takes (tested); the chunked one reads the customers `chunk_size` rows
at a time with the events partitioned to match (pipeline/serving/chunks.py) and logs progress. Given a
drift reference, each piece adds its bin counts (pipeline/monitoring/psi.py), so the file's drift is
measured whole without holding its rows.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import atomic_path, read_table
from pipeline.core.scratch import scratch_dir
from pipeline.monitoring.psi import DriftCounts, count
from pipeline.monitoring.reference import DriftReference
from pipeline.serving.chunks import (
    has_rows,
    iter_customers,
    partition_events,
    read_id_column,
    read_ids,
    read_part,
)
from pipeline.serving.scorer import Scored, Scorer

log = logging.getLogger(__name__)

SCORES_HELP = """   # what the columns of a scores file mean (predict --help)
rank: 1 = the highest probability (ties keep file order). decile: 1 = the top 10 % of the scored
customers, 10 = the bottom 10 %. label: 1 when probability >= the threshold (the tuned threshold of the
model's family, chosen on out-of-fold train predictions, unless --threshold is given).
as-of: the reference time: events at/after it are dropped (counted and warned); recency features are measured to
it. Required for a model that uses time (trained with events or dates) unless params data.cutoff is set (then the
default); never taken from the scored rows, so a customer's score does not depend on the others in the file.
Recorded in the as_of column and in the drift file. Events of customers not in --customers are ignored (counted).
explain: reason_i, reason_i_value (the model input), reason_i_effect (log-odds for logreg and the boosting families,
probability for forest).
drift: per feature PSI against models/drift_reference.json (< 0.1 stable, 0.1-0.25 moderate, > 0.25 large), status
and bins compared; overall status, top drifting, n scored; judged from 200 customers on (pipeline/monitoring/)."""


@dataclass(frozen=True)
class BatchJob:
    customers: Path
    events: Path | None
    out: Path
    as_of: pd.Timestamp | None = None      # None: params data.cutoff, else an error for a model that uses time
    threshold: float | None = None         # None: the family's tuned threshold
    explain: int = 0                       # reasons per customer (0: none)
    chunk_size: int = 100_000
    no_events: bool = False                # the user says these customers have no events (--no-events)


@dataclass(frozen=True)
class ScoredFile:
    frame: pd.DataFrame           # customer_id, probability, label (+ reasons), in file order
    drift: DriftCounts | None     # the whole file's drift counts; None without a drift reference


def score_file(scorer: Scorer, job: BatchJob, reference: DriftReference | None = None) -> ScoredFile:
    """Every customer of the file scored (and, given a reference, counted for drift)."""
    ids = read_ids(job.customers, scorer.data.id_column, "customers")
    if len(ids) <= job.chunk_size:
        scored = score_whole(scorer, job)
        return ScoredFile(scored.frame, _count(reference, scored))
    return score_chunked(scorer, job, ids, reference)


def _count(reference: DriftReference | None, scored: Scored) -> DriftCounts | None:
    return None if reference is None else count(reference, scored.customers, scored.matrix)


def score_whole(scorer: Scorer, job: BatchJob) -> Scored:
    """Small files: both tables in memory, one call (the path the exact-reproduction test checks)."""
    id_column = scorer.data.id_column
    customers = read_table(job.customers, "customers", (id_column,))
    labels = {"customers": str(job.customers), "events": str(job.events)}
    events, no_events = read_events(job, id_column)
    return scorer.score(customers, events, labels=labels, as_of=job.as_of, threshold=job.threshold,
                        explain=job.explain, no_events=no_events)


def read_events(job: BatchJob, id_column: str) -> tuple[pd.DataFrame | None, bool]:
    """The whole event log, and whether the user said there are none: --no-events, or a file with a header and
    no rows ("no events yet": accepted, not refused as an empty file)."""
    if job.events is None:
        return None, job.no_events
    if not has_rows(job.events, "events"):
        return None, True
    return read_table(job.events, "events", (id_column,)), False


def score_chunked(scorer: Scorer, job: BatchJob, ids: pd.Series,
                  reference: DriftReference | None = None) -> ScoredFile:
    """Large files: events partitioned by customers chunk once, then chunk after chunk with a progress line."""
    size, id_column, n = job.chunk_size, scorer.data.id_column, len(ids)
    frames, seen, drift = [], set(), None
    as_of = scorer.resolve_as_of(job.as_of)   # once, before any row is read: never from the rows
    with scratch_dir(job.out.parent, "predict") as work:
        parts, no_events = None, job.no_events
        if job.events is not None:
            parts = partition_events(job.events, ids, size, Path(work), id_column, str(job.customers))
            for note in parts.notes:
                log.info(note)
            no_events = not parts.n_events   # a header and no rows: "no events yet"
        log.info("predict: %s customers in %d chunks, as-of %s", f"{n:,}", -(-n // size), as_of)
        start, done = time.perf_counter(), 0
        for i, customers in enumerate(iter_customers(job.customers, id_column, size)):
            where = f"(rows {done + 1:,}-{done + len(customers):,})"
            labels = {"customers": f"{job.customers} {where}", "events": f"{job.events} (customers of {where})"}
            events = None if parts is None or no_events else read_part(parts.paths[i], id_column)
            scored = scorer.score(customers, events, labels=labels, as_of=as_of, threshold=job.threshold,
                                  explain=job.explain, quiet=True, no_events=no_events)
            for note in (x.replace(f" {where}", "") for x in scored.notes):   # each distinct note once
                if note not in seen:
                    seen.add(note)
                    log.info(note)
            frames.append(scored.frame)
            if (part := _count(reference, scored)) is not None:
                drift = part if drift is None else drift + part
            done += len(customers)
            rate = done / max(time.perf_counter() - start, 1e-9)
            log.info("predict: %s/%s customers (%.0f%%), %s/s, eta %.0f s", f"{done:,}", f"{n:,}", 100 * done / n,
                     f"{rate:,.0f}", (n - done) / rate)
    return ScoredFile(pd.concat(frames, ignore_index=True), drift)


def event_customers(scorer: Scorer, ids: pd.Series | None, what: str = "--customers") -> pd.DataFrame:
    """The customers table of a model trained on an event log alone: one row per distinct id of its events."""
    static = [*scorer.meta["numeric"], *scorer.meta["categorical"]]
    if ids is None:
        raise InputError(f"give {what} (and the events if the model uses events); neither was given.")
    if static:
        raise InputError(f"{what} is needed: the model uses the static column(s) {static[:5]} of a customers "
                         "table; only a model trained on an event log alone scores from its events by itself.")
    ids = ids.astype("string").str.strip().drop_duplicates()
    return pd.DataFrame({scorer.data.id_column: ids.to_numpy(dtype=object)})


def customers_from_events(events: Path | None, scorer: Scorer, work: Path) -> Path:
    """No customers file: every id of the event log (event_customers), written as work/customers.parquet so both
    scoring paths read it like a user's file."""
    ids = None if events is None else read_id_column(events, scorer.data.id_column, "events")
    path = work / "customers.parquet"
    frame = event_customers(scorer, ids)
    frame.to_parquet(path, index=False)
    log.info("predict: no --customers: scoring the %s customers of %s", f"{len(frame):,}", events)
    return path


def write_scores(frame: pd.DataFrame, out: Path) -> None:
    """CSV or Parquet by the suffix, atomically."""
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


@contextlib.contextmanager
def out_folder(out: Path) -> Iterator[None]:
    """--out's folder, created when missing (`--out results/scores.csv` should just work) and removed again if
    scoring fails before anything is written there, so bad input leaves nothing behind."""
    missing = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{out}: cannot create the folder of --out: {err.strerror or err}.") from None
    try:
        yield
    except BaseException:
        for folder in missing:   # deepest first; rmdir refuses a folder that is not empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
