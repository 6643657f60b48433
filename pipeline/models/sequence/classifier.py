"""`SequenceClassifier`: a recurrent net over each customer's event log behind the scikit-learn API.

Input is a `SequenceBatch` (pipeline/events/sequences.py: left-aligned padded event arrays plus the
static features), built by the features stage from the training vocabulary and scalers; device and
precision choices are in runtime.py. It trains `SequenceNet` (net.py) with AdamW, a class-weighted
loss, gradient clipping and early stopping on a stratified hold-out of its own training rows;
`save`/`load` use a torch state dict plus a JSON config (no pickle).
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted
from torch import nn

from pipeline.core.io import atomic_path
from pipeline.events.sequences import UNKNOWN, SequenceBatch, last_events
from pipeline.models.sequence.batches import Tensors, batch_to, check_data, holdout, train_batches
from pipeline.models.sequence.net import CELLS, SequenceNet
from pipeline.models.sequence.runtime import amp_dtype, autocast, compute_settings, resolve_device

log = logging.getLogger(__name__)

WEIGHTS_FILE, CONFIG_FILE = "state_dict.pt", "config.json"
EVAL_BATCH = 2048             # eval has no batch-norm statistics to learn, so bigger batches are fine



def val_auc(y: np.ndarray, logits: np.ndarray) -> float:
    """ROC-AUC of the hold-out; NaN when the net produced non-finite logits (diverged)."""
    return float(roc_auc_score(y, logits)) if np.isfinite(logits).all() else float("nan")


class SequenceClassifier(ClassifierMixin, BaseEstimator):
    """Recurrent classifier over event sequences + static features (LSTM / GRU / RNN).

    Learned state: module_, classes_, n_types_, n_channels_, n_static_, history_ (per epoch:
    train_loss, val_auc), best_epoch_ (0-based; its weights are the ones kept).
    `on_epoch(epoch, val_auc)` is called after every epoch: returning True stops training early
    (keeping the best epoch, e.g. at a time budget); exceptions it raises (TrialPruned) propagate. `num_threads` sets torch's CPU threads during fit/predict only.
    """

    def __init__(self, cell: str = "lstm", hidden_size: int = 64, num_layers: int = 1,
                 bidirectional: bool = False, max_len: int = 64, embedding_dim: int = 16,
                 lr: float = 1e-3, weight_decay: float = 1e-4, dropout: float = 0.1,
                 batch_size: int = 256, max_epochs: int = 30, patience: int = 4,
                 grad_clip: float = 1.0, mlp_hidden: int = 64, validation_fraction: float = 0.15,
                 device: str = "auto", random_state: int = 0,
                 on_epoch: Callable[[int, float], bool | None] | None = None, num_threads: int | None = None,
                 stop_at: float | None = None):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.max_len = max_len
        self.embedding_dim = embedding_dim
        self.lr = lr
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.grad_clip = grad_clip
        self.mlp_hidden = mlp_hidden
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state
        self.on_epoch = on_epoch
        self.num_threads = num_threads
        self.stop_at = stop_at   # time.monotonic() of the time budget's end: an epoch ends at the batch past it

    def fit(self, X: SequenceBatch, y: Any) -> SequenceClassifier:
        """Train on X's rows; a stratified `validation_fraction` of them drives early stopping."""
        self._check_params()
        check_data(X)
        y01 = self._encode_target(y, len(X))
        device = resolve_device(self.device)
        self.n_types_, self.n_channels_, self.n_static_ = X.n_types, X.values.shape[2], X.static.shape[1]
        with compute_settings(device, self.num_threads):
            torch.manual_seed(self.random_state)
            rng = np.random.default_rng(self.random_state)
            fit_rows, val_rows = holdout(y01, self.validation_fraction, rng)
            self.module_ = self._new_module().to(device)
            self._fit_loop(self._tensors(X), y01, fit_rows, val_rows, rng, device)
        log.debug("sequence: %s fitted on %d rows, best epoch %d of %d, val AUC %.4f (%s)", self.cell,
                 len(fit_rows), self.best_epoch_, len(self.history_),
                 self.history_[self.best_epoch_]["val_auc"], device)
        return self

    def _fit_loop(self, data: Tensors, y: np.ndarray, fit_rows: np.ndarray, val_rows: np.ndarray,
                  rng: np.random.Generator, device: torch.device) -> None:
        """Epochs of training with early stopping on hold-out AUC; keeps the best epoch's weights."""
        optimizer = torch.optim.AdamW(self.module_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n_pos = int(y[fit_rows].sum())
        # Class weights: positives count n_neg/n_pos times, so a minority class is not ignored.
        pos_weight = torch.tensor((len(fit_rows) - n_pos) / n_pos, device=device)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        # float16 gradients underflow without loss scaling; on CPU (fp32) the scaler is a no-op.
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype(device) == torch.float16)
        targets = torch.from_numpy(y.astype(np.float32))
        self.history_, self.best_epoch_, best_score, best_state = [], -1, -math.inf, None
        for epoch in range(self.max_epochs):
            loss = self._train_epoch(data, targets, rng.permutation(fit_rows), optimizer, loss_fn, scaler, device)
            score = val_auc(y[val_rows], self._logits(data, val_rows, device))
            self.history_.append({"epoch": epoch, "train_loss": loss, "val_auc": score})
            log.debug("sequence epoch %d: train loss %.4f, val AUC %.4f", epoch, loss, score)
            if score > best_score:
                self.best_epoch_, best_score = epoch, score
                best_state = {k: v.detach().clone() for k, v in self.module_.state_dict().items()}
            stop = self.on_epoch(epoch, score) if self.on_epoch is not None else False
            if stop or epoch - self.best_epoch_ >= self.patience or not math.isfinite(loss):
                break
        if best_state is None:
            raise FloatingPointError(f"SequenceClassifier diverged (train loss {loss}); lower lr={self.lr}.")
        self.module_.load_state_dict(best_state)

    def _train_epoch(self, data: Tensors, targets: torch.Tensor, order: np.ndarray,
                     optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
                     scaler: torch.amp.GradScaler, device: torch.device) -> float:
        """One pass over `order` in mini-batches; returns the mean training loss."""
        self.module_.train()
        total = torch.zeros((), device=device)
        seen = 0
        for idx in train_batches(order, self.batch_size):
            if self.stop_at is not None and seen and time.monotonic() > self.stop_at:
                break   # on_epoch then sees the budget is spent: a trial is pruned, a final fit keeps its best
            seen += len(idx)
            batch = batch_to(data, idx, device)
            target = targets[torch.from_numpy(idx)].to(device, non_blocking=True)
            with autocast(device):
                logits = self.module_(batch.types, batch.values, batch.lengths, batch.static)
            loss = loss_fn(logits.float(), target)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)   # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(self.module_.parameters(), self.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            total += loss.detach() * len(idx)   # no .item() per batch: avoids a GPU sync
        return float(total) / max(seen, 1)

    @torch.no_grad()
    def _logits(self, data: Tensors, rows: np.ndarray, device: torch.device) -> np.ndarray:
        """Logits for `rows` in eval mode (batch norm uses its running statistics)."""
        self.module_.eval()
        out = []
        for start in range(0, len(rows), EVAL_BATCH):
            batch = batch_to(data, rows[start:start + EVAL_BATCH], device)
            with autocast(device):
                out.append(self.module_(batch.types, batch.values, batch.lengths, batch.static).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    def predict_proba(self, X: SequenceBatch) -> np.ndarray:
        """[n, 2] probabilities of classes_[0] and classes_[1]."""
        check_is_fitted(self, "module_")
        device = next(self.module_.parameters()).device
        with compute_settings(device, self.num_threads):
            logits = self._logits(self._tensors(X), np.arange(len(X)), device)
        p = expit(logits.astype(np.float64))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: SequenceBatch) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def _tensors(self, X: SequenceBatch) -> Tensors:
        """Check X against the fitted shapes, keep the last max_len events, map unseen types to UNKNOWN."""
        check_data(X)
        if (X.values.shape[2], X.static.shape[1]) != (self.n_channels_, self.n_static_):
            raise ValueError(f"SequenceBatch has {X.values.shape[2]} value channels and {X.static.shape[1]} "
                             f"static features; the model was fitted with {self.n_channels_} and {self.n_static_}.")
        types, values, lengths = last_events(X.types, X.values, X.lengths, self.max_len)
        types = np.where(types >= self.n_types_, UNKNOWN, types)
        return Tensors(torch.from_numpy(X.static), torch.from_numpy(types.astype(np.int64)),
                       torch.from_numpy(np.ascontiguousarray(values)), torch.from_numpy(lengths.astype(np.int64)))

    def _new_module(self) -> SequenceNet:
        return SequenceNet(self.n_types_, self.n_channels_, self.n_static_, cell=self.cell,
                           hidden_size=self.hidden_size, num_layers=self.num_layers,
                           bidirectional=self.bidirectional, embedding_dim=self.embedding_dim,
                           dropout=self.dropout, mlp_hidden=self.mlp_hidden)

    def _encode_target(self, y: Any, n: int) -> np.ndarray:
        """Set classes_ and return y as 0/1 (1 = classes_[1], the positive class)."""
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"y must have shape ({n},) to match X, got {y.shape}.")
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(f"SequenceClassifier needs a binary target, got classes {self.classes_.tolist()}.")
        return (y == self.classes_[1]).astype(np.int64)

    def _check_params(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {list(CELLS)}, got {self.cell!r}.")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie in (0, 1), got {self.validation_fraction}.")
        if min(self.max_len, self.batch_size, self.max_epochs, self.patience) < 1:
            raise ValueError("max_len, batch_size, max_epochs and patience must all be >= 1.")

    def save(self, directory: str | Path) -> Path:
        """Write state_dict.pt (tensors only) and config.json into `directory`, each atomically."""
        check_is_fitted(self, "module_")
        directory = Path(directory)
        params = {k: v for k, v in self.get_params().items() if k not in ("on_epoch", "stop_at")}
        config = {"params": params, "n_types": self.n_types_, "n_channels": self.n_channels_,
                  "n_static": self.n_static_, "classes": self.classes_.tolist(),
                  "best_epoch": self.best_epoch_, "history": self.history_}
        state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        with atomic_path(directory / WEIGHTS_FILE) as tmp:
            torch.save(state, tmp)
        with atomic_path(directory / CONFIG_FILE) as tmp:
            tmp.write_text(json.dumps(config, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | None = None) -> SequenceClassifier:
        """Rebuild a fitted model from `save` output; weights load with weights_only=True (no pickle code)."""
        directory = Path(directory)
        config = json.loads((directory / CONFIG_FILE).read_text())
        model = cls(**config["params"])
        if device is not None:
            model.set_params(device=device)
        model.n_types_, model.n_channels_ = config["n_types"], config["n_channels"]
        model.n_static_, model.classes_ = config["n_static"], np.asarray(config["classes"])
        model.best_epoch_, model.history_ = config["best_epoch"], config["history"]
        module = model._new_module()
        module.load_state_dict(torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        model.module_ = module.to(resolve_device(model.device)).eval()
        return model
