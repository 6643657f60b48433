"""The sequence model family (family "lstm"; the recurrent cell LSTM / GRU / RNN is itself tuned).

torch is imported only when a model is built or loaded (classifier.py), so listing the family is free.
"""
from __future__ import annotations

from typing import Any

from pipeline.models.space import suggest


def search_space(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Draw one parameter set from configs/lstm.yaml (the only source of the ranges)."""
    return suggest(trial, space)


def build(params: dict[str, Any], seed: int) -> Any:
    """A SequenceClassifier with `params` (e.g. study.best_params) seeded by `seed`."""
    from pipeline.models.sequence.classifier import SequenceClassifier

    return SequenceClassifier(**{**params, "random_state": seed})
