"""Inputs of the sequence model: `SequenceData` (static features + left-aligned padded event arrays),
truncation to the last events, tensors, mini-batches and the early-stopping hold-out.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

PAD, UNKNOWN = 0, 1           # reserved event-type ids; the vocabulary starts at 2


@dataclass
class SequenceData:
    """Per customer: static [n, S], types int32 [n, L], values float32 [n, L, C], lengths int32 [n].

    Events are left-aligned: positions 0..length-1 are real, the rest is padding (type 0).
    `n_types` (vocabulary size incl. the two reserved ids) is inferred when not given.
    """

    static: np.ndarray | None
    types: np.ndarray
    values: np.ndarray
    lengths: np.ndarray
    n_types: int | None = None

    def __post_init__(self) -> None:
        self.types = np.asarray(self.types, dtype=np.int32)
        self.lengths = np.asarray(self.lengths, dtype=np.int32)
        self.values = np.asarray(self.values, dtype=np.float32)
        n = len(self.lengths)
        self.static = (np.zeros((n, 0), np.float32) if self.static is None
                       else np.asarray(self.static, dtype=np.float32))
        _check_arrays(self.static, self.types, self.values, self.lengths)
        top = int(self.types.max()) if self.types.size else PAD
        if self.n_types is None:
            self.n_types = max(top + 1, UNKNOWN + 1)
        elif top >= self.n_types:
            raise ValueError(f"SequenceData: types hold id {top}, expected ids below n_types={self.n_types}.")

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def shape(self) -> tuple[int]:
        """(n,): lets sklearn's CV helpers count and index rows (via __getitem__)."""
        return (len(self),)

    def subset(self, idx: Any) -> SequenceData:
        """Rows `idx` (integer indices, boolean mask or slice); keeps n_types."""
        return SequenceData(self.static[idx], self.types[idx], self.values[idx], self.lengths[idx],
                            n_types=self.n_types)

    def __getitem__(self, key: Any) -> SequenceData:
        # sklearn's _safe_indexing calls X[key, ...] on objects with a shape.
        if isinstance(key, tuple) and len(key) == 2 and key[1] is Ellipsis:
            key = key[0]
        if isinstance(key, (int, np.integer)):
            key = [key]
        return self.subset(np.asarray(key) if isinstance(key, list) else key)


def _check_arrays(static: np.ndarray, types: np.ndarray, values: np.ndarray, lengths: np.ndarray) -> None:
    """Raise ValueError naming the array whose shape or content breaks the contract."""
    if types.ndim != 2 or values.ndim != 3 or lengths.ndim != 1 or static.ndim != 2:
        raise ValueError("SequenceData: expected types [n, L], values [n, L, C], lengths [n], static [n, S]; "
                         f"got {types.shape}, {values.shape}, {lengths.shape}, {static.shape}.")
    n, width = len(lengths), types.shape[1]
    if types.shape[0] != n or values.shape[:2] != types.shape or static.shape[0] != n:
        raise ValueError(f"SequenceData: row counts/widths disagree: types {types.shape}, "
                         f"values {values.shape}, lengths {lengths.shape}, static {static.shape}.")
    if n and (lengths.min() < 0 or lengths.max() > width):
        raise ValueError(f"SequenceData: lengths must lie in 0..{width}, got {lengths.min()}..{lengths.max()}.")
    if types.size and types.min() < 0:
        raise ValueError(f"SequenceData: event-type ids must be >= 0, got {types.min()}.")
    for name, array in (("values", values), ("static", static)):
        if not np.isfinite(array).all():
            raise ValueError(f"SequenceData: {name} holds NaN or infinity; impute/scale before the model.")


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


class Tensors(NamedTuple):
    """CPU tensors of a prepared SequenceData (types int64, the rest float32, lengths int64)."""

    static: torch.Tensor
    types: torch.Tensor
    values: torch.Tensor
    lengths: torch.Tensor


def batch_to(t: Tensors, idx: np.ndarray, device: torch.device) -> Tensors:
    """Rows `idx`, trimmed to the batch's longest sequence, on `device` (via pinned memory on CUDA)."""
    rows = torch.from_numpy(idx)
    lengths = t.lengths[rows]
    width = max(int(lengths.max()), 1)
    batch = Tensors(t.static[rows], t.types[rows, :width], t.values[rows, :width], lengths)
    if device.type != "cuda":
        return batch
    # pack_padded_sequence wants lengths on the CPU, so they stay there.
    return Tensors(*(x.pin_memory().to(device, non_blocking=True) for x in batch[:3]), lengths)


def train_batches(order: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive chunks of `order`; a trailing single row joins the previous chunk (BatchNorm needs >= 2)."""
    stops = list(range(batch_size, len(order), batch_size)) + [len(order)]
    if len(stops) > 1 and stops[-1] - stops[-2] == 1:
        stops.pop(-2)
    start = 0
    for stop in stops:
        yield order[start:stop]
        start = stop



def holdout(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of the given training rows into (fit rows, early-stopping rows).

    Each class puts at least one row on each side, so the hold-out AUC is always defined
    (sklearn's stratified split can leave a rare class out of a small test part).
    """
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2:
        raise ValueError(f"SequenceClassifier needs >= 2 customers of each class to hold out a validation "
                         f"set; got {counts[0]} negatives and {counts[1]} positives.")
    val_parts = []
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        size = min(max(round(fraction * len(rows)), 1), len(rows) - 1)
        val_parts.append(rng.choice(rows, size=size, replace=False))
    val_rows = np.sort(np.concatenate(val_parts))
    return np.setdiff1d(np.arange(len(y)), val_rows), val_rows


def check_data(X: Any) -> None:
    if not isinstance(X, SequenceData):
        raise TypeError(f"SequenceClassifier expects a SequenceData, got {type(X).__name__}.")
