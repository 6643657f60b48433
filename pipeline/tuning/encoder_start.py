"""The sequence model's `encoder` choice (configs/lstm.yaml) limited to the starts that exist.

`frozen` and `finetune` start from the CoLES encoder the features stage pre-trains; with
`features.embedding.dim: 0` there is none, and every trial drawing them would fail. The space keeps
`scratch` only then, said once in the log, so the study neither wastes trials nor stops on them.
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

ENCODER = "encoder"
NEEDS_ENCODER = ("frozen", "finetune")


def within_encoder(family: str, space: dict[str, dict[str, Any]], has_encoder: bool) -> dict[str, dict[str, Any]]:
    """The space without the choices that need a pre-trained encoder when there is none."""
    choices = (space.get(ENCODER) or {}).get("choices") or []
    if has_encoder or not any(c in NEEDS_ENCODER for c in choices):
        return space
    log.info("tune %s: encoder choices [scratch] only: no pre-trained encoder (features.embedding.dim is 0)", family)
    return {**space, ENCODER: {"choices": ["scratch"]}}
