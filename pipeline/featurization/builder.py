"""The fitted feature step: static features + event aggregates + sequence embeddings (+ sequence tensors),
learned on train.

`FeatureBuilder.fit` sees only training customers and their events (leakage rule 2); every later
call (test split, new customers) applies the fitted parts unchanged.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.core.params import EmbeddingParams, FeatureParams
from pipeline.core.schema import ID, TARGET
from pipeline.embedding.embedder import SequenceEmbedder
from pipeline.embedding.follows import FollowsProfile
from pipeline.embedding.transitions import TransitionProfile
from pipeline.events.aggregates import EventAggregator
from pipeline.featurization.embedding_check import check_embedding
from pipeline.events.sequence_encoder import SequenceEncoder
from pipeline.events.sequences import SequenceBatch
from pipeline.featurization.static import StaticFeatures

log = logging.getLogger(__name__)

EMBEDDING_GROUP = "sequence embedding"   # explanations treat the embedding columns as this one feature


@dataclass
class FeatureBuilder:
    static: StaticFeatures
    events: EventAggregator | None
    event_encoding: StaticFeatures | None   # log/scale of the aggregates, fitted on train aggregates
    sequences: SequenceEncoder | None
    as_of: str | None                       # ISO time the features are measured at (events strictly before)
    event_dtypes: dict[str, str] | None = None   # the log's columns: new customers scored without an events file
    embedding: SequenceEmbedder | None = None    # CoLES encoder pre-trained on the train customers' sequences
    transitions: TransitionProfile | None = None   # shares of the most frequent consecutive event-type pairs
    follows: FollowsProfile | None = None   # "an a, later a b" flags over the recent window
    embedding_check: dict | None = None     # the train CV that kept or left out the embedding columns

    @classmethod
    def fit(cls, train: pd.DataFrame, events: pd.DataFrame | None, columns: dict[str, list[str]],
            p: FeatureParams, as_of: str | None, seed: int = 0, train_as_of: str | None = None) -> FeatureBuilder:
        """Fit every part on the training customers (and only their events), measured at `train_as_of`
        (default `as_of`); the fitted builder measures every later customer at `as_of`. The two differ out of
        time (split.method time): training customers are seen as they were at the earlier cutoff."""
        return cls.fit_matrix(train, events, columns, p, as_of, seed, train_as_of)[0]

    @classmethod
    def fit_matrix(cls, train: pd.DataFrame, events: pd.DataFrame | None, columns: dict[str, list[str]],
                   p: FeatureParams, as_of: str | None, seed: int = 0,
                   train_as_of: str | None = None) -> tuple[FeatureBuilder, pd.DataFrame, SequenceBatch | None]:
        """`fit`, with the training customers' matrix and sequence batch at `train_as_of`: the fit computes
        both on the way, and at 800k customers building them again took minutes."""
        numeric = columns["numeric"] + columns.get("indicators", [])
        static = StaticFeatures(numeric=numeric, categorical=columns["categorical"], ratios=p.ratios,
                                buckets=p.buckets, log_skew=p.log_skew, rare_min_share=p.rare_min_share)
        static.fit(train)
        if events is None:
            builder = cls(static, None, None, None, None)
            return builder, builder.matrix(train, None), None
        # fit(..., customer_ids=train ids): only training customers' events are learned from.
        train_ids = train[ID].to_numpy()
        scoring_as_of, as_of = as_of, train_as_of or as_of
        aggregator = EventAggregator(windows_days=tuple(p.windows_days), max_event_types=p.max_event_types)
        aggregator.fit(events, as_of, customer_ids=train_ids)
        aggregates = aggregator.transform(events, train_ids, as_of)
        encoding = StaticFeatures(numeric=list(aggregates.columns), categorical=[], log_skew=p.log_skew)
        encoding.fit(aggregates.reset_index(drop=True))
        encoder = SequenceEncoder(max_len=p.max_seq_len, max_event_types=p.max_event_types)
        encoder.fit(events, as_of, customer_ids=train_ids)
        train_batch = encoder.transform(events, train_ids, as_of)
        embedding = transitions = follows = None
        if p.embedding.dim > 0:
            embedding = make_embedder(p.embedding, p.max_seq_len, seed).fit(train_batch)
        if p.transitions > 0:
            transitions = TransitionProfile(top=p.transitions).fit(train_batch)
        if p.follows > 0:
            follows = FollowsProfile(top=p.follows, window_days=float(max(p.windows_days, default=90)))
            follows.fit(train_batch, encoder.ages_days(train_batch))
        builder = cls(static, aggregator, encoding, encoder, scoring_as_of,
                      {c: str(t) for c, t in events.dtypes.items()}, embedding, transitions, follows)
        matrix = dataclasses.replace(builder, as_of=as_of).matrix(train, events, train_batch, aggregates)
        if embedding is not None and p.embedding.min_gain is not None and TARGET in train.columns:
            builder = builder.checked(matrix, p.embedding.min_gain, seed)
            if not builder.embedding_columns:
                matrix = matrix.drop(columns=embedding.columns)
        return builder, matrix, train_batch

    def checked(self, matrix: pd.DataFrame, min_gain: float, seed: int) -> FeatureBuilder:
        """This builder, with the embedding columns left out when a train CV on its training `matrix` (embedding
        columns in) says they do not pay."""
        check = check_embedding(matrix.drop(columns=[ID, TARGET]), matrix[TARGET], self.embedding.columns, min_gain,
                                seed)
        return dataclasses.replace(self, embedding_check=check.describe())

    @property
    def embedding_columns(self) -> bool:
        """The embedding joins the matrix (the encoder may exist for the sequence model alone)."""
        return self.embedding is not None and (self.embedding_check or {}).get("kept", True)

    def matrix(self, customers: pd.DataFrame, events: pd.DataFrame | None, batch: SequenceBatch | None = None,
               aggregates: pd.DataFrame | None = None) -> pd.DataFrame:
        """Model matrix: customer_id, target (when present), static, event aggregate, embedding, transition, then
        follows columns.
        `batch`, `aggregates`: these customers' sequence_batch and raw event aggregates when the caller already
        has them (else they are built here)."""
        parts = [self.static.transform(customers).reset_index(drop=True)]
        if self.events is not None:
            log_ = events if events is not None else self.empty_events()
            if aggregates is None:
                aggregates = self.events.transform(log_, customers[ID].to_numpy(), self.as_of)
            parts.append(self.event_encoding.transform(aggregates.reset_index(drop=True)))
        if self.embedding is not None or self.transitions is not None or self.follows is not None:
            batch = batch if batch is not None else self.sequence_batch(customers, events)
            for part in (self.embedding if self.embedding_columns else None, self.transitions):
                if part is not None:
                    parts.append(pd.DataFrame(part.transform(batch), columns=part.columns))
            if self.follows is not None:
                flags = self.follows.transform(batch, self.sequences.ages_days(batch))
                parts.append(pd.DataFrame(flags, columns=self.follows.columns))
        keys = customers[[c for c in (ID, TARGET) if c in customers.columns]].reset_index(drop=True)
        out = pd.concat([keys, *parts], axis=1)
        return out

    def sequence_batch(self, customers: pd.DataFrame, events: pd.DataFrame | None) -> SequenceBatch | None:
        if self.sequences is None:
            return None
        log_ = events if events is not None else self.empty_events()
        return self.sequences.transform(log_, customers[ID].to_numpy(), self.as_of)

    def empty_events(self) -> pd.DataFrame:
        """A zero-row event log with the training log's columns and dtypes."""
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (self.event_dtypes or {}).items()})

    def manifest(self) -> dict[str, Any]:
        """Names, kinds and sources of the model-matrix columns, for later stages and the report."""
        rows = [{**d, "source": "static"} for d in self.static.describe()]
        if self.event_encoding is not None:
            rows += [{**d, "source": "events"} for d in self.event_encoding.describe()]
        if self.embedding_columns:
            rows += [{"name": c, "kind": "numeric", "inputs": ["events"], "group": EMBEDDING_GROUP, "level": None,
                      "transform": "CoLES encoder, standardised", "source": "embedding"} for c in self.embedding.columns]
        if self.transitions is not None:
            rows += [{"name": c, "kind": "numeric", "inputs": ["events"], "group": None, "level": None,
                      "transform": "share of consecutive event pairs", "source": "transitions"}
                     for c in self.transitions.columns]
        if self.follows is not None:
            rows += [{"name": c, "kind": "numeric", "inputs": ["events"], "group": None, "level": None,
                      "transform": f"event a later followed by b in the last {self.follows.window_days:g} days",
                      "source": "follows"} for c in self.follows.columns]
        seq = None
        if self.sequences is not None:
            seq = {"max_len": self.sequences.max_len, "type_names": list(self.sequences.type_names_),
                   "channels": list(self.sequences.channels_)}
        return {"features": rows, "has_events": self.events is not None, "sequence": seq,
                "as_of": self.as_of, "embedding_check": self.embedding_check}


def make_embedder(p: EmbeddingParams, max_len: int, seed: int) -> SequenceEmbedder:
    return SequenceEmbedder(dim=p.dim, type_dim=p.type_dim, max_len=max_len, views=p.views, min_share=p.min_share,
                            epochs=p.epochs, batch_customers=p.batch_customers, lr=p.lr, temperature=p.temperature,
                            max_customers=p.max_customers, max_seconds=p.max_seconds, random_state=seed)
