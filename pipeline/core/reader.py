"""The one reader of user tables (CSV or Parquet) for prepare, predict and the app, whole or in chunks.

A file is looked at once (`sniff`): its real format from its first bytes (a CSV named .parquet is said so,
not a pyarrow traceback), the encoding of a CSV (UTF-8 with or without BOM, UTF-16 by its BOM or its NUL
bytes, else Windows-1252 with a warning), Excel's `sep=;` first line, the delimiter (the one of , ; tab |
that splits every sampled line into the same number of fields), and the header (duplicate names refused,
names stripped). Every CSV cell is read as text and only an empty cell is missing: types are decided later
from the whole column's text (pipeline/data/column_types.py), so '007' stays '007' and the values are the
same whatever the chunking. Rows with no value at all (Excel's trailing ',,,,') are dropped and counted;
each frame keeps its rows' positions in the file as its index, so messages name file rows. Every failure is
an InputError naming the file: nothing here raises a traceback.
"""
from __future__ import annotations

import codecs
import csv
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipeline.core.errors import InputError

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")       # in order of preference when several split the sample evenly
SAMPLE_BYTES = 1 << 20                   # enough lines to decide the encoding and the delimiter
SAMPLE_LINES = 200
CSV_BLOCK_BYTES = 1 << 24                # pyarrow's read unit: 16 MiB of text per batch
PARQUET_MAGIC = b"PAR1"
ZIP_MAGIC = b"PK\x03\x04"                # .xlsx (and any zip)
SEP_LINE = re.compile(r"^\s*sep=(.)\s*$")  # Excel's first line naming the delimiter
NESTED = (pa.types.is_list, pa.types.is_large_list, pa.types.is_struct, pa.types.is_map,
          pa.types.is_fixed_size_list, pa.types.is_binary, pa.types.is_large_binary)
Warn = Callable[[str], None]


@dataclass(frozen=True)
class Layout:
    """How to read one file, decided once from its first bytes and lines."""
    path: Path
    role: str
    parquet: bool
    encoding: str = "utf-8"
    delimiter: str = ","
    skip: int = 0                        # lines before the header (Excel's sep= line)
    columns: tuple[str, ...] = ()


def sniff(path: str | Path, role: str, warn: Warn | None = None) -> Layout:
    """The file's layout; one-line InputError for a missing, empty, misnamed or undecodable file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {role} file not found.")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"{path}: {role} file must be .csv or .parquet, got '{suffix or 'no suffix'}'.")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: {role} file is empty.")
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    is_parquet = head.startswith(PARQUET_MAGIC)
    if head.startswith(ZIP_MAGIC):
        raise InputError(f"{path}: {role} file is a zip archive (an Excel workbook?), not {suffix}; "
                         "save the sheet as CSV (UTF-8).")
    if suffix == ".csv" and is_parquet:
        raise InputError(f"{path}: {role} file is a Parquet file named .csv; rename it to .parquet.")
    if suffix != ".csv" and not is_parquet:
        raise InputError(f"{path}: {role} file is named {suffix} but is not Parquet (it looks like "
                         f"{'text' if _texty(head) else 'another binary format'}); a CSV file must end in .csv.")
    if is_parquet:
        return Layout(path, role, True, columns=_parquet_columns(path, role))
    return _csv_layout(path, role, head, warn or log.warning)


def _texty(head: bytes) -> bool:
    return bool(head) and sum(32 <= b < 127 or b in (9, 10, 13) for b in head[:4096]) > 0.9 * len(head[:4096])


def _parquet_columns(path: Path, role: str) -> tuple[str, ...]:
    try:
        schema = pq.ParquetFile(path).schema_arrow
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"{path}: cannot read {role} file as Parquet: {_first_line(err)}") from err
    names = [str(n) for n in schema.names]
    _check_header(names, path, role)
    if nested := [f"'{f.name}' ({f.type})" for f in schema if any(test(f.type) for test in NESTED)]:
        raise InputError(f"{path}: {role} column(s) {', '.join(nested[:5])} hold lists, structs or bytes, not one "
                         "value per cell; flatten them into plain columns.")
    return tuple(names)


def _encoding(head: bytes, path: Path, role: str, warn: Warn) -> str:
    """UTF-8 (BOM or not), UTF-16 (BOM, or NUL bytes between ASCII), else Windows-1252 with a warning."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head[:4096]:
        even_nuls = head[:4096:2].count(0)
        return "utf-16-be" if even_nuls > head[1:4096:2].count(0) else "utf-16-le"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as err:
        if len(head) == SAMPLE_BYTES and err.start >= len(head) - 4:   # a character cut by the sample's end
            return "utf-8"
    try:
        head.decode("cp1252")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: {role} file is neither UTF-8, UTF-16 nor Windows-1252 text (byte "
                         f"{head[err.start]:#04x} at offset {err.start}); save it as CSV UTF-8.") from None
    warn(f"{path}: {role} file is not UTF-8: read as Windows-1252 (cp1252); save it as CSV UTF-8 to be sure "
         "accented text is read as written.")
    return "cp1252"


def _lines(head: bytes, encoding: str) -> list[str]:
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)
    lines = text.splitlines()
    return lines[:-1] if len(lines) > 1 and not text.endswith(("\n", "\r")) else lines   # last may be cut


def _csv_layout(path: Path, role: str, head: bytes, warn: Warn) -> Layout:
    encoding = _encoding(head, path, role, warn)
    lines = _lines(head, encoding)
    skip, forced = 0, None
    if lines and (match := SEP_LINE.match(lines[0].lstrip("\ufeff"))):
        skip, forced = 1, match.group(1)
    sample = [line for line in lines[skip:skip + SAMPLE_LINES] if line.strip()]
    if not sample:
        raise InputError(f"{path}: {role} file has no header line.")
    delimiter = forced or _delimiter(sample, path, role)
    header = next(csv.reader([sample[0]], delimiter=delimiter))
    names = [h.strip().lstrip("\ufeff") for h in header]
    _check_header(names, path, role)
    return Layout(path, role, False, encoding, delimiter, skip, tuple(names))


def _delimiter(sample: list[str], path: Path, role: str) -> str:
    """The delimiter that splits every sampled line into the same number (> 1) of fields."""
    fields = {d: [len(row) for row in csv.reader(sample, delimiter=d)] for d in DELIMITERS}
    even = [d for d in DELIMITERS if fields[d][0] > 1 and all(n == fields[d][0] for n in fields[d])]
    if even:
        return even[0]
    ragged = [d for d in DELIMITERS if fields[d][0] > 1]
    if not ragged:
        return ","     # one column: no delimiter in the header at all
    best = max(ragged, key=lambda d: sum(n == fields[d][0] for n in fields[d]))
    line = next(i for i, n in enumerate(fields[best]) if n != fields[best][0])
    raise InputError(f"{path}: {role} file looks {_name(best)}-delimited ({fields[best][0]} columns in the header) "
                     f"but line {line + 1} of the sample has {fields[best][line]} fields; fix that line or quote "
                     "values that contain the delimiter.")


def _name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[delimiter]


def _check_header(names: list[str], path: Path, role: str) -> None:
    """Duplicate names would be renamed x, x.1 by pandas: a copied target would become a perfect 'feature'."""
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    if dup := [f"'{n}' (x{k})" for n, k in seen.items() if k > 1 and n]:
        raise InputError(f"{path}: {role} file has duplicate column names {', '.join(dup[:5])}; every column "
                         "needs its own name (a copied column, e.g. the target twice, would leak).")


def read_table(path: str | Path, role: str, string_columns: tuple[str, ...] = (), warn: Warn | None = None,
               allow_empty: bool = False) -> pd.DataFrame:
    """The whole file. CSV cells are text (an empty cell is missing); Parquet keeps its types except
    `string_columns` (ids), which become text. A header with no rows is an error unless `allow_empty`."""
    layout = sniff(path, role, warn)
    frames = list(_chunks(layout, None, string_columns, warn or log.warning))
    frame = frames[0] if len(frames) == 1 else pd.concat(frames)
    if frame.empty and not allow_empty:
        raise InputError(f"{layout.path}: {role} file has a header but no rows.")
    return frame


def iter_table(path: str | Path, role: str, rows: int, string_columns: tuple[str, ...] = (),
               warn: Warn | None = None, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """The file `rows` rows at a time (fewer where empty rows were dropped), typed as read_table types the whole."""
    layout = sniff(path, role, warn)
    yield from _chunks(layout, rows, string_columns, warn or log.warning, columns)


def read_columns(path: str | Path, role: str, columns: list[str], string_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Only `columns` of the whole file (e.g. an id column), typed as read_table types them."""
    layout = sniff(path, role)
    if missing := [c for c in columns if c not in layout.columns]:
        raise InputError(f"{layout.path}: {role} column(s) {missing} not found; columns are {list(layout.columns)[:15]}.")
    frames = list(_chunks(layout, None, string_columns, log.warning, columns))
    return frames[0] if len(frames) == 1 else pd.concat(frames)


def header(path: str | Path, role: str) -> list[str]:
    """The column names, read without the rows."""
    return list(sniff(path, role).columns)


def _chunks(layout: Layout, rows: int | None, string_columns: tuple[str, ...], warn: Warn,
            columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    reader = _parquet_chunks if layout.parquet else _csv_chunks
    dropped, first = 0, None
    try:
        for frame in reader(layout, rows, string_columns, columns):
            empty = frame.isna().all(axis=1) if len(frame.columns) else pd.Series(False, index=frame.index)
            if n := int(empty.sum()):
                dropped += n
                first = first if first is not None else int(frame.index[empty.to_numpy()][0]) + 1
                frame = frame[~empty.to_numpy()]
                if rows is not None and frame.empty:
                    continue   # a chunk of nothing but empty rows
            yield frame
    except InputError:
        raise
    except (UnicodeError, pd.errors.ParserError, pd.errors.EmptyDataError, pa.ArrowException, OSError,
            ValueError, csv.Error) as err:
        raise InputError(f"{layout.path}: cannot read {layout.role} file: {_first_line(err)}") from err
    if dropped:
        warn(f"{layout.path}: {dropped:,} empty row(s) (no value in any column, e.g. Excel's trailing ',,,,') "
             f"dropped, the first at row {first}.")


def _csv_chunks(layout: Layout, rows: int | None, string_columns: tuple[str, ...],
                columns: list[str] | None) -> Iterator[pd.DataFrame]:
    """Every cell as text; only an empty cell is missing ('NA' may be Namibia, '?' is decided per column).
    pyarrow's streaming CSV reader (4x pandas' text parsing), re-cut into frames of `rows` rows."""
    names = list(layout.columns)
    reader = pacsv.open_csv(
        layout.path,
        read_options=pacsv.ReadOptions(skip_rows=layout.skip + 1, column_names=names, encoding=layout.encoding,
                                       block_size=CSV_BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(delimiter=layout.delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, null_values=[""],
                                             strings_can_be_null=True, quoted_strings_can_be_null=True,
                                             include_columns=columns))
    start, pending = 0, []
    for batch in reader:
        pending.append(batch)
        while rows is not None and sum(b.num_rows for b in pending) >= rows:
            table = pa.Table.from_batches(pending)
            pending = [b for b in table.slice(rows).to_batches() if b.num_rows]
            yield _frame(table.slice(0, rows), start, layout, string_columns)
            start += rows
    if pending or start == 0:
        table = pa.Table.from_batches(pending, schema=reader.schema)
        yield _frame(table, start, layout, string_columns)


def _frame(table: pa.Table, start: int, layout: Layout, string_columns: tuple[str, ...]) -> pd.DataFrame:
    frame = table.to_pandas().set_axis(pd.RangeIndex(start, start + table.num_rows))   # file rows
    return _ids_as_objects(_empty_names(frame, layout), string_columns)


def _ids_as_objects(frame: pd.DataFrame, string_columns: tuple[str, ...]) -> pd.DataFrame:
    """Ids as Python strings with None for missing, however the file stored them (one form for every format)."""
    for name in string_columns:
        if name in frame.columns:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def _empty_names(frame: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """A column with no name (a trailing delimiter) is dropped when empty; one holding values is an error."""
    for i, name in enumerate(frame.columns):
        if name != "":
            continue
        if frame.iloc[:, i].notna().any():
            first = int(frame.index[frame.iloc[:, i].notna().to_numpy()][0]) + 1
            raise InputError(f"{layout.path}: {layout.role} file's column {i + 1} has no name in the header but "
                             f"holds values (first at row {first}); give it a name.")
    return frame.loc[:, [n != "" for n in frame.columns]] if "" in frame.columns else frame


def _parquet_chunks(layout: Layout, rows: int | None, string_columns: tuple[str, ...],
                    columns: list[str] | None) -> Iterator[pd.DataFrame]:
    parquet = pq.ParquetFile(layout.path)
    start = 0
    for batch in parquet.iter_batches(batch_size=rows or 1 << 20, columns=columns):
        for name in string_columns:   # ids are compared as text, whatever the file stored (7, not 7.0)
            if name in batch.schema.names:
                i = batch.schema.get_field_index(name)
                batch = batch.set_column(i, name, batch.column(i).cast(pa.string()))
        frame = _ids_as_objects(batch.to_pandas().set_axis(pd.RangeIndex(start, start + batch.num_rows)),
                                string_columns)
        start += batch.num_rows
        yield frame
    if start == 0:
        yield parquet.schema_arrow.empty_table().to_pandas() if columns is None \
            else parquet.schema_arrow.empty_table().select(columns).to_pandas()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
