"""`SequenceEmbedder`: a CoLES encoder pre-trained on the training customers' sequences, as features.

fit(train batch) trains `EncoderNet` (net.py) without labels: each step takes `batch_customers`
customers, `views` random slices of each (slices.py), and minimises the softmax contrastive loss
(loss.py). transform(batch) is the encoder's last hidden state per customer over its whole sequence,
standardised with the training customers' mean and std, so every family (tabular ones included) can
use the columns as they are.

The fitted state is numpy arrays only (weights_, mean_, std_), so the embedder is saved inside
models/transform.skops with the rest of the feature step, and a new customer is embedded by exactly
the code and weights the pipeline used. Seeded and deterministic on CPU.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from pipeline.core.errors import InputError
from pipeline.core.io import write_npz
from pipeline.events.sequences import UNKNOWN, SequenceBatch, last_events
from pipeline.embedding.slices import sample_slices, trainable_rows

log = logging.getLogger(__name__)

PREFIX = "seq_emb_"        # the matrix columns: seq_emb_00, seq_emb_01, ...
EVAL_BATCH = 2048
SHAPE_KEY = "shape"        # encoder.npz: type_dim, hidden_size, n_types, n_channels
MIN_CUSTOMERS = 8          # fewer trainable customers than this: nothing to learn, the columns stay zero


@dataclass(frozen=True)
class Pretrained:
    """A pre-trained encoder (net.py's EncoderNet): event-type embedding `type_dim` + a one-layer GRU of
    `hidden_size` over n_types ids and n_channels value channels. Its state-dict keys (embedding.*, rnn.*)
    are those of the sequence model's own embedding and GRU of the same shape."""

    type_dim: int
    hidden_size: int
    n_types: int
    n_channels: int
    weights: dict[str, np.ndarray]


def save_pretrained(pre: Pretrained, path: str | Path) -> None:
    """One .npz (no pickle), written atomically: the weights plus the four shape numbers."""
    shape = np.array([pre.type_dim, pre.hidden_size, pre.n_types, pre.n_channels], dtype=np.int64)
    write_npz({SHAPE_KEY: shape, **{f"w.{k}": v for k, v in pre.weights.items()}}, path)


def load_pretrained(path: str | Path) -> Pretrained | None:
    """The encoder saved by `save_pretrained`, or None when the file does not exist (no event log)."""
    if not Path(path).is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        type_dim, hidden, n_types, n_channels = (int(v) for v in data[SHAPE_KEY])
        weights = {k[2:]: data[k] for k in data.files if k.startswith("w.")}
    return Pretrained(type_dim, hidden, n_types, n_channels, weights)


class SequenceEmbedder(BaseEstimator):
    def __init__(self, dim: int = 16, type_dim: int = 8, max_len: int = 64, views: int = 2,
                 min_share: float = 0.3, min_events: int = 2, epochs: int = 6, batch_customers: int = 128,
                 lr: float = 3e-3, temperature: float = 0.1, max_customers: int | None = None,
                 max_seconds: float = 120.0, random_state: int = 0):
        self.dim = dim
        self.type_dim = type_dim
        self.max_len = max_len
        self.views = views
        self.min_share = min_share
        self.min_events = min_events
        self.epochs = epochs
        self.batch_customers = batch_customers
        self.lr = lr
        self.temperature = temperature
        self.max_customers = max_customers
        self.max_seconds = max_seconds
        self.random_state = random_state

    @property
    def columns(self) -> list[str]:
        return [f"{PREFIX}{i:02d}" for i in range(self.dim)]

    def fit(self, batch: SequenceBatch) -> SequenceEmbedder:
        """Pre-train on these (training) customers' sequences; no label is read."""
        self._check_params()
        with single_thread():
            return self._fit(batch)

    def _fit(self, batch: SequenceBatch) -> SequenceEmbedder:
        import torch

        from pipeline.embedding.loss import softmax_contrastive
        from pipeline.embedding.net import EncoderNet

        self.n_types_, self.n_channels_ = int(batch.n_types), int(batch.values.shape[2])
        self.fit_customers_ = len(batch)
        types, values, lengths = last_events(batch.types, batch.values, batch.lengths, self.max_len)
        clipped = SequenceBatch(types=types, values=values, lengths=lengths, n_types=batch.n_types)
        rows = trainable_rows(clipped)
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        net = EncoderNet(self.n_types_, self.n_channels_, self.type_dim, self.dim)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.lr)
        self.history_ = []
        started = time.monotonic()
        if len(rows) >= MIN_CUSTOMERS:
            for epoch in range(self.epochs):
                loss = self._epoch(net, optimizer, clipped, rows, rng, softmax_contrastive)
                self.history_.append(loss)
                log.info("embedding: epoch %d, contrastive loss %.4f (%.0f s)", epoch, loss,
                         time.monotonic() - started)
                if time.monotonic() - started > self.max_seconds:
                    log.warning("embedding: stopped after %d of %d epochs at features.embedding.max_seconds=%g",
                                epoch + 1, self.epochs, self.max_seconds)
                    break
        else:
            log.warning("embedding: %d customers with two or more events; the encoder is left untrained", len(rows))
        self.weights_ = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        raw = self._encode(clipped)
        self.mean_ = raw.mean(axis=0) if len(raw) else np.zeros(self.dim)
        std = raw.std(axis=0) if len(raw) else np.ones(self.dim)
        self.std_ = np.where(std > 1e-12, std, 1.0)
        # Logged, not kept: a wall-clock time in the fitted state would change models/transform.skops' bytes.
        per_epoch = len(rows) if self.max_customers is None else min(len(rows), self.max_customers)
        log.info("embedding: pre-trained on %d customers (%d per epoch) in %.1f s", len(rows), per_epoch,
                 time.monotonic() - started)
        return self

    def _epoch(self, net: Any, optimizer: Any, batch: SequenceBatch, rows: np.ndarray,
               rng: np.random.Generator, loss_fn: Any) -> float:
        import torch

        net.train()
        total, steps = 0.0, 0
        # A contrastive encoder learns as much from 50k customers as from 800k: each epoch draws its own subset.
        order = rng.permutation(rows)[:self.max_customers]
        for start in range(0, len(order), self.batch_customers):
            chunk = order[start:start + self.batch_customers]
            if len(chunk) < 2:
                continue   # one customer has no negatives
            s = sample_slices(batch, chunk, self.views, self.min_share, self.min_events, rng)
            out = net(torch.from_numpy(s.types), torch.from_numpy(s.values), torch.from_numpy(s.lengths))
            loss = loss_fn(out, torch.from_numpy(s.owner), self.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            total, steps = total + float(loss.detach()), steps + 1
        return total / max(steps, 1)

    def transform(self, batch: SequenceBatch) -> np.ndarray:
        """[n, dim] float64: each customer's standardised embedding (zeros -> the train mean without events)."""
        check_is_fitted(self, "weights_")
        if batch.values.shape[2] != self.n_channels_:
            raise InputError(f"embedding: the sequences have {batch.values.shape[2]} value channels, the encoder "
                             f"was fitted with {self.n_channels_}; rerun the features stage.")
        types, values, lengths = last_events(batch.types, batch.values, batch.lengths, self.max_len)
        types = np.where(types >= self.n_types_, UNKNOWN, types)
        with single_thread():
            raw = self._encode(SequenceBatch(types=types, values=values, lengths=lengths, n_types=self.n_types_))
        return (raw - self.mean_) / self.std_

    def pretrained(self) -> Pretrained:
        """The encoder's weights and shape, for a supervised sequence model to start from."""
        check_is_fitted(self, "weights_")
        return Pretrained(type_dim=self.type_dim, hidden_size=self.dim, n_types=self.n_types_,
                          n_channels=self.n_channels_, weights=dict(self.weights_))

    def _encode(self, batch: SequenceBatch) -> np.ndarray:
        """The encoder's raw output for every row, in fixed-size chunks of rows."""
        import torch

        from pipeline.embedding.net import EncoderNet

        net = EncoderNet(self.n_types_, self.n_channels_, self.type_dim, self.dim)
        net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in self.weights_.items()})
        # float64, rounded to float32 after: float32 kernels round with the batch's shape, so a customer's columns
        # moved in the 7th digit with the customers encoded beside him (whole-file against chunked scoring)
        net.double().eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(batch), EVAL_BATCH):
                stop = start + EVAL_BATCH
                lengths = batch.lengths[start:stop].astype(np.int64)
                width = max(int(lengths.max()) if len(lengths) else 1, 1)
                out.append(net(torch.from_numpy(batch.types[start:stop, :width].astype(np.int64)),
                               torch.from_numpy(np.ascontiguousarray(batch.values[start:stop, :width],
                                                                     dtype=np.float64)),
                               torch.from_numpy(lengths)).float().numpy().astype(np.float64))
        return np.concatenate(out) if out else np.zeros((0, self.dim))

    def _check_params(self) -> None:
        if self.max_customers is not None and self.max_customers < self.batch_customers:
            raise InputError(f"features.embedding: max_customers must be null or at least batch_customers "
                             f"({self.batch_customers}); got {self.max_customers}.")
        if self.dim < 1 or self.views < 2 or self.epochs < 0 or self.batch_customers < 2:
            raise InputError("features.embedding: dim >= 1, views >= 2, epochs >= 0 and batch_customers >= 2 "
                             f"are required; got dim={self.dim}, views={self.views}, epochs={self.epochs}, "
                             f"batch_customers={self.batch_customers}.")
        if not 0 < self.min_share <= 1 or not math.isfinite(self.temperature) or self.temperature <= 0:
            raise InputError(f"features.embedding: min_share must lie in (0, 1] and temperature be > 0; got "
                             f"{self.min_share} and {self.temperature}.")


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """torch on one thread: this small GRU took 1.2 s on one thread and 8-15 s on two while another process
    held a core (OpenMP threads spin-wait), and one thread sums in one order (the ISA is pinned in pipeline/__init__)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)
