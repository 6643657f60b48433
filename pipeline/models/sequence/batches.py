"""How the sequence model feeds on a `SequenceBatch`: tensors, mini-batches and the early-stopping hold-out."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch

from pipeline.events.sequences import SequenceBatch


class Tensors(NamedTuple):
    """CPU tensors of a prepared SequenceBatch (types int64, the rest float32, lengths int64)."""

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
    if not isinstance(X, SequenceBatch):
        raise TypeError(f"SequenceClassifier expects a SequenceBatch, got {type(X).__name__}.")
