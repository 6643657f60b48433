"""params.yaml -> frozen dataclasses. The only reader of params; an unknown key is an InputError.

Each stage reads the sections it declares in dvc.yaml (`params:`), e.g. prepare reads seed, data, split.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pipeline.core.errors import InputError

DEFAULT_PATH = Path("params.yaml")
T = TypeVar("T")


@dataclass(frozen=True)
class SyntheticParams:
    n_customers: int = 20000
    events_per_customer: float = 30.0     # mean events per customer over the history window
    positive_rate: float = 0.15           # intercept is solved so the mean true probability hits this
    history_days: int = 365
    snapshot_date: str = "2026-01-01"     # events end here; it is also the default cutoff
    missing_rate: float = 0.08            # scale of the missing-at-random / not-at-random masks
    outlier_rate: float = 0.003           # share of rows with data-entry errors (x100, 999 ...)
    order_effect: float = 1.6             # log-odds of "complaint then failed payment" (order-only signal)
    order_pattern_effect: float = 0.0     # log-odds of "browse then login" over the whole history (order-only); 0: off
    event_types: list[str] = field(default_factory=list)   # types written to the event log; []: all six


@dataclass(frozen=True)
class DataParams:
    source: str = "synthetic"             # synthetic | files
    customers: str | None = "data/raw/customers.csv"   # null: no customers table (label.from_events only)
    events: str | None = None
    id_column: str = "customer_id"
    target: str = "churn"
    positive_label: Any = 1
    timestamp_column: str = "timestamp"
    event_type_column: str | None = "event_type"
    cutoff: str | None = None
    dayfirst: bool | None = None            # numeric dates whose day and month are all <= 12: true DD/MM, false MM/DD
    numeric: list[str] = field(default_factory=list)       # force numeric (else inferred)
    categorical: list[str] = field(default_factory=list)   # force categorical (else inferred)
    ignore: list[str] = field(default_factory=list)        # columns that are never features
    max_unmatched_event_share: float = 0.2  # above this share of unknown-customer events: an error
    max_category_levels: int = 1000         # a text column with more levels (and mostly unique) is id-like: dropped
    event_chunk_rows: int = 5_000_000       # a longer events file is validated this many rows at a time
    synthetic: SyntheticParams = field(default_factory=SyntheticParams)


@dataclass(frozen=True)
class LabelParams:
    """label: the target built point-in-time from the event log instead of read from a customers column."""
    from_events: bool = False             # false: the customers table's data.target column is the label
    kind: str = "churn"                   # churn: no qualifying event in the horizon | repeat: at least one |
                                          # event: an event of label.event_types occurs
    event_types: list[str] | None = None  # which events qualify (null: all; required for kind event)
    horizon_days: float = 60.0            # label window [cutoff, cutoff + horizon)
    cutoff: str | None = None             # features from events strictly before; null: the latest cutoff whose
                                          # horizon the log covers (the day after its last event - horizon)
    min_history_days: float = 0.0         # customers need a first event this long before the cutoff


@dataclass(frozen=True)
class SplitParams:
    method: str = "random"                # random: customers split at one cutoff | time: train at cutoff - horizon,
                                          # test at cutoff (needs label.from_events)
    test_size: float = 0.2
    column: str | None = None             # a customers column holding train/test; overrides the random split


@dataclass(frozen=True)
class EdaParams:
    bins: int = 30
    max_categories: int = 12              # levels shown per categorical before "other"
    top_relations: int = 15               # strongest univariate relations listed
    iqr_k: float = 1.5                    # fence width for the outlier counts shown (the outliers stage has its own k)
    max_plots: int = 30                   # histograms / level charts drawn per kind; eda.json still has every column


@dataclass(frozen=True)
class ImputeParams:
    numeric: str = "median"               # median | mean | constant | knn | iterative
    categorical: str = "most_frequent"    # most_frequent | missing (an explicit "missing" level)
    add_indicator: bool = True            # <col>__missing columns for columns with missing train values
    fill_value: float = 0.0               # numeric fill when numeric == constant
    knn_neighbors: int = 5


@dataclass(frozen=True)
class OutlierParams:
    k: float = 1.5                        # IQR fence width: [q1 - k*iqr, q3 + k*iqr], fitted on train
    mode: str = "clip"                    # drop | clip | none (test/new rows are only ever clipped)
    exempt: list[str] = field(default_factory=list)   # numeric columns never fenced
    min_unique: int = 20                  # numeric columns with fewer distinct train values are exempt
    max_drop_share: float = 0.25          # refuse a setting that drops more of the train set


@dataclass(frozen=True)
class EmbeddingParams:
    """features.embedding: the self-supervised (CoLES) sequence encoder, fitted on train customers only."""
    dim: int = 16                         # embedding columns seq_emb_00..; 0 turns the encoder off
    epochs: int = 4                       # passes over the training customers (6: 5 s more, no better)
    views: int = 2                        # random slices per customer per step (the positives)
    batch_customers: int = 256            # customers per step: the others' slices are the negatives
    type_dim: int = 8                     # event-type embedding size inside the encoder
    lr: float = 3.0e-3
    temperature: float = 0.1              # of the softmax contrastive loss (cosine similarities)
    min_share: float = 0.3                # a slice holds at least this share of the customer's events
    max_customers: int | None = 50_000    # customers per epoch, a new seeded draw each; null: all (same bytes
                                          # on any machine, where max_seconds depends on its speed)
    max_seconds: float = 120.0            # safety cap on pre-training (logged when hit)
    min_gain: float | None = 0.001        # keep the columns when a quick train CV gains this much ROC-AUC; null: always


@dataclass(frozen=True)
class FeatureParams:
    max_seq_len: int = 64                 # last N events per customer for the sequence model
    windows_days: list[int] = field(default_factory=lambda: [30, 90])  # recent windows for activity/trend
    ratios: list[list[str]] = field(default_factory=list)              # [numerator, denominator] pairs
    buckets: dict[str, list[float]] = field(default_factory=dict)      # column -> bucket edges
    log_skew: float = 1.0                 # log1p non-negative numeric columns whose train skew exceeds this
    rare_min_share: float = 0.01          # categorical levels rarer than this (on train) become "infrequent"
    max_event_types: int = 30             # most frequent train event types kept; the rest -> "other"
    embedding: EmbeddingParams = field(default_factory=EmbeddingParams)
    transitions: int = 25                 # shares of the N most frequent consecutive event-type pairs; 0: off
    follows: int = 25                     # "a, later b" flags over the last max(windows_days) days, N pairs; 0: off
    chunk_customers: int = 1_000_000      # more customers (train + test) with an event log: worked through this many
                                          # at a time, never the whole log in memory (pipeline/featurization/chunked.py)
    fit_customers: int = 1_000_000        # then the fit sees a seeded sample of at most this many training customers


@dataclass(frozen=True)
class ResampleParams:
    method: str = "smote"                 # smote | smotenc | random_over | none (smote -> smotenc when categoricals)
    sampling_strategy: float | str = 0.5  # minority/majority ratio after resampling, or "auto" (balance)
    k_neighbors: int = 5
    max_rows: int | None = 200_000        # above this many training rows no SMOTE (its neighbour search took 17 min
                                          # at 800k): the stage keeps the rows, tuning offers none/weights; null: no cap


@dataclass(frozen=True)
class TuneParams:
    trials: int = 50                      # per family, study-wide (all workers together)
    timeout: float | None = None          # hard wall-clock budget in seconds for all families, final fits included
    models: list[str] | None = None       # families to tune; None: every registered family (pipeline/models/registry.py)
    metric: str = "roc_auc"               # roc_auc | average_precision | log_loss
    folds: int = 5                        # stratified K-fold on train, same folds for every family
    storage: str | None = None            # Optuna RDB URL ($OPTUNA_STORAGE wins over it); default sqlite optuna/studies.db
    study_name: str | None = None         # prefix of the per-family studies; default "customer-automl"
    n_jobs: int = 1                       # parallel trials in this process
    race: bool = True                     # stop tuning families clearly behind the leader (pipeline/tuning/allocator.py)
    resume: bool = True                   # continue existing studies (False: start them afresh)
    device: str = "auto"                  # auto | cpu | cuda (xgb and the sequence model)
    pruner: str = "median"                # median | hyperband | none
    lstm_max_epochs: int = 20             # epochs per sequence-model fit (early stopping usually ends sooner)
    search_rows: int | str | None = "auto"  # trials cross-validate on a stratified sample of this many train rows
                                          # (auto: 300 x timeout; None: all); final fits use every row
    heartbeat_seconds: int = 30           # a running trial's heartbeat; a worker silent for grace_seconds is
    grace_seconds: int = 120              # taken for dead: its trial is marked FAIL and re-queued (same params)
    final_fit: bool = True                # refit the best params on this worker when it wins the claim


@dataclass(frozen=True)
class EvaluateParams:
    threshold_rule: str = "max_f1"        # max_f1 | cost: threshold chosen on out-of-fold train predictions
    cost_ratio: float = 5.0               # with threshold_rule cost: cost of a missed positive / a false alarm
    n_boot: int = 1000                    # bootstrap resamples for the 95 % intervals


@dataclass(frozen=True)
class ExplainParams:
    n_repeats: int = 5                    # shuffles per feature (permutation importance) and of event order
    max_rows: int | None = 20000          # explain a seeded sample of this many test customers (bounds time at scale)


@dataclass(frozen=True)
class CellsParams:
    """cells stage: one fixed sequence-model configuration per cell on the same seeded folds of TRAIN."""
    cells: list[str] | None = None        # None: every cell the sequence model has (rnn, lstm, gru, transformer)
    folds: int = 3                        # stratified folds of the (sampled) train customers
    max_customers: int | None = 1200      # seeded stratified sample of train customers (null: all); bounds time
    hidden_size: int = 32
    max_len: int = 32                     # last N events per customer
    lr: float = 3.0e-3
    max_epochs: int = 5                   # every epoch runs (no early stop), so the curves have equal length
    batch_size: int = 128
    grad_clip: float = 1.0                # the clipped runs' max gradient norm; the other runs do not clip
    seconds_per_cell: float = 6.0         # time cap per cell (both runs, all folds); a capped fit keeps its best epoch
    device: str = "cpu"                   # cpu | cuda | auto


@dataclass(frozen=True)
class Params:
    seed: int = 42
    data: DataParams = field(default_factory=DataParams)
    label: LabelParams = field(default_factory=LabelParams)
    split: SplitParams = field(default_factory=SplitParams)
    eda: EdaParams = field(default_factory=EdaParams)
    impute: ImputeParams = field(default_factory=ImputeParams)
    outliers: OutlierParams = field(default_factory=OutlierParams)
    features: FeatureParams = field(default_factory=FeatureParams)
    resample: ResampleParams = field(default_factory=ResampleParams)
    tune: TuneParams = field(default_factory=TuneParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    explain: ExplainParams = field(default_factory=ExplainParams)
    cells: CellsParams = field(default_factory=CellsParams)


def _build(cls: type[T], raw: Any, where: str) -> T:
    """Recursively build dataclass `cls` from a dict, rejecting unknown keys with their dotted path."""
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise InputError(f"params: '{where}' must be a mapping, got {type(raw).__name__}.")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    if unknown := sorted(set(raw) - known):
        dotted = [f"{where}.{k}" if where else str(k) for k in unknown]
        raise InputError(f"params: unknown key(s) {dotted}; known keys under '{where or 'top level'}': {sorted(known)}.")
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        path = f"{where}.{name}" if where else name
        kwargs[name] = _build(hint, value, path) if dataclasses.is_dataclass(hint) else _check(hint, value, path)
    return cls(**kwargs)


def _check(hint: Any, value: Any, path: str) -> Any:
    """Light type check so a string where a number belongs fails here, not deep in a stage."""
    origin = typing.get_origin(hint)
    allowed = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in allowed or Any in allowed:
        return value
    if str in allowed and isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()  # YAML reads an unquoted 2026-01-01 as a date
    for option in allowed:
        base = typing.get_origin(option) or option
        if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if base is list and isinstance(value, list):
            return list(value)
        if isinstance(base, type) and isinstance(value, base) and not (base is int and isinstance(value, bool)):
            return value
    raise InputError(f"params: '{path}' should be {hint}, got {value!r}.")


def load_params(path: str | Path = DEFAULT_PATH) -> Params:
    """Read and validate the whole params file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: params file not found.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from err
    try:
        return _build(Params, raw, "")
    except InputError as err:
        raise InputError(f"{path}: {err}") from err


def add_params_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=DEFAULT_PATH, help="params file (default: params.yaml)")


def as_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)
