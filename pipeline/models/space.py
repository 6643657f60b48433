"""Search spaces kept in `configs/<family>.yaml`, so users can widen or fix a range without code.

Each top-level key is one hyperparameter, given either as a numeric range or as choices:

    max_depth: {low: 2, high: 10}                   # int when both bounds are ints
    learning_rate: {low: 0.01, high: 0.3, log: true}
    subsample: {low: 0.5, high: 1.0, step: 0.1}     # optional step (not with log)
    class_weight: {choices: [null, balanced]}        # a single choice fixes the value

Conditional parameters (e.g. logreg's l1_ratio, only for elasticnet) are suggested by the family
module, which calls `suggest_param` for them after `suggest` has drawn the rest.
"""
from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pipeline.core.errors import InputError

if TYPE_CHECKING:   # trials are only passed through; scoring stages never import Optuna
    import optuna

log = logging.getLogger(__name__)

CONFIGS_DIR = Path("configs")
RANGE_KEYS = frozenset({"low", "high", "log", "step"})


def load_space(family: str, configs_dir: Path = CONFIGS_DIR,
               allowed: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
    """Read and check `configs/<family>.yaml`; `allowed` (a family's PARAMS) rejects typo'd names."""
    path = Path(configs_dir) / f"{family}.yaml"
    if not path.is_file():
        raise InputError(f"{path}: search space file for model family {family!r} not found.")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML ({err}).") from None
    if not isinstance(raw, Mapping) or not raw:
        raise InputError(f"{path}: expected a mapping of parameter -> {{low, high}} or {{choices}}, "
                         f"got {type(raw).__name__}.")
    if allowed is not None and (unknown := sorted(set(map(str, raw)) - set(allowed))):
        raise InputError(f"{path}: unknown parameter(s) {unknown}; {family} accepts {sorted(allowed)}.")
    return {str(name): _check_entry(path, str(name), spec) for name, spec in raw.items()}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_entry(path: Path, name: str, spec: Any) -> dict[str, Any]:
    """One entry -> normalised {'choices': [...]} or {'low', 'high', 'log', 'step'}; else InputError."""
    where = f"{path}: key {name!r}"
    if not isinstance(spec, Mapping):
        raise InputError(f"{where}: expected {{low: .., high: ..}} or {{choices: [..]}}, got {spec!r}.")
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
            raise InputError(f"{where}: 'choices' must be a non-empty list and alone, got {dict(spec)!r}.")
        if bad := [c for c in choices if c is not None and not isinstance(c, (bool, int, float, str))]:
            raise InputError(f"{where}: choices must be numbers, strings, booleans or null, got {bad!r}.")
        return {"choices": list(choices)}
    if extra := sorted(set(spec) - RANGE_KEYS):
        raise InputError(f"{where}: unknown field(s) {extra}; use low/high/log/step or choices.")
    low, high, use_log, step = spec.get("low"), spec.get("high"), spec.get("log", False), spec.get("step")
    if not (_is_number(low) and _is_number(high)) or low > high:
        # PyYAML reads 1e-5 as text (YAML 1.1 wants 1.0e-5): say so, it is the usual cause.
        hint = " (write 1.0e-5, not 1e-5)" if isinstance(low, str) or isinstance(high, str) else ""
        raise InputError(f"{where}: needs numeric low <= high, got low={low!r}, high={high!r}{hint}.")
    if not isinstance(use_log, bool):
        raise InputError(f"{where}: 'log' must be true or false, got {use_log!r}.")
    if use_log and low <= 0:
        raise InputError(f"{where}: a log range needs low > 0, got low={low!r}.")
    if step is not None and (not _is_number(step) or step <= 0 or use_log):
        raise InputError(f"{where}: 'step' must be a positive number and not combined with log, got {step!r}.")
    return {"low": low, "high": high, "log": use_log, "step": step}


def suggest_param(trial: optuna.Trial, name: str, spec: Mapping[str, Any]) -> Any:
    """One trial.suggest_* call: categorical for choices, int when both bounds are ints, else float."""
    if "choices" in spec:
        return trial.suggest_categorical(name, spec["choices"])
    low, high, use_log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    if isinstance(low, int) and isinstance(high, int) and (step is None or isinstance(step, int)):
        return trial.suggest_int(name, low, high, step=step or 1, log=use_log)
    return trial.suggest_float(name, float(low), float(high), step=step, log=use_log)


def suggest(trial: optuna.Trial, space: Mapping[str, Mapping[str, Any]],
            skip: Collection[str] = ()) -> dict[str, Any]:
    """Suggest every parameter of `space` except those in `skip` (the family's conditional ones)."""
    return {name: suggest_param(trial, name, spec) for name, spec in space.items() if name not in skip}
