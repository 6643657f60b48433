"""The features stage for more customers than fit in memory at once: fit on a sample, then chunk by chunk.

Above `features.chunk_customers` customers (train + test) the prepared log is never loaded whole:
1. the fit (FeatureBuilder.fit_matrix, unchanged) sees a seeded sample of at most `features.fit_customers`
   training customers and only their events, read by DuckDB from events.parquet in file order (leakage rule 2:
   training customers only, as in memory);
2. the customers (train, then test) go in chunks of `chunk_customers`, each with its own events read from
   events.parquet by DuckDB; a chunk's training customers go through the fitted builder at the training as-of,
   its test customers through the saved CustomerTransform, as in memory;
3. each chunk's rows are appended to train/test.parquet and the sequence files as they come.
A customer's features depend only on its own events and the fitted state, so with a sample of every training
customer the files hold what the in-memory stage writes, the CoLES columns up to float32 rounding (its GRU runs on
batches shaped by the chunk) (tests/featurization/test_chunked.py).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.params import FeatureParams
from pipeline.core.schema import ID, TIMESTAMP
from pipeline.events.sequence_writer import SequenceWriter
from pipeline.featurization.transform import CustomerTransform, ModelInputs, fit_transform, training_as_of

log = logging.getLogger(__name__)


def needs_chunks(n_customers: int, p: FeatureParams) -> bool:
    return n_customers > p.chunk_customers


def fit_on_sample(train: pd.DataFrame, events_path: Path, columns: dict, meta: dict, parts: tuple,
                  p: FeatureParams, seed: int) -> tuple[CustomerTransform, pd.DataFrame]:
    """The fitted transform and the sample's training matrix (for the drift reference)."""
    sample = train if len(train) <= p.fit_customers else \
        train.sample(n=p.fit_customers, random_state=seed).sort_index()   # seeded; kept in the table's order
    events = events_of(events_path, sample[ID])
    log.info("features: fitting on %s of %s training customers (%s events)", f"{len(sample):,}", f"{len(train):,}",
             f"{len(events):,}")
    transform, matrix, _ = fit_transform(sample, events, columns, meta, parts, p, seed)
    return transform, matrix


def events_of(path: Path, ids: pd.Series) -> pd.DataFrame:
    """The events of these customers, in the file's order, typed as read_table reads the whole file."""
    import duckdb   # here, not at the top: the in-memory stage never needs it

    wanted = pd.DataFrame({ID: ids.to_numpy(dtype=object)})
    source = str(path).replace("'", "''")
    with duckdb.connect() as con:
        con.register("wanted", wanted)
        table = con.sql(
            f"SELECT * EXCLUDE (file_row_number) FROM read_parquet('{source}', file_row_number = true) "
            f"WHERE \"{ID}\" IN (SELECT \"{ID}\" FROM wanted) ORDER BY file_row_number").to_arrow_table()
    frame = table.to_pandas()
    frame[ID] = frame[ID].astype(object)
    frame[TIMESTAMP] = frame[TIMESTAMP].astype("datetime64[ns]")
    return frame


def write_in_chunks(transform: CustomerTransform, train: pd.DataFrame, raw_test: pd.DataFrame, events_path: Path,
                    meta: dict, p: FeatureParams, out: Path) -> dict[str, int]:
    """train/test.parquet and sequences_{train,test}.npz under `out`, one chunk of customers at a time."""
    train_builder = dataclasses.replace(transform.builder, as_of=training_as_of(meta))

    def train_inputs(customers: pd.DataFrame, events: pd.DataFrame) -> ModelInputs:
        batch = train_builder.sequence_batch(customers, events)
        return ModelInputs(train_builder.matrix(customers, events, batch), batch)

    size, n_train = p.chunk_customers, len(train)
    sinks = {"train": _Sink(out, "train", train[ID]), "test": _Sink(out, "test", raw_test[ID])}
    n_chunks = -(-(n_train + len(raw_test)) // size)
    for k in range(n_chunks):   # customers k*size .. (k+1)*size of train followed by test
        lo, hi = k * size, (k + 1) * size
        parts = (("train", train.iloc[min(lo, n_train):min(hi, n_train)], train_inputs),
                 ("test", raw_test.iloc[max(lo - n_train, 0):max(hi - n_train, 0)], transform.transform))
        events = events_of(events_path, pd.concat([rows[ID] for _, rows, _ in parts]))   # one scan of the log
        for split, rows, make in parts:
            if len(rows):
                sinks[split].append(make(rows, events))
        log.info("features: chunk %d of %d done", k + 1, n_chunks)
    return {split: sink.close() for split, sink in sinks.items()}


class _Sink:
    """One split's matrix (Parquet) and sequences (.npz), appended chunk by chunk."""

    def __init__(self, out: Path, split: str, ids: pd.Series):
        self.matrix_path, self.rows = out / f"{split}.parquet", 0
        self.sequences = SequenceWriter(out / f"sequences_{split}.npz", int(ids.str.len().max()))
        self.writer: pq.ParquetWriter | None = None

    def append(self, inputs: ModelInputs) -> None:
        table = pa.Table.from_pandas(inputs.matrix, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.matrix_path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))
        self.sequences.append(inputs.sequences)   # an event log always gives sequences
        self.rows += len(inputs.matrix)

    def close(self) -> int:
        self.writer.close()
        self.sequences.close()
        return self.rows
