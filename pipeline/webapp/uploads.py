"""Uploaded files scored as `python -m pipeline.predict` scores them: capped, written to a temp folder, chunked.

An upload is refused in one line (InputError) past a byte cap or a row cap per file, measured before anything is
parsed: the bytes of the upload; for Parquet the rows and the uncompressed size its footer declares (a small file
can decompress to gigabytes); for CSV the records, counted in one streaming pass that stops past the cap. Under
the caps the files go to a temp folder and through `pipeline.serving.batch.score_file`, the CLI's own function,
`CHUNK_SIZE` customers at a time, so memory is bounded by the chunk and not by the upload.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import InputError
from pipeline.monitoring.reference import DriftReference
from pipeline.monitoring.summary import summarize
from pipeline.serving import batch
from pipeline.serving.chunks import read_id_column
from pipeline.serving.scorer import Scorer, add_rank

MAX_UPLOAD_MB = 100           # per file; .streamlit/config.toml's server.maxUploadSize says the same to the browser
MAX_UPLOAD_ROWS = 1_000_000   # per file (customers or events)
MAX_PARQUET_DATA_MB = 2_048   # uncompressed, as the Parquet footer declares it
CHUNK_SIZE = 50_000           # customers scored at a time
USE_THE_CLI = "score large files with `python -m pipeline.predict` (chunked, no cap)"
NOTES_FROM = "pipeline.serving."   # where scoring logs its notes (INFO); warnings come from any pipeline module
PROGRESS = "predict: "             # score_file's progress lines, which are not notes for the user


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes

    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Caps:
    max_rows: int
    max_bytes: int


@dataclass(frozen=True)
class UploadScores:
    frame: pd.DataFrame              # ranked, as predict writes it (customer_id, probability, label, rank, decile)
    drift: dict[str, Any] | None     # the summary predict writes to scores.drift.json; None without a reference
    notes: list[str]                 # what predict would log (ignored columns, unseen levels, dropped events)
    as_of: pd.Timestamp


def csv_rows(path: Path, limit: int) -> int:
    """Data records of a CSV (blank and all-empty ones skipped), streamed; stops once past `limit`."""
    with path.open("rb") as raw:
        encoding = "utf-16" if raw.read(2) in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    n = -1   # the header
    with path.open(encoding=encoding, errors="replace", newline="") as text:
        try:
            for record in csv.reader(text):
                n += any(record)
                if n > limit:
                    break
        except csv.Error:   # malformed beyond counting: the reader names the problem in score_file
            pass
    return max(n, 0)


def size(n: int) -> str:
    """'1.5 KB', '12.3 MB': bytes for a message."""
    return f"{n / 2**10:,.1f} KB" if n < 2**20 else f"{n / 2**20:,.1f} MB"


def _limits(caps: Caps) -> str:
    return f"the app scores files of up to {caps.max_rows:,} rows and {size(caps.max_bytes)}"


def check_caps(path: Path, name: str, caps: Caps) -> None:
    """InputError when the saved upload has too many rows (or Parquet data), judged before it is parsed."""
    try:
        meta = None if path.suffix.lower() == ".csv" else pq.read_metadata(path)
    except (pa.ArrowException, OSError):   # not Parquet after all: counted as text (the reader judges it)
        meta = None
    if meta is None:
        rows = csv_rows(path, caps.max_rows)
    else:
        rows = meta.num_rows
        data = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if data > MAX_PARQUET_DATA_MB * 2**20:
            raise InputError(f"{name}: {size(data)} once decompressed (over {MAX_PARQUET_DATA_MB:,} MB); "
                             f"{USE_THE_CLI}.")
    if rows > caps.max_rows:
        raise InputError(f"{name}: more than {caps.max_rows:,} rows; {_limits(caps)}; {USE_THE_CLI}.")


def save(upload: Upload, folder: Path, caps: Caps) -> Path:
    """The upload written to folder/<its file name> (messages then name the user's file), checked against the caps."""
    if len(upload.data) > caps.max_bytes:   # before writing anything
        raise InputError(f"{upload.name}: {size(len(upload.data))}; {_limits(caps)}; {USE_THE_CLI}.")
    folder.mkdir(parents=True)
    name = Path(upload.name).name
    path = folder / (name if name not in ("", ".", "..") else f"upload{Path(upload.name).suffix or '.csv'}")
    path.write_bytes(upload.data)
    check_caps(path, upload.name, caps)
    return path


class _Notes(logging.Handler):
    """The notes and warnings scoring logs from this thread (each Streamlit session runs its script in its own
    thread); not the INFO summaries of the feature builders, nor progress."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.thread, self.lines = threading.get_ident(), []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        note = record.levelno >= logging.WARNING or record.name.startswith(NOTES_FROM)
        if note and record.thread == self.thread and not message.startswith(PROGRESS):
            self.lines.append(message)


@contextmanager
def captured_notes() -> Iterator[list[str]]:
    """The notes and warnings the pipeline logs while scoring, for the page (predict leaves them in its log)."""
    handler, logger = _Notes(), logging.getLogger("pipeline")
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


def _user_paths(message: str, work: Path) -> str:
    """Temp paths out of a message: 'new.csv: ...', as the user named the file."""
    for folder in (work / "customers", work / "events", work):
        message = message.replace(f"{folder}{os.sep}", "")
    return message


def customers_of_events(scorer: Scorer, events: Path | None, work: Path) -> Path:
    """No customers file (a model of an event log alone): everyone in the events, as predict does."""
    ids = None if events is None else read_id_column(events, scorer.data.id_column, "events")
    path = work / "customers of the events.parquet"
    batch.event_customers(scorer, ids, "a customers file").to_parquet(path, index=False)
    return path


def score_uploads(scorer: Scorer, customers: Upload | None, events: Upload | None, as_of: pd.Timestamp, caps: Caps,
                  reference: DriftReference | None = None, no_events: bool = False) -> UploadScores:
    """Uploaded files -> ranked scores and drift as predict writes them; InputError (naming the upload) on bad input."""
    with tempfile.TemporaryDirectory(prefix="app-upload-") as tmp, captured_notes() as notes:
        work = Path(tmp)
        try:
            ev = None if events is None else save(events, work / "events", caps)
            cu = (customers_of_events(scorer, ev, work) if customers is None
                  else save(customers, work / "customers", caps))
            job = batch.BatchJob(cu, ev, work / "scores.csv", as_of=as_of, chunk_size=CHUNK_SIZE,
                                 no_events=no_events and ev is None)
            scored = batch.score_file(scorer, job, reference)
        except InputError as err:
            raise InputError(_user_paths(str(err), work)) from None
    drift = None if scored.drift is None or reference is None else \
        {"as_of": as_of.isoformat() if scorer.uses_time else ""} | summarize(reference, scored.drift)
    shown = list(dict.fromkeys(_user_paths(n, work) for n in notes))   # each distinct note once, in order
    return UploadScores(add_rank(scored.frame), drift, shown, as_of)
