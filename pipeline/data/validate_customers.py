"""Input contract for the customers table (DESIGN.md section 2): raw frame in, canonical frame out.

Every hard problem is an InputError whose one line names the file, the column and the rows (1-based
data rows, header excluded) or values. Soft problems (all-missing or id-like columns) are dropped,
counted in a Report and logged; so is an inferred column of numbers and bucket tokens ('5+', '<1',
'10-20'; pipeline.data.buckets), read as an ordered categorical. prepare uses this for training data;
predict reuses it for new customers (target optional, feature types fixed by the training run), so
both take one code path.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError, show_rows, show_values
from pipeline.core.params import DataParams
from pipeline.core.schema import ID, RESERVED, TARGET
from pipeline.data.buckets import bucket_column
from pipeline.data.column_types import (
    NumberFormat,
    Numbers,
    days_before,
    format_from,
    is_code,
    parse_dates,
    parse_numbers,
)

log = logging.getLogger(__name__)

NUMERIC_SHARE = 0.9          # a text column this numeric is a numeric column with typos ('12,5'), not a categorical
PLAIN_NUMBERS = "write plain numbers ('.' for decimals, no units or thousands separators)"
ID_LIKE_UNIQUE_SHARE = 0.5   # above this share of distinct values a many-level text column is an id, not a category


def rows_where(mask: Any) -> list[int]:
    """1-based data-row numbers (header excluded) of the True entries: how users count rows in a file.

    A Series indexed by increasing integers carries its rows' file positions (pipeline/core/reader.py): a chunk of
    a long file, or a table whose empty rows were dropped."""
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    if isinstance(mask, pd.Series) and pd.api.types.is_integer_dtype(mask.index) and mask.index.is_monotonic_increasing:
        positions = mask.index.to_numpy()[positions]
    return (positions + 1).tolist()


def distinct(series: pd.Series) -> list[Any]:
    """Distinct values as plain Python scalars, missing as None, so messages read 5 and None, not np.int64(5), nan."""
    return [None if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else v
            for v in series.drop_duplicates().tolist()]


def blank(series: pd.Series) -> pd.Series:
    """Missing or whitespace-only cells."""
    if not (series.dtype == object or pd.api.types.is_string_dtype(series)):
        return series.isna()          # numbers and dates cannot be whitespace; skip the costly text conversion
    return series.isna() | (series.astype("string").str.strip() == "").fillna(False).astype(bool)


def label_key(value: Any) -> str:
    """Comparable form of a target label: 1, 1.0, '1', ' 1 ' and True all give '1'; text is case-folded."""
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    text = str(value).strip().lower()
    try:
        number = float(text)
    except ValueError:
        return {"true": "1", "false": "0"}.get(text, text)
    return str(int(number)) if number.is_integer() else repr(number)


def to_numeric(series: pd.Series, file_label: str, column: str, strict: bool,
               hint: str = "or take it out of data.numeric", report: Report | None = None,
               decimal_comma: bool | None = None, known: NumberFormat | None = None) -> pd.Series | None:
    """float64 values, or None for a text column (only when not strict); infinities are an error.

    Text is read in the one number format that fits the whole column (pipeline/data/column_types.py: currency,
    thousands separators, decimal commas, placeholders such as '?'), warned in `report` naming the column.
    Strict (forced numeric, event values): any other text is an error. Inferred: a column that is >= 90 %
    numbers is a numeric column with typos, an error rather than a silently categorical column.
    """
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.infer_dtype(series, skipna=True) == "boolean":
        values = series.astype("float64")    # bool (also bool with blanks, an object column) -> 0/1
    else:
        text = series.astype("string").str.strip().astype(object)
        text = text.where(text.notna() & (text != ""), None)
        if not strict and is_code(text):
            return None      # '007': a code, whose zeros a number would lose (data.numeric forces numbers)
        numbers = parse_numbers(text, file_label, column, decimal_comma, known)
        present = text.notna() & ~numbers.placeholders
        if (bad := numbers.bad).any():
            if not strict and (not present.any() or 1 - bad.sum() / present.sum() < NUMERIC_SHARE):
                return None
            raise InputError(f"{file_label}: column '{column}' is numeric but has non-numeric text at "
                             f"{show_rows(rows_where(bad))}: {show_values(distinct(series[bad]))}; "
                             f"{PLAIN_NUMBERS} {hint}.")
        if not strict and not present.any():
            return None      # nothing but placeholders: left to the text rules
        values = numbers.values
        if report is not None:
            _note_format(numbers, series, file_label, column, report)
    if (inf := pd.Series(np.isinf(values.to_numpy()), index=values.index)).any():
        raise InputError(f"{file_label}: column '{column}' has infinite values at {show_rows(rows_where(inf))}; "
                         "use blanks for unknown values.")
    return values


def _note_format(numbers: Numbers, series: pd.Series, file_label: str, column: str, report: Report) -> None:
    """Say how a column's numbers were read, so a changed meaning is never silent."""
    if not numbers.fmt.plain:
        report.number_formats[column] = numbers.fmt.as_dict()
        report.warn(f"{file_label}: column '{column}' read as numbers with {numbers.fmt.describe()}, e.g. "
                    f"{show_values(distinct(series[series.notna()].head(3)))}.")
    if numbers.booleans:
        report.warn(f"{file_label}: column '{column}' holds true/false text: read as 1/0.")
    if (held := numbers.placeholders).any():
        report.warn(f"{file_label}: column '{column}' has placeholder(s) {show_values(distinct(series[held]))} at "
                    f"{show_rows(rows_where(held))}: read as missing values.")


def _distinct(series: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(codes, values) with series[i] == values[codes[i]]; the last value stands for every missing one.

    Text is cleaned once per distinct value and spread back with the codes: an event log repeats each id
    about 30 times and each event type millions of times, and pandas' string methods cost about 90 bytes
    and a Python string per row (at 1M customers, 2 of prepare's 8 GiB)."""
    codes, uniques = pd.factorize(series)
    values = pd.Series(uniques, dtype=series.dtype) if isinstance(series.dtype, pd.CategoricalDtype) else pd.Series(uniques)
    if (codes < 0).any():
        values = pd.concat([values, series[codes < 0].iloc[:1]], ignore_index=True)   # a missing value, same dtype
    return codes, values


def _spread(values: pd.Series, codes: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(values.to_numpy(dtype=object)[codes], index=index, dtype=object)


def to_text(series: pd.Series) -> pd.Series:
    """Categorical values as stripped str, None for missing; whole floats lose their '.0' (3.0 -> '3')."""
    if pd.api.types.is_float_dtype(series):
        return _to_text_each(series)   # factorize would merge -0.0 into 0.0, whose texts differ
    codes, values = _distinct(series)
    return _spread(_to_text_each(values), codes, series.index)


def _to_text_each(series: pd.Series) -> pd.Series:
    present = ~blank(series)
    if pd.api.types.is_float_dtype(series) and (series[present] % 1 == 0).all():
        series = series.astype("Int64")
    text = series.astype("string").str.strip()
    return text.astype(object).where(present, None)


def _empty_dropped() -> dict[str, Any]:
    return {"events_unknown_customer": 0, "events_after_cutoff": 0, "columns_all_missing": [], "columns_id_like": []}


@dataclass
class Report:
    """Warnings and drop counters collected while validating; prepare writes them to meta.json."""

    warnings: list[str] = field(default_factory=list)
    dropped: dict[str, Any] = field(default_factory=_empty_dropped)
    number_formats: dict[str, dict[str, Any]] = field(default_factory=dict)   # column -> NumberFormat, non-plain only
    date_formats: dict[str, str] = field(default_factory=dict)                # date column -> its format

    def warn(self, message: str) -> None:
        log.warning(message)
        self.warnings.append(message)


@dataclass(frozen=True)
class CleanCustomers:
    frame: pd.DataFrame        # ID (str), TARGET (int8, when present), features; index = file row order
    numeric: list[str]         # float64 feature columns, file order
    categorical: list[str]     # str/None feature columns, file order
    ordered_levels: dict[str, list[str]] = field(default_factory=dict)   # bucket columns (also in categorical)
    dates: list[str] = field(default_factory=list)   # date columns (also in numeric): datetime64, days after to_days


def columns_hint(columns: Iterable[Any]) -> str:
    """The file's columns, shortened, so a 'not found' message shows what was there instead."""
    names = [str(c) for c in columns]
    return str(names[:15]) + (f" (+{len(names) - 15} more)" if len(names) > 15 else "")


def require_column(frame: pd.DataFrame, column: str, file_label: str, role: str, key: str) -> None:
    if column not in frame.columns:
        raise InputError(f"{file_label}: {role} column '{column}' not found (params {key}); "
                         f"columns are {columns_hint(frame.columns)}.")


def clean_ids(series: pd.Series, file_label: str, column: str) -> pd.Series:
    """Ids as stripped text ('00042' stays '00042'); a blank id cannot be joined or split on: an error."""
    codes, values = _distinct(series)
    text = values.astype("string").str.strip()
    missing = pd.Series((text.isna() | (text == "")).fillna(True).to_numpy(dtype=bool)[codes], index=series.index)
    if missing.any():
        raise InputError(f"{file_label}: column '{column}' has missing/blank ids at {show_rows(rows_where(missing))}.")
    return _spread(text, codes, series.index)


def _check_unique(ids: pd.Series, file_label: str, column: str) -> None:
    if (dup := ids.duplicated(keep=False)).any():
        raise InputError(f"{file_label}: column '{column}' has duplicate customer ids "
                         f"{show_values(distinct(ids[dup]))} at {show_rows(rows_where(dup))}; each customer must appear once.")


def encode_target(series: pd.Series, p: DataParams, file_label: str) -> pd.Series:
    """int8 1 for data.positive_label, 0 for the other label; 1, 1.0, '1' and True compare equal.

    Without data.positive_label only 0/1 (or true/false) is accepted: in a 1/2 or yes/no column which label is
    the positive one is the user's to say, and a guess would silently invert the model."""
    where = f"{file_label}: target column '{p.target}'"
    if (missing := blank(series)).any():
        raise InputError(f"{where} has missing values at {show_rows(rows_where(missing))}; every customer needs a label.")
    keys = series.map(label_key)
    first = series.groupby(keys, sort=True).first()          # one raw value per distinct label, for messages
    first = pd.Series(first.tolist(), index=first.index, dtype=object)
    counts = keys.value_counts()
    shown = [f"{first[k]!r} (x{counts[k]})" for k in first.index]
    if len(first) == 1:
        raise InputError(f"{where} has only one class {shown}; a binary target needs two.")
    if len(first) > 2:
        rare = keys.isin(counts.index[2:])
        raise InputError(f"{where} has {len(first)} distinct values {shown[:6]}; expected two "
                         f"(0/1 or two labels); least common at {show_rows(rows_where(rare))}.")
    if p.positive_label is None:
        if set(first.index) != {"0", "1"}:
            raise InputError(f"{where} holds {shown}, not 0/1: set data.positive_label to the value that means "
                             f"the outcome happened (in quotes for text, e.g. positive_label: \"{first.iloc[-1]}\").")
        return (keys == "1").astype("int8")
    if (positive := label_key(p.positive_label)) not in first.index:
        quote = (f" (an unquoted yes/no/true/on in params.yaml is the YAML boolean {p.positive_label}; quote the "
                 "label, e.g. positive_label: \"Yes\")") if isinstance(p.positive_label, bool) else ""
        raise InputError(f"{where}: data.positive_label {p.positive_label!r} does not occur{quote}; the values are "
                         f"{first.tolist()}: set data.positive_label to one of them.")
    return (keys == positive).astype("int8")


def check_listed(p: DataParams, file_label: str, columns: Iterable[Any], keys: Sequence[str] = ("numeric", "categorical")) -> None:
    """Columns named in data.numeric/categorical/ignore must exist: a typo would silently do nothing."""
    both = sorted(set(p.numeric) & set(p.categorical))
    if both:
        raise InputError(f"params: column(s) {both} are in both data.numeric and data.categorical.")
    for key in keys:
        if missing := [c for c in getattr(p, key) if c not in set(columns)]:
            raise InputError(f"params: data.{key} lists column(s) {missing} not found in {file_label}; "
                             f"columns are {columns_hint(columns)}.")


def _drop(report: Report, kind: str, name: str, message: str) -> None:
    report.dropped[kind].append(name)
    report.warn(message)


def _bucket_levels(series: pd.Series, file_label: str, column: str,
                   report: Report) -> tuple[pd.Series, list[str]] | None:
    """(text, levels in order) of a text column of numbers and bucket tokens ('5+', '<1', '10-20'), warned; else None."""
    if not (series.dtype == object or pd.api.types.is_string_dtype(series)):
        return None
    text = to_text(series)
    if (found := bucket_column(text)) is None:
        return None
    levels, tokens = found
    report.warn(f"{file_label}: column '{column}' holds bucket tokens {tokens} among numbers: read as an ordered "
                f"categorical with levels {levels}; list it in data.numeric to make this an error, "
                "or clean the export.")
    return text, levels


def _infer_features(features: pd.DataFrame, p: DataParams, file_label: str, report: Report) -> CleanCustomers:
    """Numeric vs categorical per column (data.numeric/categorical force it); empty and id-like columns dropped."""
    cols: dict[str, pd.Series] = {}
    numeric, categorical, ordered, dates = [], [], {}, []
    for name in features.columns:
        series = features[name]
        if blank(series).all():
            _drop(report, "columns_all_missing", name, f"{file_label}: column '{name}' is empty in every row: dropped.")
            continue
        forced = name in p.numeric
        if not forced and name not in p.categorical and (bucket := _bucket_levels(series, file_label, name, report)):
            cols[name], ordered[name] = bucket
            categorical.append(name)
            continue
        hint = "or take it out of data.numeric" if forced else "or list the column in data.categorical"
        values = None if name in p.categorical else \
            to_numeric(series, file_label, name, forced, hint, report, p.decimal_comma)
        if values is None and name not in p.categorical:
            values = _dates(series, file_label, name, report, p.dayfirst)
            dates += [name] if values is not None else []
        if values is not None:
            cols[name] = values
            numeric.append(name)
            continue
        text = to_text(series)
        levels = text.nunique()
        if name not in p.categorical and levels > p.max_category_levels and levels > ID_LIKE_UNIQUE_SHARE * text.notna().sum():
            _drop(report, "columns_id_like", name, f"{file_label}: column '{name}' looks like an id ({levels} distinct "
                  f"text values): dropped; list it in data.categorical to keep it.")
            continue
        cols[name] = text
        categorical.append(name)
    return CleanCustomers(pd.DataFrame(cols, index=features.index), numeric, categorical, ordered, dates)


def _dates(series: pd.Series, file_label: str, column: str, report: Report, dayfirst: bool | None = None,
           known: str | None = None) -> pd.Series | None:
    """A date column (text or Parquet dates) as datetime64, or None; never a categorical of dates. Its format
    is recorded (meta.json `dates`) so new data is read as training read it."""
    if (found := parse_dates(series, file_label, column, dayfirst, known)) is None:
        return None
    dates, implausible, spec = found
    report.date_formats[column] = spec
    report.warn(f"{file_label}: column '{column}' holds dates: used as days before the reference time.")
    if implausible.any():
        report.warn(f"{file_label}: column '{column}' has implausible dates (Excel's day zero or before 1900) "
                    f"{show_values(distinct(series[implausible]))} at {show_rows(rows_where(implausible))}: "
                    "read as missing.")
    return dates.where(~implausible)


def to_days(clean: CleanCustomers, as_of: pd.Timestamp | None, file_label: str) -> CleanCustomers:
    """Date columns as days before the reference time (as-of), the numbers every later stage reads."""
    if not clean.dates:
        return clean
    if as_of is None:
        raise InputError(f"{file_label}: column(s) {clean.dates} hold dates, which become days before the reference "
                         "time; with no event log that time is data.cutoff (the export's date): set it, or list the "
                         "columns in data.ignore.")
    frame = clean.frame.assign(**{c: days_before(clean.frame[c], as_of) for c in clean.dates
                                  if pd.api.types.is_datetime64_any_dtype(clean.frame[c])})
    return dataclasses.replace(clean, frame=frame)


def _fixed_features(frame: pd.DataFrame, features: Mapping[str, Any], file_label: str, report: Report) -> CleanCustomers:
    """New data: exactly the training run's columns and types; nothing inferred, nothing dropped."""
    numeric, categorical = list(features["numeric"]), list(features["categorical"])
    dates, formats = dict(features.get("dates", {})), features.get("number_formats", {})
    if missing := [c for c in numeric + categorical if c not in frame.columns]:
        raise InputError(f"{file_label}: column(s) {missing} used by the model are missing; columns are {columns_hint(frame.columns)}.")
    cols = {c: _fixed_dates(frame[c], file_label, c, report, dates[c]) if c in dates else
            to_numeric(frame[c], file_label, c, True, "(the model was trained on numbers)", report,
                       known=format_from(formats.get(c))) for c in numeric}
    cols |= {c: to_text(frame[c]) for c in categorical}
    return CleanCustomers(pd.DataFrame(cols, index=frame.index)[numeric + categorical], numeric, categorical,
                          dates=list(dates))


def _fixed_dates(series: pd.Series, file_label: str, column: str, report: Report, known: str) -> pd.Series:
    """New data: a column the model reads as dates must hold dates, in the training run's format."""
    if blank(series).all():
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    if (values := _dates(series, file_label, column, report, known=known)) is None:
        raise InputError(f"{file_label}: column '{column}' must hold dates (the model was trained on dates), got "
                         f"{show_values(distinct(series.dropna().head(3)))}.")
    return values


def validate_customers(frame: pd.DataFrame, p: DataParams, file_label: str, *, require_target: bool = True,
                       features: Mapping[str, Sequence[str]] | None = None, report: Report | None = None) -> CleanCustomers:
    """Check and canonicalise a customers table: ID, TARGET (int8), then features in file order.

    `features` ({"numeric": [...], "categorical": [...]} from meta.json) fixes the columns and types for
    new data; without it types are inferred. With require_target=False a target column, if any, is left out.
    """
    report = report if report is not None else Report()
    require_column(frame, p.id_column, file_label, "id", "data.id_column")
    if require_target:
        require_column(frame, p.target, file_label, "target", "data.target")
    ids = clean_ids(frame[p.id_column], file_label, p.id_column)
    _check_unique(ids, file_label, p.id_column)
    head = pd.DataFrame({ID: ids}, index=frame.index)
    if require_target:
        head[TARGET] = encode_target(frame[p.target], p, file_label)
    if features is not None:
        typed = _fixed_features(frame, features, file_label, report)
    else:
        check_listed(p, file_label, frame.columns)
        rest = frame.drop(columns=[c for c in dict.fromkeys([p.id_column, p.target, *p.ignore]) if c in frame.columns])
        if clash := [c for c in rest.columns if c in RESERVED]:
            raise InputError(f"{file_label}: feature column(s) {clash} clash with reserved names {list(RESERVED)} "
                             "used for id/target/split; rename them or list them in data.ignore.")
        typed = _infer_features(rest, p, file_label, report)
    return CleanCustomers(pd.concat([head, typed.frame], axis=1), typed.numeric, typed.categorical,
                          typed.ordered_levels, typed.dates)

