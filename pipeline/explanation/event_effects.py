"""What the sequence model reads from the event log: shuffle each customer's event order, drop one type at a time.

Each perturbed log goes through the SAVED transform (fitted on train; nothing is refitted) and the
tuned sequence model scores the same test customers again. drop = baseline metric - perturbed
metric (sign-adjusted for log loss), so positive = the model relied on what was destroyed.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.schema import TARGET
from pipeline.events.perturb import drop_event_type, event_types, permute_times
from pipeline.explanation.tabular import drop, metric_value
from pipeline.featurization.transform import CustomerTransform
from pipeline.models import store as model_store

log = logging.getLogger(__name__)

def _scorer(transform: CustomerTransform, customers: pd.DataFrame, info: dict[str, Any], model: Any,
            metric: str):
    """events -> test metric of the sequence model on `customers` (through the saved transform)."""
    y = customers[TARGET].to_numpy().astype(int)

    def score(events: pd.DataFrame) -> float:
        inputs = transform.transform(customers, events)
        p = model_store.predict_calibrated(info, model, inputs.matrix, inputs.sequences)   # as evaluate scores it
        return metric_value(metric, y, p)

    return score


def sequence_effects(transform: CustomerTransform, customers: pd.DataFrame, events: pd.DataFrame,
                     info: dict[str, Any], model: Any, metric: str, n_repeats: int, seed: int) -> dict[str, Any]:
    """Baseline, order-shuffle drops (one per repeat) and per-event-type drops, largest first."""
    score = _scorer(transform, customers, info, model, metric)
    baseline = score(events)
    # One seed per repeat, derived from the run's seed: same seed -> same shuffles.
    drops = [drop(metric, baseline, score(permute_times(events, seed + r))) for r in range(n_repeats)]
    by_type = []
    for event_type in event_types(events):
        kept, removed = drop_event_type(events, event_type)
        by_type.append({"event_type": event_type, "drop": drop(metric, baseline, score(kept)),
                        "events_removed": removed})
    by_type.sort(key=lambda t: -t["drop"])
    log.info("explain: %s order shuffle drop %.4f; largest event-type drop %s", info["family"], float(np.mean(drops)),
             f"{by_type[0]['event_type']} {by_type[0]['drop']:.4f}" if by_type else "n/a")
    return {"family": info["family"], "baseline": baseline, "n_repeats": n_repeats,
            # std over repeats with ddof=0, as sklearn's permutation importance reports it
            "order_shuffle": {"mean": float(np.mean(drops)), "std": float(np.std(drops)), "drops": drops},
            "drop_event_type": by_type}
