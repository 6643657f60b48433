"""The tune stage's settings: params.yaml's tune section with the command line's flags laid over it."""
from __future__ import annotations

import argparse
import dataclasses
import glob
import platform
import sys

from pipeline.core.errors import InputError
from pipeline.core.params import TuneParams
from pipeline.evaluation.definitions import OBJECTIVES
from pipeline.models.registry import FAMILIES
from pipeline.tuning import storage as stores
from pipeline.tuning.search_sample import search_rows


def merged_settings(args: argparse.Namespace, tune: TuneParams) -> TuneParams:
    """params.yaml tune section with the CLI flags that were given laid over it."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(tune) if getattr(args, f.name, None) is not None}
    if isinstance(given.get("models"), str):
        given["models"] = [m.strip() for m in given["models"].split(",") if m.strip()]
    if given.get("timeout") is not None and given["timeout"] <= 0:
        given["timeout"] = None   # --timeout 0: no budget, run every trial
    stores.warn_password_in_params(tune.storage)
    given["storage"] = stores.resolve_url(given.get("storage"), tune.storage)
    merged = dataclasses.replace(tune, **given)
    if merged.models is None:
        merged = dataclasses.replace(merged, models=list(FAMILIES))
    if unknown := [m for m in merged.models if m not in FAMILIES]:
        raise InputError(f"tune: unknown model family {unknown}; choose from {list(FAMILIES)}.")
    if merged.metric not in OBJECTIVES:
        raise InputError(f"params: tune.metric must be one of {sorted(OBJECTIVES)}, got {merged.metric!r}.")
    if not 1 <= merged.heartbeat_seconds < merged.grace_seconds:
        raise InputError(f"params: need 1 <= tune.heartbeat_seconds < tune.grace_seconds, got "
                         f"{merged.heartbeat_seconds} and {merged.grace_seconds}.")
    search_rows(merged, 1)   # a bad tune.search_rows stops here, before any study opens
    if merged.trials < 1 or merged.folds < 2:
        raise InputError(f"tune: need trials >= 1 and folds >= 2, got {merged.trials} and {merged.folds}.")
    return merged


def resolve_device(device: str) -> str:
    """'auto' -> cuda when a GPU is visible, else cpu (XGBoost and torch both get the concrete name)."""
    if device != "auto":
        return device
    native_linux = sys.platform.startswith("linux") and "microsoft" not in platform.uname().release.lower()
    if native_linux and not glob.glob("/dev/nvidia[0-9]*"):
        return "cpu"   # no NVIDIA device node: no CUDA, and no 2-4 s torch import inside the time budget
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


