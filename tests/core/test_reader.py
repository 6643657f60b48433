"""The one reader: files shaped like real CRM and warehouse exports, written by hand."""
from __future__ import annotations

import codecs

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.core.errors import InputError
from pipeline.core.reader import iter_table, read_table


def write(tmp_path, name: str, text: str, encoding: str = "utf-8", bom: bytes = b"") -> str:
    path = tmp_path / name
    path.write_bytes(bom + text.encode(encoding))
    return str(path)


def test_a_duplicated_target_header_is_refused_naming_it(tmp_path):
    # pandas renames the copy churn.1, a perfect 'feature': the model would be a leak
    path = write(tmp_path, "customers.csv", "customer_id,churn,age,churn\n1,0,30,0\n2,1,40,1\n")
    with pytest.raises(InputError, match=r"customers\.csv: .*duplicate column names 'churn' \(x2\)"):
        read_table(path, "customers")


@pytest.mark.parametrize("text", [
    "customer_id;amount;plan\n1;70,35;gold\n2;12,50;basic\n",          # Excel in a decimal-comma locale
    "sep=;\ncustomer_id;amount;plan\n1;70,35;gold\n2;12,50;basic\n",   # ... with its sep= first line
    "customer_id\tamount\tplan\n1\t70,35\tgold\n2\t12,50\tbasic\n",
])
def test_delimiter_and_excel_sep_line(tmp_path, text):
    frame = read_table(write(tmp_path, "c.csv", text), "customers")
    assert list(frame.columns) == ["customer_id", "amount", "plan"]
    assert frame["amount"].tolist() == ["70,35", "12,50"] and frame["plan"].tolist() == ["gold", "basic"]


def test_a_ragged_file_names_the_delimiter_and_the_line(tmp_path):
    path = write(tmp_path, "c.csv", "customer_id;amount;plan\n1;70;gold\n2;12;basic;extra;more\n3;1;x\n")
    with pytest.raises(InputError, match=r"semicolon-delimited .* line 3 of the sample has 5 fields"):
        read_table(path, "customers")


def test_excel_trailing_empty_rows_are_dropped_and_counted(tmp_path):
    warned = []
    path = write(tmp_path, "c.csv", "customer_id,churn,age\r\n1,0,30\r\n2,1,40\r\n,,\r\n,,\r\n,,\r\n")
    frame = read_table(path, "customers", warn=warned.append)
    assert frame["customer_id"].tolist() == ["1", "2"]
    assert len(warned) == 1 and "3 empty row(s)" in warned[0] and "row 3" in warned[0]


def test_a_trailing_unnamed_empty_column_is_dropped_and_a_filled_one_refused(tmp_path):
    frame = read_table(write(tmp_path, "a.csv", "customer_id,age,\n1,30,\n2,40,\n"), "customers")
    assert list(frame.columns) == ["customer_id", "age"]
    with pytest.raises(InputError, match=r"b\.csv: customers file's column 3 has no name .*first at row 2"):
        read_table(write(tmp_path, "b.csv", "customer_id,age,\n1,30,\n2,40,x\n"), "customers")


@pytest.mark.parametrize("encoding, bom", [("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
                                           ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-16-le", b""), ("cp1252", b"")])
def test_encodings_are_decoded(tmp_path, encoding, bom):
    warned = []
    path = write(tmp_path, "c.csv", "customer_id,city\n1,Zoë's Köln\n2,São Paulo\n", encoding, bom)
    frame = read_table(path, "customers", warn=warned.append)
    assert list(frame.columns) == ["customer_id", "city"]    # no BOM glued to the first name
    assert frame["city"].tolist() == ["Zoë's Köln", "São Paulo"]
    assert bool(warned) == (encoding == "cp1252")


def test_undecodable_bytes_are_one_line(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"customer_id,city\n1,\x81\x8d\x8f\x90\x9d\n")   # not UTF-8, not Windows-1252
    with pytest.raises(InputError, match=r"c\.csv: customers file is neither UTF-8, UTF-16 nor Windows-1252"):
        read_table(path, "customers")


def test_a_file_named_for_the_other_format_is_said_so(tmp_path):
    csv_named_parquet = write(tmp_path, "new.parquet", "customer_id,age\n1,30\n")
    with pytest.raises(InputError, match=r"new\.parquet: customers file is named \.parquet but is not Parquet"):
        read_table(csv_named_parquet, "customers")
    parquet_named_csv = tmp_path / "new.csv"
    pd.DataFrame({"customer_id": ["1"]}).to_parquet(parquet_named_csv)
    with pytest.raises(InputError, match=r"new\.csv: customers file is a Parquet file named \.csv"):
        read_table(parquet_named_csv, "customers")


def test_a_parquet_column_of_lists_is_one_line(tmp_path):
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"customer_id": ["1", "2"], "tags": [["a"], ["b", "c"]]}), path)
    with pytest.raises(InputError, match=r"c\.parquet: customers column\(s\) 'tags' \(list"):
        read_table(path, "customers")


def test_codes_keep_their_zeros_whatever_the_chunking_and_format(tmp_path):
    text = "customer_id,code,amount\n" + "".join(f"{i},{i:03d},{i}.5\n" for i in range(1, 8)) + "8,A10,8.5\n"
    path = write(tmp_path, "c.csv", text)
    whole = read_table(path, "customers", ("customer_id",))
    chunks = pd.concat(list(iter_table(path, "customers", 3, ("customer_id",))))
    pd.testing.assert_frame_equal(whole, chunks)
    assert whole["code"].tolist()[:2] == ["001", "002"]         # no chunk reads them as the numbers 1, 2
    assert list(whole.index) == list(range(8))                  # rows keep their file positions
    parquet = tmp_path / "c.parquet"
    whole.to_parquet(parquet)
    pd.testing.assert_frame_equal(read_table(parquet, "customers", ("customer_id",)), whole)


def test_parquet_integer_ids_with_gaps_are_text_without_decimals(tmp_path):
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"customer_id": pa.array([7, None, 9], pa.int64()), "x": [1.0, 2.0, 3.0]}), path)
    assert read_table(path, "customers", ("customer_id",))["customer_id"].tolist() == ["7", None, "9"]


def test_missing_is_an_empty_cell_only(tmp_path):
    # 'NA' may be Namibia; placeholders such as '?' are decided per column by the typing rules
    frame = read_table(write(tmp_path, "c.csv", "customer_id,country\n1,NA\n2,\n3,DE\n"), "customers")
    assert frame["country"].tolist()[0] == "NA" and pd.isna(frame["country"].tolist()[1])
