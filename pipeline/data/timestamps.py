"""Timestamps: one format per column, decided on the whole column and parsed vectorised; implausible times.

A column's format (TimeFormat.spec) is one of
- 'ISO8601': '2025-03-01', '2025-03-01 14:30', '2025-03-01T14:30:00+02:00' (with or without time and offset);
- 'day-first' / 'month-first': numeric dates 'DD/MM/YYYY' or 'MM/DD/YYYY' (separators / - ., 2- or 4-digit
  years, optional 'hh:mm[:ss[.f]]' and AM/PM). Day-first when some value's first field is > 12, month-first when
  some value's second field is; both in one column is refused, neither needs `data.dayfirst`;
- 'datetime': the file stored date-times (Parquet timestamps), nothing to decide;
- a strftime pattern pandas infers from the column (e.g. '%d %b %Y' for '01 Mar 2025').
Never value by value: pandas' 'mixed' parser reads '03/04/2025' as 4 March and '13/04/2025' as 13 April in one
column. The decided format is recorded (meta.json `timestamp_format`) so a scoring reuses the training decision.

Implausible times (`Implausible`): before 1900-01-02 (Excel's day zero 1899-12-30/31, '1900-01-00', serial 1),
after the end of tomorrow, UTC (an event cannot be in the run's future), and far outside the bulk of the log
(`bulk_window`). A few are dropped with a warning, more are refused.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.tseries.api import guess_datetime_format

from pipeline.core.errors import MAX_SHOWN, InputError, show_rows, show_values

log = logging.getLogger(__name__)

ISO, DAY_FIRST, MONTH_FIRST, NATIVE = "ISO8601", "day-first", "month-first", "datetime"
RELATIVE_WORDS = ("now", "today")   # pandas reads these as the current time: not reproducible, so unparsable
ISO_START = r"^\d{4}-\d{1,2}-\d{1,2}"
NUMERIC_DATE = (r"^(?P<a>\d{1,2})(?P<s1>[/.-])(?P<b>\d{1,2})(?P<s2>[/.-])(?P<y>\d{4}|\d{2})"
                r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
                r"\s*(?P<p>[AaPp]\.?[Mm]\.?)?)?$")
OFFSET_END = r"(?:[Zz]|UTC|[+-]\d{2}(?::?\d{2})?)$"   # a UTC offset after a time ('...:00' has no sign)
EARLIEST = pd.Timestamp("1900-01-02")     # Excel's day zero (1899-12-30/31, '1900-01-00') and serial 1 fall before
FUTURE_SLACK = pd.Timedelta(days=1)       # time zones: 'today' somewhere is tomorrow in UTC
BULK_SHARE = 1_000                        # the bulk: from the (n/1000)-th smallest to the (n/1000)-th largest time
MIN_SPAN = pd.Timedelta(days=365)
MAX_IMPLAUSIBLE_SHARE = 0.01              # more implausible times than this share of events: refused
REASON_ORDER = ("before", "after", "far")  # first words of the rules' reasons, in the order they are applied


@dataclass(frozen=True)
class TimeFormat:
    spec: str    # ISO8601 | day-first | month-first | datetime | a strftime pattern

    def __str__(self) -> str:
        return self.spec

    def describe(self) -> str:
        return {ISO: "ISO 8601 date-times like '2025-03-01 14:30'",
                DAY_FIRST: "day-first dates like '31/12/2025 [14:30[:00]] [PM]'",
                MONTH_FIRST: "month-first dates like '12/31/2025 [14:30[:00]] [PM]'",
                NATIVE: "date-times stored by the file"}.get(self.spec, f"date-times of format '{self.spec}'")


@dataclass
class OffsetTally:
    """Values with and without a UTC offset (first rows of each), summed over the chunks of a log."""
    aware: int = 0
    naive: int = 0
    aware_rows: list[int] = field(default_factory=list)
    naive_rows: list[int] = field(default_factory=list)

    def add(self, other: OffsetTally) -> None:
        self.aware, self.naive = self.aware + other.aware, self.naive + other.naive
        self.aware_rows = (self.aware_rows + other.aware_rows)[:MAX_SHOWN]
        self.naive_rows = (self.naive_rows + other.naive_rows)[:MAX_SHOWN]

    def message(self, file_label: str, column: str) -> str | None:
        """The warning when offset-aware and naive values are mixed, else None."""
        if not (self.aware and self.naive):
            return None
        return (f"{file_label}: column '{column}' mixes times with a UTC offset ({self.aware:,}, "
                f"{show_rows(self.aware_rows, self.aware)}) and without one ({self.naive:,}, "
                f"{show_rows(self.naive_rows, self.naive)}): those without were taken as UTC.")


@dataclass(frozen=True)
class ParsedTimes:
    values: pd.Series      # datetime64[us], tz-naive UTC, the input's index; no missing values
    fmt: TimeFormat
    offsets: OffsetTally


def rows_of(mask: pd.Series) -> list[int]:
    """1-based file rows of the True entries (a chunk's RangeIndex carries its file rows)."""
    return (mask.index.to_numpy()[np.flatnonzero(mask.to_numpy(dtype=bool))] + 1).tolist()


def parse_times(series: pd.Series, file_label: str, column: str, fmt: TimeFormat | None = None,
                dayfirst: bool | None = None, origin: str = "the format given") -> ParsedTimes:
    """The column parsed with one format: `fmt` when given (a training run's or the first chunk's, `origin`
    says which), else the one its values decide. Unparsable or contradicting values are an InputError."""
    if pd.api.types.is_datetime64_any_dtype(series):
        aware = series.dt.tz is not None
        values = series.dt.tz_convert("UTC").dt.tz_localize(None) if aware else series
        tally = _tally(series.notna(), pd.Series(aware, index=series.index))
        _check_parsed(values.astype("datetime64[us]"), series, file_label, column, TimeFormat(NATIVE), origin)
        return ParsedTimes(values.astype("datetime64[us]"), TimeFormat(NATIVE), tally)
    if pd.api.types.is_numeric_dtype(series) and len(series):
        raise InputError(f"{file_label}: column '{column}' holds numbers (e.g. {series.iloc[0]!r}), not date-times; "
                         "write them like '2025-03-01 14:30' (ISO 8601).")
    text = series.astype("string").str.strip()
    usable = text.notna() & (text != "") & ~text.str.lower().isin(RELATIVE_WORDS)
    if fmt is None or fmt.spec == NATIVE:   # a text column after a Parquet training run decides afresh
        fmt, origin = decide_format(text[usable], file_label, column, dayfirst), "decided on its values"
    values, aware = parse_text(text.where(usable), fmt)
    _check_parsed(values, series, file_label, column, fmt, origin)
    return ParsedTimes(values, fmt, _tally(usable, aware))


def _tally(usable: pd.Series, aware: pd.Series) -> OffsetTally:
    has, lacks = usable & aware, usable & ~aware
    return OffsetTally(int(has.sum()), int(lacks.sum()), rows_of(has)[:MAX_SHOWN], rows_of(lacks)[:MAX_SHOWN])


def _check_parsed(values: pd.Series, raw: pd.Series, file_label: str, column: str, fmt: TimeFormat,
                  origin: str) -> None:
    bad = values.isna()
    if not bad.any():
        return
    if fmt.spec in (DAY_FIRST, MONTH_FIRST):
        other = DAY_FIRST if fmt.spec == MONTH_FIRST else MONTH_FIRST
        flipped = bad & _numeric(raw.astype("string").str.strip(), other == DAY_FIRST).notna()
        if flipped.any():
            raise InputError(f"{file_label}: column '{column}' is {fmt.spec} ({origin}) but "
                             f"{show_rows(rows_of(flipped), int(flipped.sum()))} hold {other} dates: "
                             f"{show_values(_distinct(raw[flipped]))}; write every date in one order.")
    raise InputError(f"{file_label}: column '{column}' has missing or unparsable timestamps at "
                     f"{show_rows(rows_of(bad), int(bad.sum()))}: {show_values(_distinct(raw[bad]))}; "
                     f"expected {fmt.describe()} (the column's format, {origin}).")


def _distinct(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series.drop_duplicates().head(MAX_SHOWN + 1).tolist()]


def decide_format(text: pd.Series, file_label: str, column: str, dayfirst: bool | None) -> TimeFormat:
    """The format most values follow: ISO 8601, a numeric date (its order decided here), or pandas' guess from
    the first other value; the values that do not follow it are then named as unparsable."""
    if text.empty:
        return TimeFormat(ISO)
    iso = text.str.contains(ISO_START, regex=True).fillna(False).astype(bool)
    if 2 * iso.sum() > len(text):
        return TimeFormat(ISO)    # most values are ISO: no need to pull the numeric fields of millions of them
    rest = text[~iso]
    fields = _fields(rest)
    numeric = fields["a"].notna()
    other = ~numeric
    if iso.sum() >= max(numeric.sum(), other.sum()):
        return TimeFormat(ISO)
    if numeric.sum() >= other.sum():
        return TimeFormat(_order(rest[numeric], fields[numeric], file_label, column, dayfirst))
    pattern = guess_datetime_format(str(rest[other].iloc[0]), dayfirst=bool(dayfirst))
    if pattern is None:
        raise InputError(f"{file_label}: column '{column}' has timestamps in a format that cannot be recognised, "
                         f"e.g. {show_values(_distinct(text))} at {show_rows(rows_of(text.notna()), len(text))}; "
                         "write them like '2025-03-01 14:30' (ISO 8601).")
    return TimeFormat(pattern)


def _order(text: pd.Series, fields: pd.DataFrame, file_label: str, column: str, dayfirst: bool | None) -> str:
    """Day-first when a first field is > 12, month-first when a second one is; else `data.dayfirst` decides."""
    if dayfirst is not None:
        return DAY_FIRST if dayfirst else MONTH_FIRST
    day_first, month_first = fields["a"] > 12, fields["b"] > 12
    if day_first.any() and month_first.any():
        raise InputError(f"{file_label}: column '{column}' mixes day-first dates "
                         f"({show_values(_distinct(text[day_first])[:2])} at {show_rows(rows_of(day_first))}) and "
                         f"month-first dates ({show_values(_distinct(text[month_first])[:2])} at "
                         f"{show_rows(rows_of(month_first))}); write every date in one order.")
    if day_first.any() or month_first.any():
        return DAY_FIRST if day_first.any() else MONTH_FIRST
    raise InputError(f"{file_label}: column '{column}' has dates like {show_values(_distinct(text))} "
                     f"({show_rows(rows_of(text.notna()), len(text))}) whose day and month are both <= 12 in every "
                     "row, so their order cannot be told; set data.dayfirst: true (DD/MM) or false (MM/DD).")


def _fields(text: pd.Series) -> pd.DataFrame:
    """NUMERIC_DATE's fields as numbers (NaN where a value does not match), with pyarrow's vectorised regex."""
    arrow = pa.array(text.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    groups = pc.extract_regex(arrow, NUMERIC_DATE)
    out = {}
    for name, values in zip(groups.type.names if len(text) else (), groups.flatten() if len(text) else ()):
        if name in ("s1", "s2", "p", "f"):
            out[name] = pd.Series(values.to_numpy(zero_copy_only=False), index=text.index)
        else:   # '' where an optional group did not match: missing; pyarrow's cast keeps it vectorised
            number = pc.cast(pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values), pa.float64())
            out[name] = pd.Series(number.to_numpy(zero_copy_only=False), index=text.index)
    if not out:
        return pd.DataFrame({k: pd.Series(dtype=float, index=text.index) for k in "abyHMSf"} |
                            {k: pd.Series(dtype=object, index=text.index) for k in ("s1", "s2", "p")})
    return pd.DataFrame(out, index=text.index)


def _numeric(text: pd.Series, dayfirst: bool) -> pd.Series:
    """Numeric dates in one order as datetime64[us]; NaT where a value does not fit it."""
    f = _fields(text)
    f = f[f["a"].notna() & (f["s1"] == f["s2"])]
    day, month = (f["a"], f["b"]) if dayfirst else (f["b"], f["a"])
    year = f["y"].where(f["y"] >= 100, f["y"] + np.where(f["y"] < 69, 2000, 1900))   # strptime's %y rule
    hour = f["H"].fillna(0)
    half = f["p"].fillna("").str.lower().str.slice(0, 1)
    hour = hour.where(half == "", hour.where(hour.between(1, 12)) % 12 + np.where(half == "p", 12, 0))
    zero = (day == 0) & (month == 1) & (year == 1900)   # Excel shows serial 0 as '1900-01-00': 1899-12-31
    parts = pd.DataFrame({"year": year.where(~zero, 1899), "month": month.where(~zero, 12),
                          "day": day.where(~zero, 31), "hour": hour, "minute": f["M"].fillna(0),
                          "second": f["S"].fillna(0)})
    stamps = pd.to_datetime(parts, errors="coerce") if len(parts) else pd.Series(dtype="datetime64[us]")
    fraction = pd.to_numeric("0." + f["f"].fillna("0"), errors="coerce")
    stamps = stamps + pd.to_timedelta(fraction, unit="s")
    return stamps.astype("datetime64[us]").reindex(text.index)


def parse_text(text: pd.Series, fmt: TimeFormat) -> tuple[pd.Series, pd.Series]:
    """(datetime64[us] tz-naive UTC with NaT where a value does not fit `fmt`, whether it had a UTC offset)."""
    no_offset = pd.Series(False, index=text.index)
    if fmt.spec in (DAY_FIRST, MONTH_FIRST):
        return _numeric(text, fmt.spec == DAY_FIRST), no_offset
    if fmt.spec == ISO:
        zero = text.str.startswith("1900-01-00").fillna(False).astype(bool)
        if zero.any():    # Excel's serial 0, shown as day 0 of 1900: 1899-12-31
            text = text.where(~zero, "1899-12-31" + text.str.slice(10))
        aware = (text.str.contains(":", regex=False) & text.str.contains(OFFSET_END, regex=True))
        values = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
        return values.dt.tz_localize(None).astype("datetime64[us]"), aware.fillna(False).astype(bool)
    aware = "%z" in fmt.spec or "%Z" in fmt.spec
    values = pd.to_datetime(text, format=fmt.spec, errors="coerce", utc=True).dt.tz_localize(None)
    return values.astype("datetime64[us]"), pd.Series(aware, index=text.index)


# --- implausible times ---------------------------------------------------------------------------------------

def future_limit(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The latest plausible event time: the end of tomorrow (UTC) by the wall clock. An event cannot be in the run's
    future; a day of slack for time zones, and whole days so every chunk of one run uses the same limit."""
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    today = (now.tz_convert("UTC").tz_localize(None) if now.tzinfo is not None else now).normalize()
    return today + 2 * FUTURE_SLACK


def absolute_reasons(values: pd.Series, latest: pd.Timestamp) -> dict[str, pd.Series]:
    """Masks of the rules that need no other row: before 1900 (Excel's zero dates) and in the future."""
    return {f"before {EARLIEST.date()} (Excel's day zero or earlier)": values < EARLIEST,
            f"after {latest} (later than tomorrow, UTC)": values >= latest}


def bulk_positions(n: int) -> tuple[int, int]:
    """0-based ranks of the bulk's ends among n sorted times: the (n/1000)-th from each end, at least the second,
    so one typo can never be an end of the bulk it is judged by."""
    k = -(-(n - 1) // BULK_SHARE) if n > 1 else 0
    return min(k, n - 1 - k), max(k, n - 1 - k)


def bulk_window(low: pd.Timestamp, high: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Times beyond one bulk span (at least a year) outside the bulk are typos ('2052' for '2025'): a real log
    does not hold an event a whole log-length away from 99.8 % of its events. The year keeps a short log's
    slightly earlier events."""
    span = max(high - low, MIN_SPAN)
    return low - span, high + span


def bulk_mask(values: pd.Series) -> tuple[pd.Series, tuple[pd.Timestamp, pd.Timestamp] | None]:
    """In-memory: the times far outside the bulk of `values`, and the window."""
    if values.empty:
        return pd.Series(False, index=values.index), None
    ordered = np.sort(values.to_numpy())
    lo, hi = bulk_positions(len(ordered))
    window = bulk_window(pd.Timestamp(ordered[lo]), pd.Timestamp(ordered[hi]))
    return (values < window[0]) | (values > window[1]), window


def bulk_reason(window: tuple[pd.Timestamp, pd.Timestamp]) -> str:
    return f"far outside the bulk of the log (before {window[0]} or after {window[1]})"


@dataclass
class Implausible:
    """Implausible times per reason (count, first rows and values), summed over the chunks of a log."""
    found: dict[str, list] = field(default_factory=dict)   # reason -> [count, rows, values]

    def add(self, reason: str, mask: pd.Series, values: pd.Series) -> None:
        """The rows of `mask` (indexed by 0-based file row) broke the rule `reason`."""
        first = mask[mask].index[:MAX_SHOWN]
        self.add_rows(reason, int(mask.sum()), [int(r) + 1 for r in first], [str(v) for v in values[first]])

    def add_rows(self, reason: str, count: int, rows: list[int], shown: list[str]) -> None:
        """`count` times broke `reason`; `rows` (1-based) and `shown` are the first few, in file order."""
        if count:
            n, old_rows, old_shown = self.found.get(reason, [0, [], []])
            self.found[reason] = [n + count, (old_rows + rows)[:MAX_SHOWN], (old_shown + shown)[:MAX_SHOWN]]

    @property
    def n(self) -> int:
        return sum(count for count, _, _ in self.found.values())

    def settle(self, total: int, file_label: str, column: str, report) -> None:
        """Dropped with a warning (counted in `events_implausible_time`) when a few; refused when more."""
        report.dropped["events_implausible_time"] = report.dropped.get("events_implausible_time", 0)
        if not (n := self.n):
            return
        # The rules' order, whichever chunk met one first: the same message in chunks as in memory.
        ordered = sorted(self.found.items(), key=lambda item: REASON_ORDER.index(item[0].split()[0]))
        detail = "; ".join(f"{reason}: {count:,} at {show_rows(rows, count)}: {show_values(shown)}"
                           for reason, (count, rows, shown) in ordered)
        share = n / max(total, 1)
        if share > MAX_IMPLAUSIBLE_SHARE:
            raise InputError(f"{file_label}: column '{column}' has {n:,} implausible times ({share:.1%} of "
                             f"{total:,} events, more than {MAX_IMPLAUSIBLE_SHARE:.0%} to drop): {detail}; "
                             "fix or remove them.")
        report.dropped["events_implausible_time"] += n
        report.warn(f"{file_label}: dropped {n:,} events with implausible times in column '{column}': {detail}.")


def implausible_in_memory(values: pd.Series, latest: pd.Timestamp, bulk: bool) -> tuple[Implausible, pd.Series]:
    """Every rule over a whole column: (the tally, the mask of rows to drop)."""
    found, drop = Implausible(), pd.Series(False, index=values.index)
    for reason, mask in absolute_reasons(values, latest).items():
        found.add(reason, mask, values)
        drop |= mask
    if bulk:
        far, window = bulk_mask(values[~drop])
        if window is not None:
            found.add(bulk_reason(window), far, values)
            drop |= far.reindex(values.index, fill_value=False)
    return found, drop
