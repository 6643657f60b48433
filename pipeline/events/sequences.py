"""`SequenceBatch`: the one type for customers' event sequences, from the features stage to the model.

Per customer: the last events in time order, LEFT-aligned (positions 0..length-1 are real events, the
rest padding), which is what `pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)`
expects; plus, for the sequence model, the static features joined to its recurrent state.

Type ids: 0 = padding, 1 = other / unknown / missing type (and every event when the log has no
event_type column), 2.. = the fitted vocabulary in order (`type_names` spells them out).

`save_sequences` / `load_sequences` store a batch as one .npz without pickle (ids and names as
fixed-width unicode arrays), written atomically. The static features are not stored: they are
columns of the feature matrix, joined by `with_static` when a model needs them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import InputError
from pipeline.core.io import write_npz

PAD, UNKNOWN, FIRST_TYPE_ID = 0, 1, 2
ARRAYS = ("types", "values", "lengths", "customer_ids", "channels", "type_names")


@dataclass(eq=False)
class SequenceBatch:
    """n customers, at most L events each, C value channels, S static features.

    `n_types` is the size of the event-type embedding table: `len(type_names)` for a fitted
    vocabulary, else inferred from the largest id (at least padding + other).
    """

    types: np.ndarray                         # int32 [n, L]: 0 = padding, 1 = unknown/other, 2.. = vocabulary
    values: np.ndarray                        # float32 [n, L, C]: standardised channels, padding 0
    lengths: np.ndarray                       # int32 [n]: real events per customer (0 without events), <= L
    static: np.ndarray | None = None          # float32 [n, S]; None -> no static features (S = 0)
    customer_ids: np.ndarray | None = None    # object (str) [n]: the row order
    channels: list[str] = field(default_factory=list)     # names of the C channels
    type_names: list[str] = field(default_factory=list)   # name of each type id: "<pad>", "<other>", vocab...
    n_types: int | None = None

    def __post_init__(self) -> None:
        self.types = np.asarray(self.types, dtype=np.int32)
        self.lengths = np.asarray(self.lengths, dtype=np.int32)
        self.values = np.asarray(self.values, dtype=np.float32)
        n = len(self.lengths)
        self.static = (np.zeros((n, 0), np.float32) if self.static is None
                       else np.asarray(self.static, dtype=np.float32))
        if self.customer_ids is not None:
            self.customer_ids = np.asarray(self.customer_ids, dtype=object)
        _check_arrays(self)
        top = int(self.types.max()) if self.types.size else PAD
        if self.n_types is None:
            self.n_types = len(self.type_names) if self.type_names else max(top + 1, FIRST_TYPE_ID)
        if top >= self.n_types:
            raise ValueError(f"SequenceBatch: types hold id {top}, expected ids below n_types={self.n_types}.")

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def shape(self) -> tuple[int]:
        """(n,): lets scikit-learn's CV helpers count and index rows (via __getitem__)."""
        return (len(self),)

    def subset(self, idx: Any) -> SequenceBatch:
        """Rows `idx` (integer indices, boolean mask or slice); names and n_types kept."""
        ids = None if self.customer_ids is None else self.customer_ids[idx]
        return dataclasses.replace(self, types=self.types[idx], values=self.values[idx], lengths=self.lengths[idx],
                                   static=self.static[idx], customer_ids=ids)

    def __getitem__(self, key: Any) -> SequenceBatch:
        # scikit-learn's _safe_indexing calls X[key, ...] on objects with a shape.
        if isinstance(key, tuple) and len(key) == 2 and key[1] is Ellipsis:
            key = key[0]
        if isinstance(key, (int, np.integer)):
            key = [key]
        return self.subset(np.asarray(key) if isinstance(key, list) else key)

    def with_static(self, static: np.ndarray) -> SequenceBatch:
        """The same sequences with these static features (rows aligned)."""
        return dataclasses.replace(self, static=static)


def _check_arrays(b: SequenceBatch) -> None:
    """Raise ValueError naming the array whose shape or content breaks the contract."""
    types, values, lengths, static = b.types, b.values, b.lengths, b.static
    if types.ndim != 2 or values.ndim != 3 or lengths.ndim != 1 or static.ndim != 2:
        raise ValueError("SequenceBatch: expected types [n, L], values [n, L, C], lengths [n], static [n, S]; "
                         f"got {types.shape}, {values.shape}, {lengths.shape}, {static.shape}.")
    n, width = len(lengths), types.shape[1]
    if types.shape[0] != n or values.shape[:2] != types.shape or static.shape[0] != n or (
            b.customer_ids is not None and len(b.customer_ids) != n):
        raise ValueError(f"SequenceBatch: row counts/widths disagree: types {types.shape}, values {values.shape}, "
                         f"lengths {lengths.shape}, static {static.shape}.")
    if n and (lengths.min() < 0 or lengths.max() > width):
        raise ValueError(f"SequenceBatch: lengths must lie in 0..{width}, got {lengths.min()}..{lengths.max()}.")
    if types.size and types.min() < 0:
        raise ValueError(f"SequenceBatch: event-type ids must be >= 0, got {types.min()}.")
    for name, array in (("values", values), ("static", static)):
        if not np.isfinite(array).all():
            raise ValueError(f"SequenceBatch: {name} holds NaN or infinity; impute/scale before the model.")


def last_events(types: np.ndarray, values: np.ndarray, lengths: np.ndarray,
                max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep each customer's LAST `max_len` real events, still left-aligned; width >= 1."""
    n, width = types.shape
    new_len = np.minimum(lengths, max_len).astype(np.int32)
    out_width = max(int(new_len.max()) if n else 0, 1)   # length-0 rows are packed over one pad step
    if width >= out_width and (lengths <= max_len).all():
        return types[:, :out_width], values[:, :out_width], new_len
    if width == 0:
        return (np.zeros((n, 1), np.int32), np.zeros((n, 1, values.shape[2]), np.float32), new_len)
    steps = np.arange(out_width)
    valid = steps[None, :] < new_len[:, None]
    # Row i keeps positions lengths[i]-new_len[i] .. lengths[i]-1 (the most recent events).
    cols = np.where(valid, (lengths - new_len)[:, None] + steps[None, :], 0)
    rows = np.arange(n)[:, None]
    kept_types = np.where(valid, types[rows, cols], PAD).astype(np.int32)
    kept_values = np.where(valid[..., None], values[rows, cols], 0.0).astype(np.float32)
    return kept_types, kept_values, new_len


def save_sequences(batch: SequenceBatch, path: str | Path) -> None:
    """Write `batch` (without its static features) to one .npz, no pickled objects, atomically."""
    if batch.customer_ids is None:
        raise ValueError("save_sequences: the batch has no customer_ids; they fix the row order on disk.")
    arrays = {
        "types": np.ascontiguousarray(batch.types, dtype=np.int32),
        "values": np.ascontiguousarray(batch.values, dtype=np.float32),
        "lengths": np.ascontiguousarray(batch.lengths, dtype=np.int32),
        # fixed-width unicode, so loading never needs allow_pickle
        "customer_ids": _unicode(batch.customer_ids),
        "channels": _unicode(batch.channels),
        "type_names": _unicode(batch.type_names),
    }
    write_npz(arrays, path)


def load_sequences(path: str | Path) -> SequenceBatch:
    """Read a batch written by `save_sequences` (allow_pickle=False: object arrays are refused)."""
    with np.load(path, allow_pickle=False) as data:
        if missing := [name for name in ARRAYS if name not in data.files]:
            raise InputError(f"{path}: not a sequence file, arrays {missing} are missing.")
        return SequenceBatch(types=data["types"], values=data["values"], lengths=data["lengths"],
                             customer_ids=data["customer_ids"].astype(object),
                             channels=[str(c) for c in data["channels"]],
                             type_names=[str(t) for t in data["type_names"]])


def _unicode(items: object) -> np.ndarray:
    array = np.asarray(items, dtype=object)
    return array.astype(str) if array.size else np.zeros(0, dtype="<U1")
