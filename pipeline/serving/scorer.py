"""Scoring new customers with what the pipeline fitted: the one function the CLI and the app both call.

`Scorer.load(root, family)` reads the saved artifacts once (never refits anything):
  models/transform.skops            the fitted transform the test split ran through (skops, trusted types only)
  models/tuned/<family>/            the tuned model and its info.json (threshold, feature columns)
  reports/metrics.json              which family is `best` (chosen by CV score in evaluate)
  data/interim/prepared/meta.json   the training run's column names and feature types
  params.yaml                       data section: ignore list, data.cutoff (the default as-of)

`Scorer.score(customers, events, as_of=...)` resolves the reference time by the one rule (`resolve_as_of`:
explicit, else data.cutoff, else an error for a model that uses time; never from the rows), keeps the events of
these customers (pipeline/serving/ids.py), validates raw tables with the training contract
(`pipeline.data.contract.validate_tables(require_target=False)`), runs `CustomerTransform.transform` and the model,
and returns customer_id, probability, label, as_of (+ reasons with `explain`). `add_rank` adds rank
(1 = highest probability, ties in file order) and decile (1 = the top 10 %).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import read_json
from pipeline.core.params import DataParams, load_params
from pipeline.core.schema import ID
from pipeline.data.contract import validate_tables
from pipeline.data.timestamps import TimeFormat
from pipeline.data.validate_customers import clean_ids, columns_hint, require_column, to_days
from pipeline.data.validate_events import apply_cutoff, parse_cutoff
from pipeline.featurization.transform import CustomerTransform, load_transform
from pipeline.models import store as model_store
from pipeline.models.registry import FAMILIES
from pipeline.serving.ids import IdMatch

log = logging.getLogger(__name__)

PROBABILITY, LABEL, RANK, DECILE, AS_OF = "probability", "label", "rank", "decile", "as_of"
AS_OF_CHOICES = ("an ISO date/time (e.g. 2026-02-01), 'now' (the current UTC time) or 'training' (the training "
                 "run's as-of, to reproduce its test split)")
TRANSFORM = Path("models/transform.skops")
TUNED = Path("models/tuned")
METRICS = Path("reports/metrics.json")
META = Path("data/interim/prepared/meta.json")
PARAMS = Path("params.yaml")
CHOICES = ("best", *FAMILIES, model_store.ENSEMBLE)


@dataclass
class Scored:
    frame: pd.DataFrame                       # customer_id, probability, label, [reason columns]; file order
    notes: list[str] = field(default_factory=list)   # warnings and notes, also logged
    as_of: pd.Timestamp | None = None
    customers: pd.DataFrame | None = None     # the validated customers (raw levels) and their model matrix:
    matrix: pd.DataFrame | None = None        # what drift monitoring compares with training (pipeline/monitoring)


def _read_meta(root: Path) -> dict[str, Any]:
    path = root / META
    if not path.is_file():
        raise InputError(f"{path}: not found; run the pipeline first (dvc repro).")
    return read_json(path)


def resolve_family(root: Path, family: str) -> str:
    """'best' -> the family evaluate chose by CV score (reports/metrics.json); else the name, checked."""
    if family not in CHOICES:
        raise InputError(f"--model must be one of {list(CHOICES)}, got {family!r}.")
    if family != "best":
        return family
    path = root / METRICS
    if not path.is_file():
        raise InputError(f"{path}: not found, so there is no best model yet; run `dvc repro evaluate` "
                         "or name a family with --model.")
    return read_json(path)["best"]


def training_data_params(root: Path, meta: dict[str, Any]) -> DataParams:
    """params.yaml's data section with the column names the training run actually used (meta.json)."""
    params = root / PARAMS
    data = load_params(params).data if params.is_file() else DataParams()
    cols = meta["columns"]
    return dataclasses.replace(data, id_column=cols["id"], target=cols["target"],
                               timestamp_column=cols["timestamp"] or data.timestamp_column,
                               event_type_column=cols["event_type"])


@dataclass
class Scorer:
    family: str
    model: Any
    info: dict[str, Any]
    transform: CustomerTransform
    meta: dict[str, Any]
    data: DataParams

    @classmethod
    def load(cls, root: str | Path = ".", family: str = "best") -> Scorer:
        root = Path(root)
        meta = _read_meta(root)
        family = resolve_family(root, family)
        info = model_store.read_info(root / TUNED / family)
        if "skipped" in info:
            raise InputError(f"--model {family}: that family was not tuned ({info['skipped']}).")
        model = model_store.load_model(family, root / TUNED / family)
        return cls(family, model, info, load_transform(root / TRANSFORM), meta, training_data_params(root, meta))

    @property
    def threshold(self) -> float:
        return float(self.info["threshold"])

    @property
    def uses_time(self) -> bool:
        """Trained with events, or with date columns measured to the reference time: then as-of matters."""
        return self.transform.builder.events is not None or bool(self.meta.get("dates"))

    def default_as_of(self) -> pd.Timestamp | None:
        """params data.cutoff if set; never anything derived from the scored rows."""
        return parse_cutoff(self.data.cutoff)

    def parse_as_of(self, value: str) -> pd.Timestamp:
        """--as-of: an ISO date/time, 'now' (the current UTC time, to the second) or 'training' (meta.json as_of)."""
        word = value.strip().lower()
        if word == "now":
            return pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
        if word == "training":
            if not self.meta.get("as_of"):
                raise InputError("--as-of training: the training run recorded no as-of (meta.json); give a date.")
            return pd.Timestamp(self.meta["as_of"])
        try:
            return parse_cutoff(value, "--as-of")
        except InputError:
            raise InputError(f"--as-of {value!r} is not a date/time; expected {AS_OF_CHOICES}.") from None

    def resolve_as_of(self, value: pd.Timestamp | str | None) -> pd.Timestamp | None:
        """The one rule for the reference time: given, else data.cutoff, else an error for a model that uses
        time (a default taken from the scored rows would make a score depend on the other rows); None for a
        model without time."""
        as_of = self.parse_as_of(value) if isinstance(value, str) else value
        as_of = self.default_as_of() if as_of is None else as_of
        if not self.uses_time:
            return None
        if as_of is None:
            raise InputError(f"the {self.family} model measures recency to a reference time: give --as-of with "
                             f"{AS_OF_CHOICES} (or set params data.cutoff).")
        return as_of

    def score(self, customers: pd.DataFrame, events: pd.DataFrame | None, *, labels: dict[str, str] | None = None,
              as_of: pd.Timestamp | str | None = None, threshold: float | None = None, explain: int = 0,
              quiet: bool = False, no_events: bool = False) -> Scored:
        """Raw customers (+ events) -> probabilities; bad input raises InputError (one line).

        `events` None needs `no_events=True` for a model trained with events; an events table with no rows
        means the same ("no events yet"). Events of other customers are ignored (pipeline/serving/ids.py)."""
        labels = labels or {"customers": "customers", "events": "events"}
        as_of = self.resolve_as_of(as_of)
        notes: list[str] = []
        events = self._check_events(events, no_events, labels, notes)
        customers, events = self._trim(customers, events, labels, notes)
        if events is not None:
            events, matched = own_events(customers, events, self.data.id_column, labels)
            notes += matched
        known = self.meta.get("timestamp_format")   # the training run's decision, not 10 rows' guess
        clean, ev, report = validate_tables(customers, events, self.data, labels, require_target=False,
                                            features=self.meta, time_format=TimeFormat(known) if known else None)
        clean = to_days(clean, as_of, labels["customers"])   # date columns: days before this scoring's as-of
        ev_frame = None if ev is None else apply_cutoff(ev.frame, as_of, labels["events"], report)
        notes += unseen_levels(self.transform, clean.frame, labels["customers"])
        for note in [] if quiet else notes:   # chunked callers log each distinct note once
            log.info(note)
        frame, matrix = self._predict(clean.frame, ev_frame, as_of, threshold, explain)
        notes += report.warnings   # already logged as warnings by the validators
        return Scored(frame, notes, as_of, clean.frame, matrix)

    def _check_events(self, events: pd.DataFrame | None, no_events: bool, labels: dict[str, str],
                      notes: list[str]) -> pd.DataFrame | None:
        """None when there are none to use; an events model given no events without being told is an error."""
        if self.transform.builder.events is None:
            if events is not None and not events.empty:
                notes.append(f"{labels['events']}: the model was trained without events; the events are ignored.")
            return None
        if events is None and not no_events:
            raise InputError(f"the {self.family} model uses the customers' events: give them (--events), or say "
                             "they have none yet (--no-events, or an events file with a header and no rows).")
        if events is None or no_events:
            notes.append(f"{labels['customers']}: no events given: every customer is scored as having no events.")
            return None
        return None if events.empty else events   # none of these customers' events: they have none

    def _trim(self, customers: pd.DataFrame, events: pd.DataFrame | None, labels: dict[str, str],
              notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Note (and drop) columns the model does not use; name the ones it needs that are missing."""
        cols = self.meta["columns"]
        used = [cols["id"], *self.meta["numeric"], *self.meta["categorical"]]
        # checked here, before trimming, so the messages list the file's own columns
        require_column(customers, cols["id"], labels["customers"], "id", "data.id_column")
        if missing := [c for c in used if c not in customers.columns]:
            raise InputError(f"{labels['customers']}: column(s) {missing} used by the model are missing; "
                             f"columns are {columns_hint(customers.columns)}.")
        if cols["target"] in customers.columns:
            notes.append(f"{labels['customers']}: target column '{cols['target']}' ignored (never used to score).")
        if extra := [c for c in customers.columns if c not in used and c != cols["target"]]:
            notes.append(f"{labels['customers']}: {len(extra)} column(s) not used by the model ignored: {extra[:10]}.")
        customers = customers[[c for c in customers.columns if c in used]]
        if events is None:
            return customers, None
        needed = [cols["id"], self.data.timestamp_column, *([cols["event_type"]] if self.meta["has_event_type"] else []),
                  *self.meta["event_numeric"]]
        if missing := [c for c in needed if c not in events.columns]:
            raise InputError(f"{labels['events']}: column(s) {missing} used by the model are missing; "
                             f"columns are {columns_hint(events.columns)}.")
        if extra := [c for c in events.columns if c not in needed]:
            notes.append(f"{labels['events']}: {len(extra)} column(s) not used by the model ignored: {extra[:10]}.")
        return customers, events[needed]

    def _predict(self, clean: pd.DataFrame, events: pd.DataFrame | None, as_of: pd.Timestamp | None,
                 threshold: float | None, explain: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        builder = self.transform.builder
        if builder.as_of is not None and as_of is not None and as_of != pd.Timestamp(builder.as_of):
            builder = dataclasses.replace(builder, as_of=as_of.isoformat())   # same fitted state, new reference time
        inputs = dataclasses.replace(self.transform, builder=builder).transform(
            clean, events, sequences=model_store.reads_sequences(self.family, self.model))
        info = self.info
        p = model_store.predict_calibrated(info, self.model, inputs.matrix, inputs.sequences)
        cut = self.threshold if threshold is None else threshold
        out = pd.DataFrame({ID: inputs.matrix[ID].to_numpy(), PROBABILITY: p, LABEL: (p >= cut).astype("int8"),
                            AS_OF: "" if as_of is None else as_of.isoformat()})
        if explain:
            from pipeline.explanation.contributions import top_reasons

            if isinstance(self.model, model_store.Blend):
                raise InputError("--explain: the ensemble blends several models and has no per-feature reasons; "
                                 f"use --model with one of its members {list(self.model.weights)}.")
            columns = model_store.feature_columns(self.family, self.model, info)
            out = pd.concat([out, top_reasons(self.family, self.model, inputs.matrix[columns], explain)], axis=1)
        return out, inputs.matrix


def unseen_levels(transform: CustomerTransform, customers: pd.DataFrame, label: str) -> list[str]:
    """One note per categorical column with levels the one-hot encoder never saw in training.

    The encoder maps them to the column's 'infrequent' level when training had one, else to all zeros."""
    static = transform.builder.static
    if static.pipeline_ is None or not static.categorical:
        return []
    encoder = static.pipeline_.named_steps["columns"].named_transformers_["onehot"]
    notes = []
    for column, known in zip(static.categorical, encoder.categories_):
        values = customers[column]
        unseen = values.notna() & ~values.isin(set(map(str, known)))
        if n := int(unseen.sum()):
            shown = sorted(values[unseen].astype(str).unique().tolist())[:3]
            notes.append(f"{label}: column '{column}' has {n} value(s) of level(s) unseen in training, e.g. "
                         f"{shown}: scored as the 'infrequent' level (or no level).")
    return notes


def own_events(customers: pd.DataFrame, events: pd.DataFrame, id_column: str,
               labels: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """The events of these customers (the others ignored, noted); an id-format mismatch raises (IdMatch)."""
    matcher = IdMatch.of(clean_ids(customers[id_column], labels["customers"], id_column))
    position = matcher.add(clean_ids(events[id_column], labels["events"], id_column))
    notes = matcher.settle(labels["events"], labels["customers"], id_column)
    return (events if matcher.n_ignored == 0 else events[position >= 0]), notes


def add_rank(frame: pd.DataFrame) -> pd.DataFrame:
    """rank 1 = highest probability (ties: file order); decile 1 = the top 10 %, 10 = the bottom."""
    n = len(frame)
    rank = frame[PROBABILITY].rank(method="first", ascending=False).to_numpy(dtype=np.int64)
    decile = np.ceil(rank * 10 / max(n, 1)).astype(np.int64)
    head = frame[[ID, PROBABILITY, LABEL]].assign(**{RANK: rank, DECILE: decile})
    return pd.concat([head, frame.drop(columns=[ID, PROBABILITY, LABEL])], axis=1)
