"""Canonical column names and the layout of the prepared data that every later stage reads.

`prepare` renames the user's id/target/timestamp/event-type columns to these names, so later
stages never look at params for column names; meta.json keeps the user's names for reports.

data/interim/prepared/            (one DVC output directory, written atomically)
  train.parquet, test.parquet     customers: customer_id (str), target (int8 0/1), static features
                                  (numeric -> float64, categorical -> str with None for missing)
  events.parquet                  only when has_events: customer_id, timestamp (datetime64[ns], naive),
                                  event_type (str, when has_event_type), numeric value columns (float64);
                                  events at/after the cutoff and of unknown customers already dropped;
                                  sorted by customer_id, timestamp
  truth.parquet                   only when has_truth (synthetic data): customer_id, true_probability.
                                  NEVER a feature: only the report's oracle row reads it.
  meta.json                       see PreparedMeta below
"""
from __future__ import annotations

ID = "customer_id"
TARGET = "target"
TIMESTAMP = "timestamp"
EVENT_TYPE = "event_type"
TRUE_PROBABILITY = "true_probability"
SPLIT = "split"
TRAIN, TEST = "train", "test"

RESERVED = (ID, TARGET, SPLIT)

# Keys of meta.json (a plain dict, written with pipeline.core.io.write_json):
#   source            "synthetic" | "files"
#   files             {"customers": str | None, "events": str | None}
#   columns           {"id": user id column, "target": user target column, "positive_label": value,
#                      "timestamp": ..., "event_type": ... | None}
#   numeric           [static numeric feature columns]      (order kept from the file)
#   categorical       [static categorical feature columns]
#   ordered_levels    {column: [levels in numeric order]}, only when some inferred column held bucket tokens
#                     ('5+', '<1', '10-20'; pipeline.data.buckets); each such column is also in categorical
#   has_events, has_event_type, has_truth   bool
#   event_numeric     [numeric value columns of the event log]
#   event_types       [sorted distinct event types seen in the whole (kept) event log]
#   cutoff            ISO timestamp | None  (user's cutoff; synthetic: the snapshot date)
#   as_of             ISO timestamp | None  reference time for recency features: cutoff, or else the
#                                           latest kept event + 1 s (features use events strictly before it)
#   as_of_train       ISO timestamp         only with label.from_events: the training customers' cutoff
#                                           (as_of - horizon out of time, split.method time; else as_of)
#   label             only with label.from_events: kind, event_types, horizon_days, min_history_days, cutoff,
#                     left_out_no_history, left_out_short_history ({split: customers not scored at its cutoff};
#                     a random split has one cutoff: {"all": n}),
#                     train_cutoff, split_method, window {split: [start, end)}, positive_rate {split: share}
#   n_train, n_test, positive_rate_train, n_events
#   timestamp_format  str | None  how the event timestamps were read: ISO8601, day-first, month-first, datetime
#                                 or a strftime pattern (pipeline/data/timestamps.py); scoring holds it
#   dropped           {"events_unknown_customer": int, "events_after_cutoff": int,
#                      "columns_all_missing": [..], "columns_id_like": [..]; with events also
#                      "events_implausible_time": int, "duplicate_event_rows": int (rows repeating an
#                      earlier one), "events_duplicate_dropped": int (those dropped: every row had a twin)}
#   warnings          [human-readable strings, one per warned case]
