"""Reading user tables and atomic writes."""
import pandas as pd
import pytest

from pipeline.core.errors import InputError
from pipeline.core.io import atomic_dir, read_table, write_json, write_parquet


def test_ids_are_read_as_text(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,x\n00042,1\n7,2\n")
    frame = read_table(path, "customers", string_columns=("customer_id",))
    assert list(frame["customer_id"]) == ["00042", "7"]


def test_parquet_integer_ids_become_text(tmp_path):
    path = tmp_path / "c.parquet"
    pd.DataFrame({"customer_id": [1, 2], "x": [0.5, 1.5]}).to_parquet(path)
    frame = read_table(path, "customers", string_columns=("customer_id",))
    assert list(frame["customer_id"]) == ["1", "2"]


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("missing.csv", None, "customers file not found"),
        ("empty.csv", "", "customers file is empty"),
        ("header.csv", "customer_id,x\n", "header but no rows"),
        ("table.xlsx", "x", "must be .csv or .parquet"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=match) as info:
        read_table(path, "customers")
    assert name in str(info.value)


def test_atomic_dir_leaves_old_output_when_block_fails(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        write_json({"v": 1}, tmp / "a.json")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            write_json({"v": 2}, tmp / "a.json")
            raise RuntimeError("boom")
    assert (out / "a.json").read_text().strip().endswith("}")
    assert '"v": 1' in (out / "a.json").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp debris


def test_atomic_file_write_failure_keeps_previous(tmp_path):
    path = tmp_path / "t.parquet"
    write_parquet(pd.DataFrame({"a": [1]}), path)
    with pytest.raises(Exception):
        write_parquet(pd.DataFrame({"a": [object()]}), path)  # pyarrow cannot write this
    assert pd.read_parquet(path)["a"].tolist() == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]
