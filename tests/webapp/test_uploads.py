"""The upload caps, judged before an upload is parsed: CSV records streamed, Parquet rows and size from its footer."""
from __future__ import annotations

import pandas as pd
import pytest

from pipeline.core.errors import InputError
from pipeline.webapp import uploads
from pipeline.webapp.uploads import Caps, Upload, check_caps, csv_rows, save


def test_csv_records_are_counted_not_lines(tmp_path):
    """A quoted field over two lines is one record; blank lines and Excel's trailing ',,,' rows are no rows."""
    path = tmp_path / "c.csv"
    path.write_text('customer_id,note\n1,"two\nlines"\n\n2,x\n,,\n,\n', encoding="utf-8")
    assert csv_rows(path, 100) == 2
    path.write_text("customer_id,note\n1,a\n2,b\n3,c\n", encoding="utf-16")
    assert csv_rows(path, 100) == 3
    assert csv_rows(path, 1) == 2   # stops once past the cap


def test_a_parquet_that_decompresses_past_the_cap_is_refused_from_its_footer(tmp_path, monkeypatch):
    path = tmp_path / "wide.parquet"
    pd.DataFrame({"customer_id": ["1", "2"], "blob": ["x" * 50_000, "y" * 50_000]}).to_parquet(path)
    monkeypatch.setattr(uploads, "MAX_PARQUET_DATA_MB", 0.05)
    with pytest.raises(InputError, match=r"^wide.parquet: .* once decompressed .*python -m pipeline.predict"):
        check_caps(path, "wide.parquet", Caps(max_rows=10, max_bytes=2**30))


def test_an_upload_over_the_byte_cap_is_refused_before_it_is_written(tmp_path):
    with pytest.raises(InputError, match=r"^big.csv: 2.0 KB; the app scores files of up to 10 rows and 1.0 KB"):
        save(Upload("big.csv", b"x" * 2048), tmp_path / "customers", Caps(max_rows=10, max_bytes=1024))
    assert not (tmp_path / "customers").exists()
