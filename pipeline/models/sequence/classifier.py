"""`SequenceClassifier`: a recurrent net over each customer's event log behind the scikit-learn API.

Input is a `SequenceBatch` (pipeline/events/sequences.py: left-aligned padded event arrays plus the
static features), built by the features stage from the training vocabulary and scalers; device and
precision choices are in runtime.py. It trains `SequenceNet` (net.py) with AdamW, a class-weighted
loss, gradient-norm clipping (`grad_clip`; None or 0: none) and early stopping on a stratified hold-out
of its own training rows, and records each epoch's gradient norms (before clipping) in `history_`;
`save`/`load` use a torch state dict plus a JSON config (no pickle).
"""
from __future__ import annotations

import copy

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
from pipeline.models.sequence.cell_names import CELLS
from pipeline.models.sequence.net import SequenceNet
from pipeline.models.sequence.runtime import amp_dtype, autocast, compute_settings, resolve_device

log = logging.getLogger(__name__)

WEIGHTS_FILE, CONFIG_FILE = "state_dict.pt", "config.json"
ENCODERS = ("scratch", "frozen", "finetune")   # where the recurrent part starts: random, or the CoLES encoder
ENCODER_CELL = "gru"                           # the encoder's cell (pipeline/embedding/net.py)
EVAL_BATCH = 2048             # eval has no batch-norm statistics to learn, so bigger batches are fine


def gradient_norm(module: nn.Module, clip: float | None) -> torch.Tensor:
    """Total L2 norm of the gradients BEFORE clipping; clips them to `clip` when set (None or 0: no clipping)."""
    params = [p for p in module.parameters() if p.grad is not None]
    if clip:
        return nn.utils.clip_grad_norm_(params, clip)   # returns the norm it measured before scaling
    return nn.utils.get_total_norm([p.grad for p in params])


def norm_summary(norms: list[torch.Tensor]) -> dict[str, float]:
    """Mean and max of an epoch's finite batch gradient norms, and how many were not finite (one device
    sync per epoch, not per batch). Under float16 a non-finite norm is an overflow step the grad scaler
    skips; on CPU it is a real explosion (the loss turns non-finite and training stops after this epoch)."""
    stacked = torch.stack(norms).float().cpu() if norms else torch.zeros(0)
    finite = stacked[torch.isfinite(stacked)]
    mean, top = (float(finite.mean()), float(finite.max())) if len(finite) else (float("nan"), float("nan"))
    return {"grad_norm_mean": mean, "grad_norm_max": top, "grad_norm_nonfinite": len(stacked) - len(finite)}


def val_auc(y: np.ndarray, logits: np.ndarray) -> float:
    """ROC-AUC of the hold-out; NaN when the net produced non-finite logits (diverged)."""
    return float(roc_auc_score(y, logits)) if np.isfinite(logits).all() else float("nan")


class SequenceClassifier(ClassifierMixin, BaseEstimator):
    """Sequence classifier over event sequences + static features (LSTM / GRU / RNN / Transformer).

    Learned state: module_, classes_, n_types_, n_channels_, n_static_, history_ (per epoch:
    train_loss, val_auc, grad_norm_mean, grad_norm_max: the total gradient L2 norm of each batch BEFORE
    clipping, mean and max over the epoch's batches with finite norms; grad_norm_nonfinite counts the
    others), best_epoch_ (0-based; its weights are the ones kept).
    `grad_clip` None or 0 means no clipping (the norm is still measured). `bidirectional` is ignored by
    the transformer cell.
    `on_epoch(epoch, val_auc)` is called after every epoch: returning True stops training early
    (keeping the best epoch, e.g. at a time budget); exceptions it raises (TrialPruned) propagate. `num_threads` sets torch's CPU threads during fit/predict only.
    """

    def __init__(self, cell: str = "lstm", hidden_size: int = 64, num_layers: int = 1,
                 bidirectional: bool = False, max_len: int = 64, embedding_dim: int = 16,
                 lr: float = 1e-3, weight_decay: float = 1e-4, dropout: float = 0.1,
                 batch_size: int = 256, max_epochs: int = 30, patience: int = 4,
                 grad_clip: float | None = 1.0, mlp_hidden: int = 64, validation_fraction: float = 0.15,
                 device: str = "auto", random_state: int = 0,
                 on_epoch: Callable[[int, float], bool | None] | None = None, num_threads: int | None = None,
                 stop_at: float | None = None, encoder: str = "scratch", pretrained: Any = None):
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
        self.encoder = encoder          # scratch | frozen | finetune: start from the CoLES encoder (ENCODERS)
        self.pretrained = pretrained    # that encoder (pipeline.embedding.embedder.Pretrained); not saved

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
            self.encoder_shape_ = self._check_pretrained(X)
            self.module_ = self._new_module()
            self._start_from_encoder(self.module_)
            self.module_.to(device)
            self._fit_loop(self._tensors(X), y01, fit_rows, val_rows, rng, device)
        log.debug("sequence: %s fitted on %d rows, best epoch %d of %d, val AUC %.4f (%s)", self.cell,
                 len(fit_rows), self.best_epoch_, len(self.history_),
                 self.history_[self.best_epoch_]["val_auc"], device)
        return self

    def _fit_loop(self, data: Tensors, y: np.ndarray, fit_rows: np.ndarray, val_rows: np.ndarray,
                  rng: np.random.Generator, device: torch.device) -> None:
        """Epochs of training with early stopping on hold-out AUC; keeps the best epoch's weights."""
        trainable = [p for p in self.module_.parameters() if p.requires_grad]   # a frozen encoder is not
        optimizer = torch.optim.AdamW(trainable, lr=self.lr, weight_decay=self.weight_decay)
        n_pos = int(y[fit_rows].sum())
        # Class weights: positives count n_neg/n_pos times, so a minority class is not ignored.
        pos_weight = torch.tensor((len(fit_rows) - n_pos) / n_pos, device=device)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        # float16 gradients underflow without loss scaling; on CPU (fp32) the scaler is a no-op.
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype(device) == torch.float16)
        targets = torch.from_numpy(y.astype(np.float32))
        self.history_, self.best_epoch_, best_score, best_state = [], -1, -math.inf, None
        for epoch in range(self.max_epochs):
            loss, norms = self._train_epoch(data, targets, rng.permutation(fit_rows), optimizer, loss_fn, scaler,
                                            device)
            score = val_auc(y[val_rows], self._logits(data, val_rows, device))
            self.history_.append({"epoch": epoch, "train_loss": loss, "val_auc": score, **norms})
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
                     scaler: torch.amp.GradScaler, device: torch.device) -> tuple[float, dict[str, float]]:
        """One pass over `order` in mini-batches; returns the mean training loss and the gradient norms."""
        self.module_.train()
        total = torch.zeros((), device=device)
        seen, norms = 0, []
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
            scaler.unscale_(optimizer)   # measure and clip the true gradients, not the scaled ones
            norms.append(gradient_norm(self.module_, self.grad_clip))
            scaler.step(optimizer)
            scaler.update()
            total += loss.detach() * len(idx)   # no .item() per batch: avoids a GPU sync
        return float(total) / max(seen, 1), norm_summary(norms)

    @torch.no_grad()
    def _logits(self, data: Tensors, rows: np.ndarray, device: torch.device,
                module: nn.Module | None = None) -> np.ndarray:
        """Logits for `rows` in eval mode (batch norm uses its running statistics), as float32."""
        module = self.module_ if module is None else module
        module.eval()
        out = []
        for start in range(0, len(rows), EVAL_BATCH):
            batch = batch_to(data, rows[start:start + EVAL_BATCH], device)
            with autocast(device):
                out.append(module(batch.types, batch.values, batch.lengths, batch.static).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    def predict_proba(self, X: SequenceBatch) -> np.ndarray:
        """[n, 2] probabilities of classes_[0] and classes_[1]."""
        check_is_fitted(self, "module_")
        device = next(self.module_.parameters()).device
        with compute_settings(device, self.num_threads):
            # On the CPU in float64, rounded to float32 after: float32 kernels round with the batch's shape, so a
            # customer's score moved in the 8th digit with the customers scored beside him (whole file vs chunks).
            exact = copy.deepcopy(self.module_).double() if device.type == "cpu" else None
            logits = self._logits(self._tensors(X), np.arange(len(X)), device, exact)
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
        """The net; started from the encoder, its embedding and cell take the encoder's shape (a one-layer
        GRU), so `cell`, `hidden_size`, `num_layers`, `bidirectional` and `embedding_dim` do not apply."""
        shape = getattr(self, "encoder_shape_", None)
        if shape is not None:
            type_dim, hidden = shape
            return SequenceNet(self.n_types_, self.n_channels_, self.n_static_, cell=ENCODER_CELL, hidden_size=hidden,
                               num_layers=1, bidirectional=False, embedding_dim=type_dim, dropout=self.dropout,
                               mlp_hidden=self.mlp_hidden, max_len=self.max_len)
        return SequenceNet(self.n_types_, self.n_channels_, self.n_static_, cell=self.cell,
                           hidden_size=self.hidden_size, num_layers=self.num_layers,
                           bidirectional=self.bidirectional, embedding_dim=self.embedding_dim,
                           dropout=self.dropout, mlp_hidden=self.mlp_hidden, max_len=self.max_len)

    def _check_pretrained(self, X: SequenceBatch) -> tuple[int, int] | None:
        """(type_dim, hidden_size) of the encoder to start from, or None from scratch."""
        if self.encoder == "scratch":
            return None
        pre = self.pretrained
        if pre is None:
            raise ValueError(f"encoder={self.encoder!r} needs the pre-trained CoLES encoder (data/features/encoder.npz; "
                             "features.embedding.dim is 0?); use encoder: scratch.")
        if (pre.n_types, pre.n_channels) != (X.n_types, X.values.shape[2]):
            raise ValueError(f"the pre-trained encoder reads {pre.n_types} event types and {pre.n_channels} channels, "
                             f"the sequences have {X.n_types} and {X.values.shape[2]}; rerun the features stage.")
        return int(pre.type_dim), int(pre.hidden_size)

    def _start_from_encoder(self, module: SequenceNet) -> None:
        """Copy the encoder's weights into the net's embedding and GRU; freeze them for encoder=frozen."""
        if self.encoder_shape_ is None:
            return
        for name, part in (("embedding", module.embedding), ("rnn", module.rnn)):
            prefix = f"{name}."
            part.load_state_dict({k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in
                                  self.pretrained.weights.items() if k.startswith(prefix)})
            if self.encoder == "frozen":
                part.requires_grad_(False)

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
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {list(ENCODERS)}, got {self.encoder!r}.")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie in (0, 1), got {self.validation_fraction}.")
        if min(self.max_len, self.batch_size, self.max_epochs, self.patience) < 1:
            raise ValueError("max_len, batch_size, max_epochs and patience must all be >= 1.")
        if self.grad_clip is not None and not self.grad_clip >= 0:
            raise ValueError(f"grad_clip must be >= 0 (0 or None: no clipping), got {self.grad_clip}.")

    def save(self, directory: str | Path) -> Path:
        """Write state_dict.pt (tensors only) and config.json into `directory`, each atomically."""
        check_is_fitted(self, "module_")
        directory = Path(directory)
        params = {k: v for k, v in self.get_params().items() if k not in ("on_epoch", "stop_at", "pretrained")}
        shape = getattr(self, "encoder_shape_", None)
        config = {"params": params, "encoder_shape": None if shape is None else list(shape),
                  "n_types": self.n_types_, "n_channels": self.n_channels_,
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
        shape = config.get("encoder_shape")
        model.encoder_shape_ = None if shape is None else tuple(shape)
        module = model._new_module()
        module.load_state_dict(torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        model.module_ = module.to(resolve_device(model.device)).eval()
        return model
