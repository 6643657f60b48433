"""Bucket tokens in numeric exports ('5+', '<1', '10-20'): ordered categoricals, errors kept, meta and new data."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import InputError
from pipeline.core.io import read_json
from pipeline.core.params import DataParams, load_params
from pipeline.core.schema import ID
from pipeline.data.buckets import BUCKET_MAX_LEVELS, bucket_column, bucket_key, order_levels
from pipeline.data.contract import validate_tables
from pipeline.data.preparation import prepare
from pipeline.data.prepared import write_prepared
from pipeline.data.validate_customers import Report, validate_customers

P = DataParams(source="files")
CUST = "customers.csv"
CAPPED = [5, 17, 30]                 # 0-based rows holding '5+': 3 of 40, under the 10 % that makes text categorical
HOUSEHOLD_LEVELS = ["1", "2", "3", "4", "5+"]
HOUSEHOLD_WARNING = ("customers.csv: column 'household_size' holds bucket tokens ['5+'] among numbers: read as an "
                     "ordered categorical with levels ['1', '2', '3', '4', '5+']; list it in data.numeric to make "
                     "this an error, or clean the export.")


def with_column(frame: pd.DataFrame, name: str, values: list) -> pd.DataFrame:
    return frame.assign(**{name: pd.Series(values, index=frame.index, dtype=object)})


def households(n: int = 40) -> list:
    """Household sizes 1-4 with '5+' at CAPPED, as a CRM export writes a capped count."""
    values: list = [1 + i % 4 for i in range(n)]
    for row in CAPPED:
        values[row] = "5+"
    return values


def validate(frame: pd.DataFrame, p: DataParams = P):
    report = Report()
    return validate_customers(frame, p, CUST, report=report), report


def test_capped_household_size_is_an_ordered_categorical(customers_frame):
    clean, report = validate(with_column(customers_frame, "household_size", households()))
    assert clean.categorical == ["plan", "household_size"] and "household_size" not in clean.numeric
    assert clean.ordered_levels == {"household_size": HOUSEHOLD_LEVELS}
    assert report.warnings == [HOUSEHOLD_WARNING]
    column = clean.frame["household_size"]
    assert column.dtype == object and column.tolist()[:6] == ["1", "2", "3", "4", "1", "5+"]


def test_common_tokens_are_ordered_too(customers_frame):
    """With '5+' in a third of the rows the column was already text; it now also gets its order."""
    values = ["5+" if i % 3 == 0 else 1 + i % 4 for i in range(40)]
    clean, report = validate(with_column(customers_frame, "household_size", values))
    assert clean.ordered_levels == {"household_size": HOUSEHOLD_LEVELS} and len(report.warnings) == 1


def test_missing_values_stay_none(customers_frame):
    values = households()
    values[2] = None
    values[9] = np.nan
    clean, _ = validate(with_column(customers_frame, "household_size", values))
    assert clean.frame["household_size"].iloc[[2, 9]].tolist() == [None, None]
    assert clean.ordered_levels["household_size"] == HOUSEHOLD_LEVELS


@pytest.mark.parametrize("levels, ordered", [
    (["5+", "2", "<1", "1", "3"], ["<1", "1", "2", "3", "5+"]),
    (["20+", "10-20", "1-2", "5", "<= 1", "2-5"], ["<= 1", "1-2", "2-5", "5", "10-20", "20+"]),
    ([">10", "10", "10+", "<10", "<=10", "10-12", ">= 10"], ["<10", "<=10", "10", "10-12", "10+", ">= 10", ">10"]),
    (["0", "<1", "1"], ["0", "<1", "1"]),                 # '<1' sits just below 1, after 0
    (["0.5", "<0.5", "1.5 - 3", "12", "3 +"], ["<0.5", "0.5", "1.5 - 3", "3 +", "12"]),
])
def test_levels_ordered_by_numeric_meaning(levels, ordered):
    assert order_levels(levels) == ordered


@pytest.mark.parametrize("text", ["abc", "2020-01", "5-3", "inf", "nan", "5++", "1-2-3", "+", "<", "1,5", "~5"])
def test_other_text_is_no_bucket_token(text):
    assert bucket_key(text) is None


def test_ranges_and_below_tokens_in_a_column(customers_frame):
    values = ["<1" if i % 9 == 0 else ("10-20" if i % 7 == 0 else 1 + i % 5) for i in range(40)]
    clean, report = validate(with_column(customers_frame, "tenure_years", values))
    assert clean.ordered_levels == {"tenure_years": ["<1", "1", "2", "3", "4", "5", "10-20"]}
    assert "bucket tokens ['<1', '10-20'] among numbers" in report.warnings[0]


def test_declared_numeric_column_still_errors(customers_frame):
    frame = with_column(customers_frame, "household_size", households())
    with pytest.raises(InputError, match=r"customers.csv: column 'household_size' is numeric but has non-numeric "
                                         r"text at rows \[6, 18, 31\]: \['5\+'\].*take it out of data.numeric"):
        validate(frame, dataclasses.replace(P, numeric=["household_size"]))


def test_declared_categorical_column_is_not_ordered(customers_frame):
    frame = with_column(customers_frame, "household_size", households())
    clean, report = validate(frame, dataclasses.replace(P, categorical=["household_size"]))
    assert "household_size" in clean.categorical and clean.ordered_levels == {} and report.warnings == []


@pytest.mark.parametrize("stray", ["abc", "5+"])
def test_stray_text_in_a_many_valued_column_still_errors(customers_frame, stray):
    amounts = np.random.default_rng(3).gamma(2.0, 20.0, 40).round(2).tolist()
    frame = with_column(customers_frame, "amount", amounts)
    for row in (3, 9):
        frame.loc[row, "amount"] = stray
    assert frame["amount"].nunique() > BUCKET_MAX_LEVELS
    with pytest.raises(InputError, match=rf"customers.csv: column 'amount' is numeric but has non-numeric text at "
                                         rf"rows \[4, 10\]: \['{stray.replace('+', '[+]')}'\]"):
        validate(frame)


def test_stray_text_beside_bucket_tokens_still_errors(customers_frame):
    values = households()
    values[11] = "abc"
    with pytest.raises(InputError, match=r"column 'household_size' is numeric but has non-numeric text at "
                                         r"rows \[6, 12, 18, 31\]: \['5\+', 'abc'\]"):
        validate(with_column(customers_frame, "household_size", values))


def test_band_column_of_tokens_only_is_left_as_text():
    """No plain numbers: not 'buckets among numbers'; the text rules (a plain categorical) apply."""
    assert bucket_column(pd.Series(["18-25", "26-35", "36+", None], dtype=object)) is None
    assert bucket_column(pd.Series(["1", "2", None], dtype=object)) is None


@pytest.fixture
def bucket_params(customers_frame, write_table, write_params):
    """A params file whose customers CSV has the capped household-size column."""
    def make(frame: pd.DataFrame | None = None, name: str = "params.yaml"):
        frame = with_column(customers_frame, "household_size", households()) if frame is None else frame
        path = write_table(frame, f"{name}.customers.csv")
        return load_params(write_params(name, seed=42, data={"source": "files", "customers": str(path), "events": None}))
    return make


def test_prepare_writes_ordered_levels_to_meta(bucket_params, tmp_path):
    data = prepare(bucket_params())
    write_prepared(data, tmp_path / "prepared")
    meta = read_json(tmp_path / "prepared" / "meta.json")
    assert meta["ordered_levels"] == {"household_size": HOUSEHOLD_LEVELS}
    assert meta["categorical"] == ["plan", "household_size"] and "household_size" not in meta["numeric"]
    assert any("holds bucket tokens ['5+']" in w for w in meta["warnings"])
    train = pd.read_parquet(tmp_path / "prepared" / "train.parquet")
    assert set(train["household_size"].dropna()) <= set(HOUSEHOLD_LEVELS)


def test_prepare_without_buckets_writes_no_ordered_levels(bucket_params, customers_frame):
    assert "ordered_levels" not in prepare(bucket_params(customers_frame)).meta


@pytest.mark.parametrize("new_values", [["5+", 2, 3, 4, 1, 1, 2, 3, 4, 2, 3, 1], list(range(1, 5)) * 3])
def test_new_data_accepts_the_bucket_column(bucket_params, customers_frame, new_values):
    """Scoring passes meta as `features`: the bucket column is categorical, with or without tokens in the batch."""
    params = bucket_params()
    meta = prepare(params).meta
    new = with_column(customers_frame.drop(columns="churn").head(12), "household_size", new_values)
    clean, _, report = validate_tables(new, None, params.data, {"customers": "new.csv"}, require_target=False,
                                       features=meta)
    assert list(clean.frame.columns) == [ID, "age", "tenure_months", "plan", "household_size"]
    assert clean.frame["household_size"].tolist() == [str(v) for v in new_values] and report.warnings == []
