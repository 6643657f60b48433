"""What a text column means, decided on the whole column: numbers as exports write them, or dates.

CRM and warehouse exports write numbers as '$12,345.60', '70,35' (a decimal comma), '12.345,60', '1 234',
'(12.50)' or '15%', and mark missing values with '?', '-', 'n/a'. Read as text those would become a
categorical of hundreds of levels that never recur at scoring: a silent change of meaning. Here a column's
number format (decimal mark, thousands separator, currency symbol, percent sign) is decided once from all its
distinct values, every value must fit it, and the caller warns naming the column. A comma that is equally a
decimal mark and a thousands separator ('1,234' in every row) is refused unless data.decimal_comma says which.
Dates (as text, or Parquet dates/timestamps) are recognised here too; pipeline/data/validate_customers.py turns
them into "days before the reference time".
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError, show_rows, show_values
from pipeline.data.timestamps import (
    EARLIEST,
    ISO_START,
    NATIVE,
    NUMERIC_DATE,
    TimeFormat,
    decide_format,
    parse_text,
    rows_of,
)

PLACEHOLDERS = frozenset({"?", "??", "-", "--", "---", ".", "n/a", "na", "n.a.", "nan", "null", "none", "#n/a",
                          "#na", "#value!", "#div/0!", "missing", "(blank)", "(null)"})
TRUE_FALSE = {"true": 1.0, "false": 0.0}
CURRENCY = "$€£¥₹₽₩"
GROUP_SPACES = " '\u00a0\u202f\u2009"        # space, apostrophe (Swiss), no-break and thin spaces
_SIGNED = re.compile(r"^(?P<neg>-|\((?=.*\)$))?(?P<body>.*?)\)?$")
_DIGITS = re.compile(r"^\d+$")
_PLAIN_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_NUMBER_LIKE = re.compile(rf"^[\s(+-]*[{CURRENCY}]?[\s-]*[\d.,{GROUP_SPACES}]*\d[\d.,{GROUP_SPACES}]*[{CURRENCY}]?\s*%?\)?$")
MOSTLY = 0.5     # fewer distinct values shaped like numbers: a text column, no format to decide


@dataclass(frozen=True)
class NumberFormat:
    """How a column writes its numbers: decimal mark, thousands separator, currency symbol, percent sign."""
    decimal: str = "."
    thousands: str = ""
    currency: str = ""
    percent: bool = False

    @property
    def plain(self) -> bool:
        return self == NumberFormat()

    def describe(self) -> str:
        parts = [f"decimal mark {self.decimal!r}" if self.decimal != "." else "",
                 f"thousands separator {self.thousands!r}" if self.thousands else "",
                 f"currency symbol {self.currency!r} removed" if self.currency else "",
                 "percent sign removed (values in percent)" if self.percent else ""]
        return ", ".join(p for p in parts if p)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Numbers:
    values: pd.Series          # float64, NaN for missing and placeholders
    bad: pd.Series             # present values that are not numbers in the column's format
    placeholders: pd.Series    # cells holding a placeholder token ('?', 'n/a' ...), read as missing
    fmt: NumberFormat
    booleans: bool = False     # the column is true/false text, read as 1/0


def is_code(text: pd.Series) -> bool:
    """Digits with a leading zero ('007', '0123'): nobody writes a quantity that way; it is a code."""
    return bool(pd.Series(pd.unique(text.dropna()), dtype=object).str.match(r"^0\d+$").any())


def is_placeholder(text: pd.Series) -> pd.Series:
    return text.str.lower().isin(PLACEHOLDERS).fillna(False).astype(bool)


def parse_numbers(text: pd.Series, file_label: str, column: str, decimal_comma: bool | None = None,
                  known: NumberFormat | None = None) -> Numbers:
    """Stripped text (None for missing) -> numbers in the one format that fits the whole column.

    `decimal_comma` (params) or `known` (the training run's format) settle a comma that could be either."""
    uniques = pd.Series(pd.unique(text.dropna()), dtype=object)
    holders = uniques[is_placeholder(uniques.astype("string")).to_numpy()]
    candidates = uniques[~uniques.isin(set(holders))]
    if not len(holders) and not pd.to_numeric(candidates, errors="coerce").isna().any():
        # the usual case, fast: plain numbers only (an event log has millions of distinct amounts)
        return _numbers(text, pd.to_numeric(text).astype("float64"), holders, NumberFormat())
    if len(candidates) and candidates.str.lower().isin(TRUE_FALSE).all():
        values = text.str.lower().map(TRUE_FALSE).astype("float64")
        return _numbers(text, values, holders, NumberFormat(), booleans=True)
    if candidates.str.match(_NUMBER_LIKE).mean() < MOSTLY:
        return _numbers(text, pd.Series(np.nan, index=text.index), holders, NumberFormat())
    fmt = decide_number_format(candidates, file_label, column, decimal_comma, known)
    mapping = {v: _parse_one(v, fmt) for v in candidates}
    values = text.map(mapping).astype("float64")
    return _numbers(text, values, holders, fmt)


def _numbers(text: pd.Series, values: pd.Series, holders: pd.Series, fmt: NumberFormat,
             booleans: bool = False) -> Numbers:
    placeholder = text.isin(set(holders)).fillna(False).astype(bool)
    bad = text.notna() & ~placeholder & values.isna()
    return Numbers(values.where(~placeholder), bad, placeholder, fmt, booleans)


def _strip(value: str, fmt_currency: str = "") -> tuple[str, str, bool, bool]:
    """(digits and separators, currency symbol, negative, percent) of one value."""
    s = value.strip()
    percent = s.endswith("%")
    s = s.rstrip("%").strip()
    negative = False
    if s.startswith("(") and s.endswith(")"):     # accounting negatives
        negative, s = True, s[1:-1].strip()
    if s.startswith("-") or s.startswith("+"):
        negative, s = negative or s[0] == "-", s[1:].strip()
    currency = ""
    if s[:1] and s[0] in CURRENCY:
        currency, s = s[0], s[1:].strip()
    elif s[-1:] and s[-1] in CURRENCY:
        currency, s = s[-1], s[:-1].strip()
    if s.startswith("-") and not negative:         # '$-12.50'
        negative, s = True, s[1:].strip()
    return s, currency, negative, percent


def decide_number_format(values: pd.Series, file_label: str, column: str, decimal_comma: bool | None = None,
                         known: NumberFormat | None = None) -> NumberFormat:
    """The one format of the distinct non-placeholder values (their majority decides; misfits are 'bad')."""
    stripped = [_strip(v) for v in values.tolist()]
    currencies = {c for _, c, _, _ in stripped if c}
    currency = currencies.pop() if len(currencies) == 1 else ""
    percent = bool(stripped) and all(p for *_, p in stripped)   # every value in percent, or none read so
    bodies = [b for b, *_ in stripped]
    with_comma = [b for b in bodies if "," in b]
    with_dot = [b for b in bodies if "." in b]
    spaced = any(any(ch in b for ch in GROUP_SPACES) for b in bodies)
    grouped = re.compile(r"^\d{1,3}(,\d{3})+$")
    if not with_comma:
        thousands = "." if with_dot and all(re.fullmatch(r"\d{1,3}(\.\d{3}){2,}(,\d+)?", b) for b in with_dot) else ""
        decimal = "," if thousands == "." else "."
    elif any("." in b and "," in b for b in bodies):
        last = {"," if b.rfind(",") > b.rfind(".") else "." for b in bodies if "." in b and "," in b}
        decimal = last.pop() if len(last) == 1 else "."
        thousands = "." if decimal == "," else ","
    elif any(b.count(",") > 1 for b in with_comma) or with_dot:
        decimal, thousands = ".", ","             # '1,234,567', or commas beside '12.5': thousands
    elif all(grouped.fullmatch(b) for b in with_comma):
        comma = decimal_comma if decimal_comma is not None else (known.decimal == "," if known else None)
        if comma is None:
            raise InputError(f"{file_label}: column '{column}' writes numbers like {show_values(with_comma[:3])}, "
                             "where the comma may be a thousands separator or a decimal mark; set "
                             "data.decimal_comma: true (decimal mark) or false (thousands separator).")
        decimal, thousands = (",", "") if comma else (".", ",")
    else:
        decimal, thousands = ",", ""              # '70,35': a decimal comma
    if spaced and not thousands:
        thousands = " "
    return NumberFormat(decimal, thousands, currency, percent)


def _parse_one(value: str, fmt: NumberFormat) -> float:
    body, currency, negative, percent = _strip(value)
    if (currency and currency != fmt.currency) or percent != fmt.percent and percent:
        return np.nan
    if fmt.thousands == " ":
        body = "".join(ch for ch in body if ch not in GROUP_SPACES) if _grouped(body, GROUP_SPACES, fmt.decimal) else body
    elif fmt.thousands:
        if fmt.thousands in body and not _grouped(body, fmt.thousands, fmt.decimal):
            return np.nan
        body = body.replace(fmt.thousands, "")
    if fmt.decimal == ",":
        if "." in body:
            return np.nan
        body = body.replace(",", ".")
    if not _PLAIN_FLOAT.fullmatch(body):
        return np.nan
    number = float(body)
    return -number if negative else number


def _grouped(body: str, separators: str, decimal: str = ".") -> bool:
    """Thousands groups of three digits after the first group: '1,234,567.5' yes, '12,34' no."""
    whole = body.split(decimal)[0] if decimal in body else body
    return bool(re.fullmatch(rf"\d{{1,3}}([{re.escape(separators)}]\d{{3}})*", whole))


def format_from(meta: dict | None) -> NumberFormat | None:
    return None if not meta else NumberFormat(**meta)


# --- dates ---------------------------------------------------------------------------------------------------------



def is_date_dtype(series: pd.Series) -> bool:
    """Parquet dates/timestamps (datetime64, or datetime.date objects)."""
    return pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.infer_dtype(series, skipna=True) == "date"


def days_before(dates: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """Days from each date to the reference time (positive: before it), float64; missing stays missing."""
    return ((as_of - dates) / pd.Timedelta(days=1)).astype("float64")


def parse_dates(series: pd.Series, file_label: str, column: str, dayfirst: bool | None = None,
                known: str | None = None) -> tuple[pd.Series, pd.Series, str] | None:
    """(datetime64 values, implausible mask, format) when the column holds dates: Parquet dates, or text of which
    at least DATE_SHARE of the values are written as dates (ISO 8601, or day-/month-first decided on the whole
    column by pipeline/data/timestamps.py; the rest is an error naming the rows); else None.
    Excel's day zero and earlier are implausible: the caller reads them as missing, warned."""
    if is_date_dtype(series):
        parsed, spec = pd.to_datetime(series, utc=True).dt.tz_localize(None), NATIVE
    else:
        text = series.astype("string").str.strip()
        present = text.notna() & (text != "") & ~is_placeholder(text)
        dateish = present & (text.str.contains(ISO_START, regex=True) | text.str.match(NUMERIC_DATE)).fillna(False)
        if not present.any() or dateish.sum() < DATE_SHARE * present.sum():
            return None
        fmt = TimeFormat(known) if known and known != NATIVE else \
            decide_format(text[dateish], file_label, column, dayfirst)
        parsed, spec = parse_text(text.where(present), fmt)[0], fmt.spec
        if (bad := present & parsed.isna()).any():
            raise InputError(f"{file_label}: column '{column}' holds dates ({fmt.describe()}) but not at "
                             f"{show_rows(rows_of(bad))}: {show_values(series[bad].head(5).tolist())}; write "
                             "every date the same way, or list the column in data.categorical.")
    parsed = parsed.astype("datetime64[ns]")
    return parsed, parsed.notna() & (parsed < EARLIEST), spec


DATE_SHARE = 0.9
