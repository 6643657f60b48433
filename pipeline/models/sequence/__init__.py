"""The sequence model family (family "lstm"; the cell LSTM / GRU / RNN / Transformer is itself tuned).

Input: a SequenceBatch (the customer's last events plus its static features). No resampling: the loss
weights the positive class instead, and early stopping uses a hold-out of the training rows. Pruning
per epoch on the hold-out ROC-AUC. Saved as a torch state dict + JSON config (no pickle). torch is
imported only when a model is built or loaded (classifier.py), so listing the family is free.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.models.family import BuildContext, Family, FitData, FitHooks, check_params

PARAMS = ("cell", "hidden_size", "num_layers", "bidirectional", "max_len", "embedding_dim", "lr", "weight_decay",
          "dropout", "batch_size", "patience", "grad_clip", "mlp_hidden", "validation_fraction", "encoder")


def build(params: dict[str, Any], ctx: BuildContext) -> Any:
    """A SequenceClassifier with the tuned `params`, seeded, on ctx's device, at most ctx.max_epochs epochs."""
    from pipeline.models.sequence.classifier import SequenceClassifier

    check_params("lstm", params, PARAMS)
    return SequenceClassifier(**params, random_state=ctx.seed, max_epochs=ctx.max_epochs, device=ctx.device,
                              num_threads=ctx.threads if ctx.threads >= 1 else None, pretrained=ctx.pretrained)


def _epoch_hook(hooks: FitHooks) -> Any:
    """on_epoch: the hold-out ROC-AUC to the pruner; at the time budget a trial is stopped (recorded as
    pruned) and a final refit ends early keeping its best epoch (returning True stops training)."""
    maximise = hooks.metric != "log_loss"   # the hold-out score is a ROC-AUC: comparable with maximised objectives only

    def on_epoch(epoch: int, val_auc: float) -> bool:
        if maximise:
            hooks.report(epoch, val_auc, f"epoch {epoch}, val AUC")
        if hooks.out_of_time():
            if hooks.final:
                return True
            import optuna

            raise optuna.TrialPruned("stopped: time budget reached")
        return False

    return on_epoch


def fit(model: Any, data: FitData, hooks: FitHooks) -> Any:
    """Train on the rows of data.X (a SequenceBatch); data.sampler is not used (class-weighted loss)."""
    model.set_params(on_epoch=_epoch_hook(hooks), stop_at=hooks.deadline)
    try:
        return model.fit(data.X, data.y)
    finally:
        model.set_params(on_epoch=None, stop_at=None)   # don't keep the trial inside the model


def predict(model: Any, batch: Any) -> np.ndarray:
    return np.asarray(model.predict_proba(batch)[:, 1], dtype=float)


def save(model: Any, directory: Path) -> None:
    model.save(directory)


def load(directory: Path, device: str) -> Any:
    from pipeline.models.sequence.classifier import SequenceClassifier

    return SequenceClassifier.load(directory, device=device)


FAMILY = Family(name="lstm", label="Sequence model", inputs="sequence", params=PARAMS, build=build, fit=fit,
                predict=predict, save=save, load=load, feature_names=lambda model: None, reports_steps=True,
                warmup_steps=3, explain="sequence", variant_param="cell",
                # One small GRU: the cheapest cell that trains well; the class-weighted loss handles imbalance.
                start_order=4, start_points=({"cell": "gru", "hidden_size": 32, "num_layers": 1, "bidirectional": False, "max_len": 32,
                               "embedding_dim": 8, "lr": 3.0e-3, "weight_decay": 1.0e-4, "dropout": 0.1,
                               "batch_size": 256},))
