"""Chunked scoring reads a file exactly as the whole file is read: codes keep their zeros in every chunk."""
from __future__ import annotations

import pandas as pd

from pipeline.core.reader import read_table
from pipeline.serving.chunks import iter_customers, read_part


def test_a_chunk_of_digit_only_codes_keeps_its_zeros(tmp_path):
    # the first chunk holds only '007'-style codes, the second a letter: pandas' per-chunk inference read 7 there
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,branch,fee\n001,007,1.5\n002,012,2.5\n003,A10,3.5\n004,009,4.5\n")
    whole = read_table(path, "customers", ("customer_id",))
    chunks = list(iter_customers(path, "customer_id", 2))
    assert [c["branch"].tolist() for c in chunks] == [["007", "012"], ["A10", "009"]]
    pd.testing.assert_frame_equal(pd.concat(chunks), whole)
    parquet = tmp_path / "customers.parquet"
    whole.to_parquet(parquet)
    pd.testing.assert_frame_equal(pd.concat(list(iter_customers(parquet, "customer_id", 2))), whole)


def test_an_event_part_is_read_as_text_like_the_whole_log(tmp_path):
    part = tmp_path / "events_00000.csv"
    part.write_text("customer_id,timestamp,event_type\n001,2025-01-01,007\n")
    assert read_part(part, "customer_id")["event_type"].tolist() == ["007"]
    empty = tmp_path / "events_00001.csv"
    empty.write_text("customer_id,timestamp,event_type\n")
    assert read_part(empty, "customer_id").empty
