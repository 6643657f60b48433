"""params.yaml -> frozen dataclasses. The only reader of params; an unknown key is an InputError.

Each stage reads the sections it declares in dvc.yaml (`params:`), e.g. prepare reads seed, data, split.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pipeline.core.errors import InputError

DEFAULT_PATH = Path("params.yaml")
T = TypeVar("T")
RULES = "rules"   # a field's metadata key: what values it allows beyond its type


@dataclass(frozen=True)
class Range:
    """Numbers from `low` to `high` (None: unbounded), each end included unless marked open."""
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def applies(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    def allows(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        return above and (self.high is None or (value < self.high if self.open_high else value <= self.high))

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.open_low else '['}{self.low}, {self.high}{')' if self.open_high else ']'}"
        if self.low is not None:
            return f"{'>' if self.open_low else '>='} {self.low}"
        return f"{'<' if self.open_high else '<='} {self.high}"


@dataclass(frozen=True)
class OneOf:
    """Text from a fixed set of names."""
    values: tuple[str, ...]

    def applies(self, value: Any) -> bool:
        return isinstance(value, str)

    def allows(self, value: str) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return f"one of {list(self.values)}"


@dataclass(frozen=True)
class Each:
    """A list whose every entry satisfies `rule` (entries of the wrong type fail too)."""
    rule: Range | OneOf

    def applies(self, value: Any) -> bool:
        return isinstance(value, list)

    def allows(self, value: list) -> bool:
        return all(self.rule.applies(v) and self.rule.allows(v) for v in value)

    def __str__(self) -> str:
        return f"a list with every entry {self.rule}"


@dataclass(frozen=True)
class NonEmpty:
    """A list with at least one entry (where [] would mean nothing, not "all")."""

    def applies(self, value: Any) -> bool:
        return isinstance(value, list)

    def allows(self, value: list) -> bool:
        return len(value) > 0

    def __str__(self) -> str:
        return "a non-empty list"


Rule = Range | OneOf | Each | NonEmpty
SHARE = Range(0, 1)                       # a share or rate, both ends allowed
POSITIVE = Range(0, open_low=True)        # a size, time or rate that must be > 0
OFF_OR_MORE = Range(0)                    # a count where 0 means off, or a width that may be 0
COUNT = Range(1)                          # at least one of something
# The names each enum setting accepts. Their consumers keep their own tuples (tests/core/test_params.py
# checks both agree); here a typo fails when params.yaml is read, naming the key, not deep in a stage.
SOURCES = ("synthetic", "files")
SYNTHETIC_EVENT_TYPES = ("login", "page_view", "purchase", "support_ticket", "payment_ok", "payment_failed")
LABEL_KINDS = ("churn", "repeat", "event")
SPLIT_METHODS = ("random", "time")
NUMERIC_IMPUTERS = ("median", "mean", "constant", "knn", "iterative")
CATEGORICAL_IMPUTERS = ("most_frequent", "missing")
OUTLIER_MODES = ("drop", "clip", "none")
RESAMPLE_METHODS = ("smote", "smotenc", "random_over", "none")
RESAMPLE_STRATEGIES = ("auto", "minority", "not majority", "not minority", "all")
METRICS = ("roc_auc", "average_precision", "log_loss")
DEVICES = ("auto", "cpu", "cuda")
PRUNERS = ("median", "hyperband", "none")
THRESHOLD_RULES = ("max_f1", "youden", "cost")
MIN_SEARCH_ROWS = 100                     # tune.search_rows below this leaves folds too small to rank anything


def knob(default: Any, *rules: Rule) -> Any:
    """A dataclass field whose value must also satisfy `rules` (each one that applies to the value's type)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={RULES: rules})
    return field(default=default, metadata={RULES: rules})


@dataclass(frozen=True)
class SyntheticParams:
    n_customers: int = knob(20000, COUNT)
    events_per_customer: float = knob(30.0, OFF_OR_MORE)   # mean events per customer over the history window
    positive_rate: float = knob(0.15, Range(0, 1, open_low=True, open_high=True))   # intercept is solved so the
                                          # mean true probability hits this
    history_days: int = knob(365, COUNT)
    snapshot_date: str = "2026-01-01"     # events end here; it is also the default cutoff
    missing_rate: float = knob(0.08, SHARE)   # scale of the missing-at-random / not-at-random masks
    outlier_rate: float = knob(0.003, SHARE)  # share of rows with data-entry errors (x100, 999 ...)
    order_effect: float = 1.6             # log-odds of "complaint then failed payment" (order-only signal)
    order_pattern_effect: float = 0.0     # log-odds of "browse then login" over the whole history (order-only); 0: off
    event_types: list[str] = knob([], Each(OneOf(SYNTHETIC_EVENT_TYPES)))   # types written to the event log;
                                                                          # []: all six


@dataclass(frozen=True)
class DataParams:
    source: str = knob("synthetic", OneOf(SOURCES))
    customers: str | None = "data/raw/customers.csv"   # null: no customers table (label.from_events only)
    events: str | None = None
    id_column: str = "customer_id"
    target: str = "churn"
    positive_label: Any = None            # null: the target must be 0/1 (or true/false); else the positive value
    timestamp_column: str = "timestamp"
    event_type_column: str | None = "event_type"
    cutoff: str | None = None
    dayfirst: bool | None = None            # numeric dates whose day and month are all <= 12: true DD/MM, false MM/DD
    numeric: list[str] = field(default_factory=list)       # force numeric (else inferred)
    categorical: list[str] = field(default_factory=list)   # force categorical (else inferred)
    ignore: list[str] = field(default_factory=list)        # columns that are never features
    max_unmatched_event_share: float = knob(0.2, SHARE)   # above this share of unknown-customer events: an error
    max_category_levels: int = knob(1000, COUNT)   # a text column with more levels (and mostly unique) is id-like:
                                                   # dropped
    event_chunk_rows: int = knob(5_000_000, COUNT)  # a longer events file is validated this many rows at a time
    decimal_comma: bool | None = None       # a column of '1,234' only: true = decimal mark, false = thousands; null: refused
    synthetic: SyntheticParams = field(default_factory=SyntheticParams)


@dataclass(frozen=True)
class LabelParams:
    """label: the target built point-in-time from the event log instead of read from a customers column."""
    from_events: bool = False             # false: the customers table's data.target column is the label
    kind: str = knob("churn", OneOf(LABEL_KINDS))   # churn: no qualifying event in the horizon | repeat: at least
                                          # one | event: an event of label.event_types occurs
    event_types: list[str] | None = knob(None, NonEmpty())   # which events qualify (null: all; required for kind event)
    horizon_days: float = knob(60.0, POSITIVE)   # label window [cutoff, cutoff + horizon)
    cutoff: str | None = None             # features from events strictly before; null: the latest cutoff whose
                                          # horizon the log covers (the day after its last event - horizon)
    min_history_days: float = knob(0.0, OFF_OR_MORE)   # customers need a first event this long before the cutoff


@dataclass(frozen=True)
class SplitParams:
    method: str = knob("random", OneOf(SPLIT_METHODS))   # random: customers split at one cutoff | time: train at
                                          # cutoff - horizon, test at cutoff (needs label.from_events)
    test_size: float = knob(0.2, Range(0, 1, open_low=True, open_high=True))
    column: str | None = None             # a customers column holding train/test; overrides the random split


@dataclass(frozen=True)
class EdaParams:
    bins: int = knob(30, COUNT)
    max_categories: int = knob(12, COUNT)   # levels shown per categorical before "other"
    top_relations: int = knob(15, OFF_OR_MORE)   # strongest univariate relations listed
    iqr_k: float = knob(1.5, OFF_OR_MORE)   # fence width for the outlier counts shown (the outliers stage has its
                                            # own k)
    max_plots: int = knob(30, OFF_OR_MORE)  # histograms / level charts drawn per kind; eda.json still has every column


@dataclass(frozen=True)
class ImputeParams:
    numeric: str = knob("median", OneOf(NUMERIC_IMPUTERS))   # median | mean | constant | knn | iterative
    categorical: str = knob("most_frequent", OneOf(CATEGORICAL_IMPUTERS))   # most_frequent | missing (an explicit
                                          # "missing" level)
    add_indicator: bool = True            # <col>__missing columns for columns with missing train values
    fill_value: float = 0.0               # numeric fill when numeric == constant
    knn_neighbors: int = knob(5, COUNT)


@dataclass(frozen=True)
class OutlierParams:
    k: float = knob(1.5, OFF_OR_MORE)     # IQR fence width: [q1 - k*iqr, q3 + k*iqr], fitted on train
    mode: str = knob("clip", OneOf(OUTLIER_MODES))   # drop | clip | none (test/new rows are only ever clipped)
    exempt: list[str] = field(default_factory=list)   # numeric columns never fenced
    min_unique: int = knob(20, COUNT)     # numeric columns with fewer distinct train values are exempt
    max_drop_share: float = knob(0.25, SHARE)   # refuse a setting that drops more of the train set


@dataclass(frozen=True)
class EmbeddingParams:
    """features.embedding: the self-supervised (CoLES) sequence encoder, fitted on train customers only."""
    dim: int = knob(16, OFF_OR_MORE)      # embedding columns seq_emb_00..; 0 turns the encoder off
    epochs: int = knob(4, OFF_OR_MORE)    # passes over the training customers (6: 5 s more, no better)
    views: int = knob(2, Range(2))        # random slices per customer per step (the positives)
    batch_customers: int = knob(256, Range(2))   # customers per step: the others' slices are the negatives
    type_dim: int = knob(8, COUNT)        # event-type embedding size inside the encoder
    lr: float = knob(3.0e-3, POSITIVE)
    temperature: float = knob(0.1, POSITIVE)   # of the softmax contrastive loss (cosine similarities)
    min_share: float = knob(0.3, Range(0, 1, open_low=True))   # a slice holds at least this share of the
                                          # customer's events
    max_customers: int | None = knob(50_000, Range(2))   # customers per epoch, a new seeded draw each; null: all
                                          # (same bytes on any machine, where max_seconds depends on its speed)
    max_seconds: float = knob(120.0, POSITIVE)   # safety cap on pre-training (logged when hit)
    min_gain: float | None = knob(0.001, Range(-1, 1))   # keep the columns when a quick train CV gains this much
                                          # ROC-AUC (a difference of two AUCs); null: always


@dataclass(frozen=True)
class FeatureParams:
    max_seq_len: int = knob(64, COUNT)    # last N events per customer for the sequence model
    windows_days: list[int] = knob([30, 90], NonEmpty(), Each(Range(1)))   # recent windows for activity/trend
    ratios: list[list[str]] = field(default_factory=list)              # [numerator, denominator] pairs
    buckets: dict[str, list[float]] = field(default_factory=dict)      # column -> bucket edges
    log_skew: float = knob(1.0, OFF_OR_MORE)   # log1p non-negative numeric columns whose train skew exceeds this
    rare_min_share: float = knob(0.01, Range(0, 1, open_high=True))   # categorical levels rarer than this (on
                                          # train) become "infrequent"
    max_event_types: int = knob(30, COUNT)   # most frequent train event types kept; the rest -> "other"
    embedding: EmbeddingParams = field(default_factory=EmbeddingParams)
    transitions: int = knob(25, OFF_OR_MORE)   # shares of the N most frequent consecutive event-type pairs; 0: off
    follows: int = knob(25, OFF_OR_MORE)   # "a, later b" flags over the last max(windows_days) days, N pairs; 0: off
    chunk_customers: int = knob(1_000_000, COUNT)   # more customers (train + test) with an event log: worked through
                                          # this many at a time, never the whole log in memory
                                          # (pipeline/featurization/chunked.py)
    fit_customers: int = knob(1_000_000, COUNT)   # then the fit sees a seeded sample of at most this many training
                                                  # customers


@dataclass(frozen=True)
class ResampleParams:
    method: str = knob("smote", OneOf(RESAMPLE_METHODS))   # smote | smotenc | random_over | none (smote -> smotenc
                                          # when categoricals)
    sampling_strategy: float | str = knob(0.5, Range(0, 1, open_low=True), OneOf(RESAMPLE_STRATEGIES))
                                          # minority/majority ratio after resampling, or "auto" (balance)
    k_neighbors: int = knob(5, COUNT)
    max_rows: int | None = knob(200_000, COUNT)   # above this many training rows no SMOTE (its neighbour search
                                          # took 17 min at 800k): the stage keeps the rows, tuning offers
                                          # none/weights; null: no cap


@dataclass(frozen=True)
class TuneParams:
    trials: int = knob(50, COUNT)         # per family, study-wide (all workers together)
    timeout: float | None = knob(None, POSITIVE)   # hard wall-clock budget in seconds for all families, final fits
                                                   # included
    models: list[str] | None = knob(None, NonEmpty())   # families to tune; None: every registered family
                                                        # (pipeline/models/registry.py checks the names)
    metric: str = knob("roc_auc", OneOf(METRICS))   # roc_auc | average_precision | log_loss
    folds: int = knob(5, Range(2))        # stratified K-fold on train, same folds for every family
    storage: str | None = None            # Optuna RDB URL ($OPTUNA_STORAGE wins over it); default sqlite optuna/studies.db
    study_name: str | None = None         # prefix of the per-family studies; default "customer-automl"
    n_jobs: int = knob(1, COUNT)          # parallel trials in this process
    race: bool = True                     # stop tuning families clearly behind the leader (pipeline/tuning/allocator.py)
    resume: bool = True                   # continue existing studies (False: start them afresh)
    device: str = knob("auto", OneOf(DEVICES))   # auto | cpu | cuda (xgb and the sequence model)
    pruner: str = knob("median", OneOf(PRUNERS))   # median | hyperband | none
    lstm_max_epochs: int = knob(20, COUNT)   # epochs per sequence-model fit (early stopping usually ends sooner)
    search_rows: int | str | None = knob("auto", OneOf(("auto",)), Range(MIN_SEARCH_ROWS))   # trials cross-validate
                                          # on a stratified sample of this many train rows (auto: 300 x timeout;
                                          # None: all); final fits use every row
    heartbeat_seconds: int = knob(30, COUNT)   # a running trial's heartbeat; a worker silent for grace_seconds is
    grace_seconds: int = knob(120, Range(2))   # taken for dead: its trial is marked FAIL and re-queued (same params)
    final_fit: bool = True                # refit the best params on this worker when it wins the claim


@dataclass(frozen=True)
class EvaluateParams:
    threshold_rule: str = knob("max_f1", OneOf(THRESHOLD_RULES))   # max_f1 | youden | cost: threshold chosen on
                                          # out-of-fold train predictions
    cost_ratio: float = knob(5.0, POSITIVE)   # with threshold_rule cost: cost of a missed positive / a false alarm
    n_boot: int = knob(1000, COUNT)       # bootstrap resamples for the 95 % intervals


@dataclass(frozen=True)
class ExplainParams:
    n_repeats: int = knob(5, COUNT)       # shuffles per feature (permutation importance) and of event order
    max_rows: int | None = knob(20000, Range(2))   # explain a seeded sample of this many test customers (bounds time
                                                   # at scale)


@dataclass(frozen=True)
class CellsParams:
    """cells stage: one fixed sequence-model configuration per cell on the same seeded folds of TRAIN."""
    cells: list[str] | None = knob(None, NonEmpty())   # None: every cell the sequence model has (rnn, lstm, gru,
                                                       # transformer); the cells stage checks the names
    folds: int = knob(3, Range(2))        # stratified folds of the (sampled) train customers
    max_customers: int | None = knob(1200, Range(2))   # seeded stratified sample of train customers (null: all);
                                                       # bounds time
    hidden_size: int = knob(32, COUNT)
    max_len: int = knob(32, COUNT)        # last N events per customer
    lr: float = knob(3.0e-3, POSITIVE)
    max_epochs: int = knob(5, COUNT)      # every epoch runs (no early stop), so the curves have equal length
    batch_size: int = knob(128, COUNT)
    grad_clip: float = knob(1.0, POSITIVE)   # the clipped runs' max gradient norm; the other runs do not clip
    seconds_per_cell: float = knob(6.0, POSITIVE)   # time cap per cell (both runs, all folds); a capped fit keeps
                                                    # its best epoch
    device: str = knob("cpu", OneOf(DEVICES))   # cpu | cuda | auto


@dataclass(frozen=True)
class Params:
    seed: int = knob(42, Range(0, 2**32 - 1))   # numpy and scikit-learn take seeds in [0, 2**32 - 1]
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
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if unknown := sorted(set(raw) - set(fields)):
        dotted = [f"{where}.{k}" if where else str(k) for k in unknown]
        raise InputError(f"params: unknown key(s) {dotted}; known keys under '{where or 'top level'}': {sorted(fields)}.")
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        path = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, path)
        else:
            kwargs[name] = _check(hint, value, path)
            _check_rules(fields[name].metadata.get(RULES, ()), hint, kwargs[name], path, written=value)
    return cls(**kwargs)


def _check_rules(rules: tuple[Rule, ...], hint: Any, value: Any, path: str, written: Any) -> None:
    """The field's declared range or names (`written`: the value as in the file, 5 rather than 5.0).
    Rules for another type (a number's range beside a name list) are alternatives in the message."""
    failing = [rule for rule in rules if rule.applies(value) and not rule.allows(value)]
    if value is None or not failing:
        return
    others = [str(rule) for rule in rules if not rule.applies(value) and isinstance(rule, (Range, OneOf))]
    nullable = type(None) in typing.get_args(hint)
    allowed = " or ".join([" and ".join(map(str, failing)), *others, *(["null"] if nullable else [])])
    raise InputError(f"params: '{path}' must be {allowed}, got {written!r}.")


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
            if not math.isfinite(value):   # YAML's .nan / .inf: every comparison downstream would be False
                raise InputError(f"params: '{path}' must be a finite number, got {value!r}.")
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
