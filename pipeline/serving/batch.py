"""Scoring files of customers: in one piece when small, chunk by chunk in bounded memory when large.

Both paths validate with the training contract and score through `Scorer.score`, so a file gives the
same scores whichever path it takes (tested); the chunked one reads the customers `chunk_size` rows
at a time with the events partitioned to match (pipeline/serving/chunks.py) and logs progress.
"""
from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.io import atomic_path, read_table
from pipeline.serving.chunks import check_unknown, iter_customers, partition_events, read_ids, read_part
from pipeline.serving.scorer import Scorer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchJob:
    customers: Path
    events: Path | None
    out: Path
    as_of: pd.Timestamp | None = None      # None: the scorer's default (data.cutoff, else latest event + 1 s)
    threshold: float | None = None         # None: the family's tuned threshold
    explain: int = 0                       # reasons per customer (0: none)
    chunk_size: int = 100_000


def score_file(scorer: Scorer, job: BatchJob) -> pd.DataFrame:
    """customer_id, probability, label (+ reasons) of every customer of the file, in file order."""
    ids = read_ids(job.customers, scorer.data.id_column, "customers")
    return score_whole(scorer, job) if len(ids) <= job.chunk_size else score_chunked(scorer, job, ids)


def score_whole(scorer: Scorer, job: BatchJob) -> pd.DataFrame:
    """Small files: both tables in memory, one call (the path the exact-reproduction test checks)."""
    id_column = scorer.data.id_column
    customers = read_table(job.customers, "customers", (id_column,))
    events = None if job.events is None else read_table(job.events, "events", (id_column,))
    labels = {"customers": str(job.customers), "events": str(job.events)}
    return scorer.score(customers, events, labels=labels, as_of=job.as_of, threshold=job.threshold,
                        explain=job.explain).frame


def _as_of(scorer: Scorer, job: BatchJob, latest: pd.Timestamp | None) -> pd.Timestamp | None:
    if job.as_of is not None:
        return job.as_of
    return scorer.default_as_of(None if latest is None else pd.Series([latest]))


def score_chunked(scorer: Scorer, job: BatchJob, ids: pd.Series) -> pd.DataFrame:
    """Large files: events partitioned by customers chunk once, then chunk after chunk with a progress line."""
    size, id_column, n = job.chunk_size, scorer.data.id_column, len(ids)
    frames, seen = [], set()
    with tempfile.TemporaryDirectory(prefix=".predict.", dir=job.out.parent) as work:
        parts = None
        if job.events is not None:
            want_latest = job.as_of is None and scorer.data.cutoff is None
            parts = partition_events(job.events, ids, size, Path(work), id_column,
                                     scorer.data.timestamp_column if want_latest else None)
            check_unknown(parts, scorer.data.max_unmatched_event_share, id_column, job.events, job.customers)
        as_of = _as_of(scorer, job, None if parts is None else parts.latest)
        log.info("predict: %s customers in %d chunks, as-of %s", f"{n:,}", -(-n // size), as_of)
        start, done = time.perf_counter(), 0
        for i, customers in enumerate(iter_customers(job.customers, id_column, size)):
            where = f"(rows {done + 1:,}-{done + len(customers):,}; row numbers below count from row {done + 1:,})"
            labels = {"customers": f"{job.customers} {where}", "events": f"{job.events} (customers of {where})"}
            events = None if parts is None else read_part(parts.paths[i], id_column)
            scored = scorer.score(customers, events, labels=labels, as_of=as_of, threshold=job.threshold,
                                  explain=job.explain, quiet=True)
            for note in (x.replace(f" {where}", "") for x in scored.notes):   # each distinct note once
                if note not in seen:
                    seen.add(note)
                    log.info(note)
            frames.append(scored.frame)
            done += len(customers)
            rate = done / max(time.perf_counter() - start, 1e-9)
            log.info("predict: %s/%s customers (%.0f%%), %s/s, eta %.0f s", f"{done:,}", f"{n:,}", 100 * done / n,
                     f"{rate:,.0f}", (n - done) / rate)
    return pd.concat(frames, ignore_index=True)


def write_scores(frame: pd.DataFrame, out: Path) -> None:
    """CSV or Parquet by the suffix, atomically."""
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
