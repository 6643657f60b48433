"""What a model family is: one frozen record of every trait, declared once in the family's own module.

Tuning, the model store, evaluate, explain, scoring, the report and the app ask the family for what
they need and never branch on its name (pipeline/models/registry.py lists the families). The heavy
libraries (xgboost, lightgbm, torch) are imported inside each family's functions, so listing the
families costs a stage nothing it does not use.

The one `build(params, ctx)` signature: `params` are the tuned values (keys of configs/<name>.yaml),
`ctx` what every family may need besides them (seed, device, epoch cap). `fit(model, data, hooks)`
fits on the training rows in `data` (resampling them with `data.sampler` where the family uses it)
and talks to its Optuna trial through `hooks`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipeline.models.space import suggest

Space = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class BuildContext:
    seed: int
    device: str = "cpu"          # concrete device ("cpu" | "cuda") for xgb, lightgbm and the sequence model
    max_epochs: int = 20         # the sequence model's epoch cap (tune.lstm_max_epochs)
    threads: int = -1            # threads a fit may use (-1: all cores); parallel trials share the cores
    n_features: int = 0          # columns of the matrix it will be fitted on (0: unknown)
    pretrained: Any = None       # the CoLES encoder (pipeline.embedding.embedder.Pretrained) or None


@dataclass(frozen=True)
class FitData:
    X: Any                       # feature-matrix DataFrame (tabular) or SequenceBatch with static features
    y: np.ndarray                # 0/1, one per row of X
    sampler: Any = None          # over-sampler for these training rows (None: none); sequence families ignore it
    seed: int = 0                # for early-stopping hold-outs carved from the training rows


@dataclass(frozen=True)
class FitHooks:
    """How one fit talks to its trial: intermediate scores to the pruner, and the time budget."""

    trial: Any = None            # optuna.Trial, or None (final refits, plain fits)
    metric: str = "roc_auc"      # the CV objective (a family reports only scores of the same kind)
    step_offset: int = 0         # fold k reports at step_offset + step, so folds never share a step
    deadline: float | None = None   # time.monotonic() at which tune.timeout runs out
    final: bool = False          # a final refit stops early at the deadline (keeping its best) instead of pruning

    def report(self, step: int, value: float, what: str) -> None:
        """Report an intermediate score; raise optuna.TrialPruned when the pruner says so."""
        if self.trial is None:
            return
        self.trial.report(value, self.step_offset + step)
        if self.trial.should_prune():
            import optuna

            raise optuna.TrialPruned(f"pruned at {what} ({value:.4f})")

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline


def stop_at_deadline(hooks: FitHooks) -> bool:
    """For fits with a learning curve, at the time budget's end: a trial is pruned (raises), a final
    refit should stop and keep what it has (True)."""
    if not hooks.out_of_time():
        return False
    if hooks.final or hooks.trial is None:
        return True
    import optuna

    raise optuna.TrialPruned("stopped: time budget reached")


def _fitted_names(model: Any) -> list[str] | None:
    """The columns a scikit-learn-API model was fitted with (None when fitted on a bare array)."""
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(c) for c in names]


@dataclass(frozen=True)
class Family:
    name: str                                    # as in tune.models and models/tuned/<name>/
    label: str                                   # for people: "XGBoost"
    inputs: Literal["tabular", "sequence"]       # a feature-matrix DataFrame, or a SequenceBatch
    params: tuple[str, ...]                      # what build accepts: configs/<name>.yaml may name only these
    build: Callable[[dict[str, Any], BuildContext], Any]
    fit: Callable[[Any, FitData, FitHooks], Any]
    predict: Callable[[Any, Any], np.ndarray]    # P(class 1) of a fitted model for inputs of its kind
    save: Callable[[Any, Path], None]            # into a (temporary, empty) directory, safe formats only
    load: Callable[[Path, str], Any]             # (directory, device) -> the fitted model
    suggest: Callable[[Any, Space], dict[str, Any]] = suggest   # draw one parameter set (conditionals here)
    feature_names: Callable[[Any], list[str] | None] = _fitted_names   # a tabular model's fitted columns
    reports_steps: bool = False                  # fit reports its learning curve (else CV reports per fold)
    warmup_steps: int = 1                        # steps a trial runs before the median pruner may stop it
    explain: Literal["permutation", "coefficients", "sequence"] | None = None   # what the explain stage measures
    contributions: Callable[[Any, pd.DataFrame], tuple[np.ndarray, np.ndarray]] | None = None  # predict --explain
    contribution_units: str | None = None        # what the contributions add up to: "log-odds" | "probability"
    variant_param: str | None = None             # a tuned choice worth naming in labels (the recurrent cell)
    balanced: Mapping[str, Any] = field(default_factory=dict)   # build params meaning "reweight the classes"
    start_points: tuple[Mapping[str, Any], ...] = ()   # strong, cheap configurations every new study tries first
    start_order: int = 50                        # the race runs start points cheapest family first (lower first)

    @property
    def space_params(self) -> tuple[str, ...]:
        """What configs/<name>.yaml may tune: build's params, plus the `imbalance` choice of the tabular
        families (resolved before build: pipeline/tuning/imbalance.py)."""
        return (*self.params, "imbalance") if self.inputs == "tabular" else self.params

    @property
    def space_file(self) -> str:
        """Its search space: configs/<name>.yaml (the only source of the ranges)."""
        return f"{self.name}.yaml"

    def display_label(self, params: Mapping[str, Any] | None = None) -> str:
        """'Sequence model (GRU)': the label, plus the tuned variant when the family has one."""
        variant = (params or {}).get(self.variant_param) if self.variant_param else None
        return f"{self.label} ({variant.upper()})" if isinstance(variant, str) else self.label


def check_params(family: str, params: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    if unknown := sorted(set(params) - set(allowed)):
        raise ValueError(f"{family} got unknown parameter(s) {unknown}; expected a subset of {list(allowed)}.")


def fit_with_sampler(model: Any, data: FitData, hooks: FitHooks) -> Any:
    """scikit-learn families: resample the training rows (imblearn Pipeline, SMOTE inside the fold: leakage
    rule 3), then fit; no learning curve to report (cross-validation reports per fold instead)."""
    from imblearn.pipeline import Pipeline

    steps = ([("sampler", data.sampler)] if data.sampler is not None else []) + [("model", model)]
    return Pipeline(steps).fit(data.X, data.y)[-1]


def predict_positive(model: Any, X: Any) -> np.ndarray:
    """P(class 1) from a scikit-learn-API classifier."""
    return np.asarray(model.predict_proba(X)[:, 1], dtype=float)


def skops_storage(file: str, trusted: tuple[str, ...], what: str) -> tuple[Callable, Callable]:
    """(save, load) of a scikit-learn model as one skops file that loads only the `trusted` types."""
    from pipeline.core.persist import load_object, save_object

    def save(model: Any, directory: Path) -> None:
        save_object(model, directory / file)

    def load(directory: Path, device: str) -> Any:
        return load_object(directory / file, trusted, what)

    return save, load
