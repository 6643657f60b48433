"""CoLES's positives: random contiguous sub-sequences ("slices") of the same customer's event sequence.

Babaev et al. 2022 (CoLES) sample each customer's slices with a random length and start, so the encoder
must recognise a customer from any stretch of its history: the habits that persist, not the counts of
one window. The length is drawn in [max(min_events, ceil(min_share * n)), n] of the n events, as
pytorch-lifestream's SampleSlices does; a customer with fewer than two events has nothing to contrast.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pipeline.events.sequences import SequenceBatch


class Slices(NamedTuple):
    """`views` slices per customer of `rows`: left-aligned arrays like a SequenceBatch's, and who they belong to."""

    types: np.ndarray     # int64 [V, W]
    values: np.ndarray    # float32 [V, W, C]
    lengths: np.ndarray   # int64 [V], each >= 1
    owner: np.ndarray     # int64 [V]: index into `rows` of the customer each slice came from


def trainable_rows(batch: SequenceBatch) -> np.ndarray:
    """The customers with at least two events: the only ones that can form a positive pair."""
    return np.flatnonzero(batch.lengths >= 2)


def sample_slices(batch: SequenceBatch, rows: np.ndarray, views: int, min_share: float, min_events: int,
                  rng: np.random.Generator) -> Slices:
    """`views` random slices of each customer in `rows` (all with >= 2 events)."""
    n = batch.lengths[rows].astype(np.int64)
    owner = np.repeat(np.arange(len(rows)), views)
    total = n[owner]
    shortest = np.minimum(np.maximum(np.ceil(min_share * total).astype(np.int64), min_events), total)
    sizes = rng.integers(shortest, total + 1)                    # inclusive of the whole sequence
    starts = (rng.random(len(owner)) * (total - sizes + 1)).astype(np.int64)
    width = int(sizes.max()) if len(sizes) else 1
    steps = np.arange(width)
    valid = steps[None, :] < sizes[:, None]
    cols = np.where(valid, starts[:, None] + steps[None, :], 0)
    source = rows[owner][:, None]
    types = np.where(valid, batch.types[source, cols], 0).astype(np.int64)
    values = np.where(valid[..., None], batch.values[source, cols], 0.0).astype(np.float32)
    return Slices(types, values, sizes, owner)
