"""Input contract for the event log: ids, timestamps (UTC, tz-naive), optional event type, numeric values.

Timestamps: one format per column and implausible times (pipeline/data/timestamps.py); exact duplicate rows
are counted, and dropped only when every row has a twin (a log exported twice).

Like pipeline.data.validate_customers: hard problems are one-line InputErrors naming file, column and rows; events of
unknown customers (a few) and events at/after the cutoff are dropped, counted and warned. The cutoff is
what keeps future information out of the features (DESIGN.md leakage rule 5).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from pipeline.core.errors import MAX_SHOWN, InputError, show_rows, show_values
from pipeline.core.params import DataParams
from pipeline.core.schema import EVENT_TYPE, ID, TIMESTAMP
from pipeline.data.timestamps import (
    RELATIVE_WORDS,
    OffsetTally,
    ParsedTimes,
    TimeFormat,
    future_limit,
    implausible_in_memory,
    parse_times,
    rows_of,
)
from pipeline.data.validate_customers import (
    Report,
    blank,
    clean_ids,
    distinct,
    require_column,
    rows_where,
    to_numeric,
    to_text,
)

log = logging.getLogger(__name__)

RESERVED_EVENT = (ID, TIMESTAMP, EVENT_TYPE)


@dataclass(frozen=True)
class CleanEvents:
    frame: pd.DataFrame        # ID, TIMESTAMP, [EVENT_TYPE], numeric value columns; sorted by ID, TIMESTAMP
    numeric: list[str]         # float64 value columns, file order
    has_event_type: bool
    time_format: TimeFormat | None = None   # the timestamp column's format (meta.json timestamp_format)


@dataclass(frozen=True)
class EventRows:
    """clean_event_rows' result: TIMESTAMP is datetime64[us] until the implausible times are dropped."""
    frame: pd.DataFrame
    numeric: list[str]
    has_type: bool
    times: ParsedTimes


def parse_timestamps(series: pd.Series, file_label: str, column: str, fmt: TimeFormat | None = None,
                     dayfirst: bool | None = None) -> pd.Series:
    """datetime64[ns], tz-naive UTC, parsed with one format for the column (pipeline/data/timestamps.py): `fmt`
    when given (e.g. the training run's), else decided on the values. For callers that need only the values."""
    parsed = parse_times(series, file_label, column, fmt, dayfirst)
    if message := parsed.offsets.message(file_label, column):
        log.warning(message)
    return as_ns(parsed.values, series, file_label, column)


def as_ns(values: pd.Series, raw: pd.Series, file_label: str, column: str) -> pd.Series:
    """datetime64[ns]; a time it cannot hold (before 1677, after 2262) is implausible for an event anyway."""
    outside = (values < pd.Timestamp.min) | (values > pd.Timestamp.max)
    if outside.any():
        raise InputError(f"{file_label}: column '{column}' has implausible timestamps at "
                         f"{show_rows(rows_where(outside))}: {show_values(distinct(raw[outside]))}.")
    return values.astype("datetime64[ns]")


def parse_cutoff(value: str | None, key: str = "data.cutoff") -> pd.Timestamp | None:
    """The params cutoff as a tz-naive UTC timestamp, comparable with parse_timestamps output."""
    if value is None:
        return None
    try:
        cutoff = pd.Timestamp(value)
    except ValueError as err:
        raise InputError(f"params: {key} {value!r} is not a date/time (expected e.g. '2026-01-01').") from err
    if pd.isna(cutoff) or str(value).strip().lower() in RELATIVE_WORDS:
        raise InputError(f"params: {key} {value!r} is not a fixed date/time (expected e.g. '2026-01-01').")
    return cutoff.tz_convert("UTC").tz_localize(None) if cutoff.tzinfo is not None else cutoff


def _has_event_type(frame: pd.DataFrame, p: DataParams, file_label: str, report: Report) -> bool:
    """A configured but absent type column means 'untyped events' (the default names one): warned, not fatal."""
    if p.event_type_column is None:
        return False
    if p.event_type_column not in frame.columns:
        report.warn(f"{file_label}: no event type column '{p.event_type_column}' (data.event_type_column): "
                    "events are used without types; set data.event_type_column: null to silence this.")
        return False
    return True


def _value_columns(frame: pd.DataFrame, p: DataParams, file_label: str, report: Report,
                   drop_empty: bool = True) -> dict[str, pd.Series]:
    """Every other column is a numeric value channel (amount, quantity ...); text there is an error.

    `drop_empty=False` keeps an all-blank column (as NaN): a chunk of a longer log cannot tell an empty column."""
    skip = {p.id_column, p.timestamp_column, p.event_type_column, *p.ignore}
    names = [c for c in frame.columns if c not in skip]
    if clash := [c for c in names if c in RESERVED_EVENT]:
        raise InputError(f"{file_label}: value column(s) {clash} clash with reserved names {list(RESERVED_EVENT)}; "
                         "rename them or list them in data.ignore.")
    values = {}
    for name in names:
        if drop_empty and blank(frame[name]).all():
            drop_empty_column(name, file_label, report)
            continue
        values[name] = to_numeric(frame[name], file_label, name, strict=True,
                                  hint="or list the column in data.ignore (only the event type may be text)",
                                  report=report, decimal_comma=p.decimal_comma)
    return values


def drop_empty_column(name: str, file_label: str, report: Report) -> None:
    report.dropped["columns_all_missing"].append(f"{name} (events)")
    report.warn(f"{file_label}: event column '{name}' is empty in every row: dropped.")


def unmatched_message(unknown_ids: pd.Series, customer_ids: pd.Series, share: float, n: int, total: int,
                      p: DataParams, file_label: str, customers_label: str) -> str:
    """Mostly-unmatched ids are nearly always a format mismatch; say which one when it is leading zeros."""
    unknown = pd.Series(unknown_ids.unique())
    zero_fix = unknown.str.lstrip("0").isin(set(customer_ids.str.lstrip("0"))).mean() > 0.5
    hint = ("the ids differ only in leading zeros ('00042' vs '42'): write them the same way in both files" if zero_fix
            else "check that both files use the same id format (e.g. '00042' vs '42', a prefix, another column)")
    return (f"{file_label}: {n:,} of {total:,} events ({share:.0%}) have a '{p.id_column}' that matches no customer "
            f"in {customers_label} (allowed: data.max_unmatched_event_share={p.max_unmatched_event_share}); {hint}. "
            f"Event ids: {show_values(unknown.head(3))}; customer ids: {show_values(customer_ids.head(3))}.")


def _drop_unknown(events: pd.DataFrame, customer_ids: pd.Series, p: DataParams, file_label: str,
                  customers_label: str, report: Report) -> pd.DataFrame:
    unknown = ~events[ID].isin(set(customer_ids))
    if n := int(unknown.sum()):
        settle_unknown(events.loc[unknown, ID], len(events), customer_ids, p, file_label, customers_label, report)
    return events[~unknown] if n else events


def settle_unknown(unknown_ids: pd.Series, total: int, customer_ids: pd.Series, p: DataParams, file_label: str,
                   customers_label: str, report: Report) -> None:
    """Events of unknown customers, `unknown_ids` one per such event (of `total`): an error past the allowed
    share, else counted and warned."""
    n = len(unknown_ids)
    share = n / total
    if share > p.max_unmatched_event_share or n == total:
        raise InputError(unmatched_message(unknown_ids, customer_ids, share, n, total, p, file_label,
                                           customers_label))
    report.dropped["events_unknown_customer"] += n
    report.warn(f"{file_label}: dropped {n:,} events ({share:.1%}) of {unknown_ids.nunique()} customer "
                f"id(s) not in {customers_label}, e.g. {show_values(distinct(unknown_ids)[:3])}.")


def validate_events(frame: pd.DataFrame, p: DataParams, file_label: str, customer_ids: pd.Series, *,
                    customers_label: str = "the customers file", report: Report | None = None,
                    time_format: TimeFormat | None = None, bulk: bool = True,
                    now: pd.Timestamp | None = None) -> CleanEvents:
    """Check and canonicalise an event log; events of unknown customers are dropped (a few) or an error.

    `time_format`: the timestamp format to hold (a training run's), else decided on the column. `bulk`: also
    drop times far outside the bulk of the log (training only: at scoring a customer's events must not depend
    on the other rows). `now`: the wall clock the future rule measures against (tests)."""
    report = report if report is not None else Report()
    rows = clean_event_rows(frame, p, file_label, report, time_format=time_format)
    settle_offsets(rows.times.offsets, file_label, p.timestamp_column, report)
    found, implausible = implausible_in_memory(rows.frame[TIMESTAMP], future_limit(now), bulk)
    found.settle(len(rows.frame), file_label, p.timestamp_column, report)
    out = rows.frame[~implausible]
    out = out.assign(**{TIMESTAMP: out[TIMESTAMP].astype("datetime64[ns]")})
    out = drop_duplicate_rows(out, file_label, report)
    out = _drop_unknown(out, pd.Series(customer_ids, dtype=object), p, file_label, customers_label, report)
    # mergesort is stable: same-time events keep their file order, so the sequence order is reproducible.
    out = out.sort_values([ID, TIMESTAMP], kind="mergesort").reset_index(drop=True)
    return CleanEvents(out, rows.numeric, rows.has_type, rows.times.fmt)


def settle_offsets(tally: OffsetTally, file_label: str, column: str, report: Report) -> None:
    """Offset-aware and naive values in one column: converted to UTC with a warning (see README's contract)."""
    if message := tally.message(file_label, column):
        report.warn(message)


def drop_duplicate_rows(events: pd.DataFrame, file_label: str, report: Report) -> pd.DataFrame:
    """Rows equal to an earlier row in every column: counted; dropped only when every row has a twin."""
    copies = events.duplicated(keep="first")
    every = bool(len(events)) and bool(events.duplicated(keep=False).all())
    settle_duplicates(int(copies.sum()), every, rows_of(copies)[:MAX_SHOWN], file_label, report)
    return events[~copies] if every else events


def settle_duplicates(n: int, every: bool, rows: list[int], file_label: str, report: Report) -> None:
    """`n` rows repeat an earlier one; `every`: each row has a twin, i.e. the log was exported (at least) twice.

    Then the copies carry nothing and would multiply every count, so they are dropped; otherwise identical events
    can be real (two equal purchases in a day), so they are kept. Both are warned and counted in meta.json."""
    report.dropped["duplicate_event_rows"] = n
    report.dropped["events_duplicate_dropped"] = n if every else 0
    if every:
        report.warn(f"{file_label}: every event row appears more than once ({n:,} copies of earlier rows, "
                    f"{show_rows(rows, n)}): the log looks exported twice; the copies were dropped.")
    elif n:
        report.warn(f"{file_label}: {n:,} event rows repeat an earlier row in every column ({show_rows(rows, n)}); "
                    "kept, as identical events can be real; counted in meta.json dropped.duplicate_event_rows.")


def clean_event_rows(frame: pd.DataFrame, p: DataParams, file_label: str, report: Report,
                     drop_empty: bool = True, time_format: TimeFormat | None = None,
                     origin: str = "the training run's format") -> EventRows:
    """The per-row checks: ID, TIMESTAMP, [EVENT_TYPE], value columns, in file order and with the frame's index
    (pipeline/data/event_chunks.py runs them on each chunk of a long log, holding the first chunk's format)."""
    require_column(frame, p.id_column, file_label, "id", "data.id_column")
    require_column(frame, p.timestamp_column, file_label, "timestamp", "data.timestamp_column")
    ids = clean_ids(frame[p.id_column], file_label, p.id_column)
    times = parse_times(frame[p.timestamp_column], file_label, p.timestamp_column, time_format, p.dayfirst, origin)
    out = pd.DataFrame({ID: ids, TIMESTAMP: times.values})
    has_type = _has_event_type(frame, p, file_label, report)
    if has_type:
        out[EVENT_TYPE] = to_text(frame[p.event_type_column])
    values = _value_columns(frame, p, file_label, report, drop_empty)
    return EventRows(pd.concat([out, pd.DataFrame(values, index=frame.index)], axis=1), list(values), has_type, times)


def apply_cutoff(events: pd.DataFrame, cutoff: pd.Timestamp | None, file_label: str, report: Report) -> pd.DataFrame:
    """Drop events at/after the cutoff: nothing from the prediction window may leak into the features."""
    if cutoff is None:
        return events
    late = events[TIMESTAMP] >= cutoff
    settle_cutoff(int(late.sum()), len(events), events[TIMESTAMP].min(), cutoff, file_label, report)
    return events[~late].reset_index(drop=True)


def settle_cutoff(n: int, total: int, earliest: pd.Timestamp, cutoff: pd.Timestamp, file_label: str,
                  report: Report) -> None:
    """`n` of `total` events at/after the cutoff: an error when that is all of them, else counted and warned."""
    if n == total:
        raise InputError(f"{file_label}: all {n:,} events are at/after the cutoff {cutoff} (data.cutoff); "
                         f"the earliest is {earliest}.")
    if n:
        report.dropped["events_after_cutoff"] += n
        report.warn(f"{file_label}: dropped {n:,} events at/after the cutoff {cutoff}.")
