"""The input contract (DESIGN.md section 2) at the function level: every error, every warned case, type rules."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import InputError
from pipeline.core.io import read_table
from pipeline.core.params import DataParams, SplitParams
from pipeline.core.schema import EVENT_TYPE, ID, SPLIT, TARGET, TIMESTAMP
from pipeline.data.split import pop_split_column, train_test_split_ids
from pipeline.data.validate_customers import Report, clean_ids, label_key, to_text, validate_customers
from pipeline.data.validate_events import apply_cutoff, parse_cutoff, parse_timestamps, validate_events

P = DataParams(source="files")
CUST, EV = "customers.csv", "events.csv"


def data(**changes) -> DataParams:
    return dataclasses.replace(P, **changes)


def customers(frame: pd.DataFrame, p: DataParams = P, **kwargs):
    return validate_customers(frame, p, CUST, **kwargs)


def events(frame: pd.DataFrame, ids: pd.Series, p: DataParams = P, report: Report | None = None):
    return validate_events(frame, p, EV, ids, customers_label=CUST, report=report)


def edit(frame: pd.DataFrame, column: str, rows: list[int], value) -> pd.DataFrame:
    """Copy of `frame` with `value` at 0-based `rows` of `column` (as object, so any value fits)."""
    out = frame.copy()
    out[column] = out[column].astype(object)
    for row in rows:
        out.loc[row, column] = value
    return out


# --- customers: errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("change, match", [
    (lambda f: f.drop(columns="customer_id"), r"customers.csv: id column 'customer_id' not found .*columns are"),
    (lambda f: f.drop(columns="churn"), r"customers.csv: target column 'churn' not found"),
    (lambda f: edit(f, "customer_id", [2], None), r"column 'customer_id' has missing/blank ids at rows \[3\]"),
    (lambda f: edit(f, "customer_id", [6], "  "), r"missing/blank ids at rows \[7\]"),
    (lambda f: edit(f, "customer_id", [4], "00002"), r"duplicate customer ids \['00002'\] at rows \[2, 5\]"),
    (lambda f: edit(f, "churn", [3, 9], np.nan), r"target column 'churn' has missing values at rows \[4, 10\]"),
    (lambda f: f.assign(churn=0), r"target column 'churn' has only one class \['0 \(x40\)'\]; a binary target needs two"),
    (lambda f: edit(f, "churn", [5], 2), r"target column 'churn' has 3 distinct values .*least common at rows \[6\]"),
    (lambda f: edit(f, "age", [2], "abc"), r"column 'age' is numeric but has non-numeric text at rows \[3\]: \['abc'\]"),
    (lambda f: edit(f, "age", [0, 4], "12,5"), r"column 'age' is numeric .* rows \[1, 5\]: \['12,5'\]"),
    (lambda f: edit(f, "age", [7], np.inf), r"column 'age' has infinite values at rows \[8\]"),
    (lambda f: edit(f, "tenure_months", [1], -np.inf), r"column 'tenure_months' has infinite values at rows \[2\]"),
    (lambda f: f.assign(target=1.0), r"feature column\(s\) \['target'\] clash with reserved names"),
    (lambda f: f.assign(split="x"), r"\['split'\] clash with reserved names"),
])
def test_customer_errors(customers_frame, change, match):
    with pytest.raises(InputError, match=match):
        customers(change(customers_frame))


def test_reserved_id_name_after_renaming(customers_frame):
    frame = customers_frame.rename(columns={"customer_id": "cid"}).assign(customer_id="x")
    with pytest.raises(InputError, match=r"\['customer_id'\] clash with reserved names"):
        customers(frame, data(id_column="cid"))


@pytest.mark.parametrize("changes, match", [
    ({"numeric": ["nope"]}, r"params: data.numeric lists column\(s\) \['nope'\] not found in customers.csv"),
    ({"categorical": ["gone"]}, r"params: data.categorical lists column\(s\) \['gone'\]"),
    ({"numeric": ["plan"]}, r"column 'plan' is numeric but has non-numeric text at rows \[1, 3, 4, 5, 6\] \(\+31 more\): \['plus', 'pro', 'basic'\].*take it out of data.numeric"),
    ({"numeric": ["age"], "categorical": ["age"]}, r"\['age'\] are in both data.numeric and data.categorical"),
    ({"positive_label": "yes"}, r"data.positive_label 'yes' does not occur; the values are \[0, 1\]"),
])
def test_params_mismatches(customers_frame, changes, match):
    with pytest.raises(InputError, match=match):
        customers(customers_frame, data(**changes))


def test_inf_text_in_csv_is_an_error(customers_frame, write_table):
    path = write_table(edit(customers_frame, "age", [3], "inf"), CUST)
    with pytest.raises(InputError, match=r"column 'age' has infinite values at rows \[4\]"):
        customers(read_table(path, "customers", ("customer_id",)))


# --- customers: target, types, warned drops -------------------------------------------------------

@pytest.mark.parametrize("values, positive, expected", [
    ([0, 1, 1, 0], 1, [0, 1, 1, 0]),
    (["0", "1", "1", "0"], 1, [0, 1, 1, 0]),          # labels read as text vs a numeric param
    ([0.0, 1.0, 1.0, 0.0], "1", [0, 1, 1, 0]),
    ([True, False, True, False], 1, [1, 0, 1, 0]),
    (["Yes", "No", "No", "Yes"], "yes", [1, 0, 0, 1]),
    (["stay", "left", "left", "stay"], "stay", [1, 0, 0, 1]),   # positive may be either label
])
def test_positive_label_comparison(values, positive, expected):
    frame = pd.DataFrame({"customer_id": list("abcd"), "churn": values})
    out = customers(frame, data(positive_label=positive)).frame
    assert out[TARGET].dtype == np.int8 and out[TARGET].tolist() == expected
    assert label_key(1) == label_key("1.0") == label_key(True) == "1"


def test_types_inferred_forced_and_ignored(customers_frame):
    frame = customers_frame.assign(vip=[i % 2 == 0 for i in range(40)], zone=[str(i % 3) for i in range(40)],
                                   code=range(40), note="x")
    out = customers(frame, data(categorical=["code"], numeric=["zone"], ignore=["note"]))
    assert out.numeric == ["age", "tenure_months", "vip", "zone"] and out.categorical == ["plan", "code"]
    assert list(out.frame.columns) == [ID, TARGET, "age", "tenure_months", "plan", "vip", "zone", "code"]
    f = out.frame
    assert f["vip"].tolist()[:2] == [1.0, 0.0] and f["age"].dtype == "float64"
    assert f["code"].tolist()[:3] == ["0", "1", "2"] and f["plan"].dtype == object
    assert f["plan"].isna().sum() == 4 and all(v is None or isinstance(v, str) for v in f["plan"])
    assert f[ID].tolist()[:2] == ["00001", "00002"]


def test_blank_numeric_cells_and_text_categoricals_from_csv(customers_frame, write_table):
    path = write_table(customers_frame.assign(city=["Oslo", "", "Rome", None] * 10), CUST)
    out = customers(read_table(path, "customers", ("customer_id",)))
    assert out.numeric == ["age", "tenure_months"] and out.categorical == ["plan", "city"]
    assert out.frame["age"].isna().sum() == 4 and out.frame["city"].tolist()[:4] == ["Oslo", None, "Rome", None]
    assert out.frame[ID].tolist()[-1] == "00040"


def test_all_missing_and_id_like_columns_are_dropped_and_counted(customers_frame):
    frame = customers_frame.assign(empty=np.nan, blank_text="  ", email=[f"u{i}@x.io" for i in range(40)])
    report = Report()
    out = customers(frame, data(max_category_levels=10), report=report)
    assert "empty" not in out.frame and "email" not in out.frame and "blank_text" not in out.frame
    assert report.dropped["columns_all_missing"] == ["empty", "blank_text"]
    assert report.dropped["columns_id_like"] == ["email"]
    assert len(report.warnings) == 3 and "looks like an id (40 distinct" in report.warnings[2]
    kept = customers(frame, data(max_category_levels=10, categorical=["email"])).categorical
    assert "email" in kept                       # forcing the type overrides the id-like guess


def test_mostly_text_column_is_categorical(customers_frame):
    frame = customers_frame.assign(mix=["1", "2", "a", "b", "c"] * 8)
    assert customers(frame).categorical == ["plan", "mix"]


def test_new_data_mode_without_target_and_fixed_types(customers_frame):
    frame = customers_frame.drop(columns="churn").assign(extra="x", age=np.nan)
    out = customers(frame, require_target=False, features={"numeric": ["age"], "categorical": ["plan"]})
    assert list(out.frame.columns) == [ID, "age", "plan"] and out.frame["age"].isna().all()
    with pytest.raises(InputError, match=r"column\(s\) \['score'\] used by the model are missing"):
        customers(frame, require_target=False, features={"numeric": ["score"], "categorical": []})


# --- events ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, match", [
    (lambda e: e.drop(columns="customer_id"), r"events.csv: id column 'customer_id' not found"),
    (lambda e: e.drop(columns="timestamp"), r"events.csv: timestamp column 'timestamp' not found"),
    (lambda e: edit(e, "customer_id", [4], ""), r"events.csv: column 'customer_id' has missing/blank ids at rows \[5\]"),
    (lambda e: edit(e, "timestamp", [1, 8], "31/31/2025"),
     r"events.csv: column 'timestamp' has missing or unparsable timestamps at rows \[2, 9\]: \['31/31/2025'\]"),
    (lambda e: edit(e, "timestamp", [0], "now"), r"unparsable timestamps at rows \[1\]: \['now'\]"),
    (lambda e: edit(e, "timestamp", [3], None), r"unparsable timestamps at rows \[4\]"),
    (lambda e: e.assign(timestamp=20250101), r"column 'timestamp' holds numbers"),
    (lambda e: edit(e, "amount", [2], "12 EUR"),
     r"events.csv: column 'amount' is numeric but has non-numeric text at rows \[3\]: \['12 EUR'\].*data.ignore"),
    (lambda e: e.assign(channel=["web", "app"] * 60), r"column 'channel' is numeric but has non-numeric text"),
    (lambda e: edit(e, "amount", [5], np.inf), r"events.csv: column 'amount' has infinite values at rows \[6\]"),
    (lambda e: e.assign(customer_id=e["customer_id"].str.lstrip("0")),
     r"120 of 120 events \(100%\) .*matches no customer in customers.csv.*leading zeros.*Event ids: \['1', '2', '3'\]; "
     r"customer ids: \['00001', '00002', '00003'\]"),
    (lambda e: e.assign(customer_id="C-" + e["customer_id"]), r"matches no customer.*same id format .*\. Event ids: \['C-00001',"),
])
def test_event_errors(customers_frame, events_frame, change, match):
    with pytest.raises(InputError, match=match):
        events(change(events_frame), customers_frame["customer_id"])


def test_event_type_clash_when_type_column_disabled(customers_frame, events_frame):
    with pytest.raises(InputError, match=r"value column\(s\) \['event_type'\] clash with reserved names"):
        events(events_frame.assign(event_type=1.0), customers_frame["customer_id"], data(event_type_column=None))


def test_events_canonical_sorted_and_typed(customers_frame, events_frame):
    raw = events_frame.rename(columns={"timestamp": "ts", "event_type": "kind"}).assign(qty=1, flag=True)
    out = events(raw, customers_frame["customer_id"], data(timestamp_column="ts", event_type_column="kind"))
    f = out.frame
    assert list(f.columns) == [ID, TIMESTAMP, EVENT_TYPE, "amount", "qty", "flag"] and out.numeric == ["amount", "qty", "flag"]
    assert f[TIMESTAMP].dtype == "datetime64[ns]" and f["qty"].dtype == "float64" and out.has_event_type
    assert f.equals(f.sort_values([ID, TIMESTAMP], kind="mergesort"))


def test_timestamp_formats_and_timezones():
    raw = pd.Series(["2025-03-01 10:00", "2025-03-01T12:00:00+02:00", "2025-03-01T10:00:00Z"])
    assert parse_timestamps(raw, EV, "ts").tolist() == [pd.Timestamp("2025-03-01 10:00")] * 3
    with pytest.raises(InputError, match=r"unparsable timestamps at rows \[2\]: \['03/01/2025 10:00'\]; expected ISO"):
        parse_timestamps(pd.Series(["2025-03-01 10:00", "03/01/2025 10:00"]), EV, "ts")   # one format per column
    aware = pd.Series(pd.to_datetime(["2025-03-01 12:00"]).tz_localize("Europe/Oslo"))
    assert parse_timestamps(aware, EV, "ts").iloc[0] == pd.Timestamp("2025-03-01 11:00")
    assert parse_cutoff("2025-03-01T02:00:00+02:00") == pd.Timestamp("2025-03-01")
    with pytest.raises(InputError, match=r"params: data.cutoff 'soon' is not a date/time"):
        parse_cutoff("soon")


def test_warned_event_drops_are_counted(customers_frame, events_frame):
    raw = edit(events_frame, "customer_id", [0, 1, 2], "99999")
    report = Report()
    out = events(raw.drop(columns="event_type"), customers_frame["customer_id"], report=report)
    assert len(out.frame) == 117 and not out.has_event_type
    kept = apply_cutoff(out.frame, pd.Timestamp("2025-05-01"), EV, report)
    assert kept[TIMESTAMP].max() < pd.Timestamp("2025-05-01")
    assert report.dropped["events_unknown_customer"] == 3
    assert report.dropped["events_after_cutoff"] == 117 - len(kept) > 0
    assert len(report.warnings) == 3 and "no event type column 'event_type'" in report.warnings[0]
    assert "dropped 3 events (2.5%) of 1 customer id(s) not in customers.csv, e.g. ['99999']" in report.warnings[1]
    with pytest.raises(InputError, match=r"all 117 events are at/after the cutoff 2024-01-01"):
        apply_cutoff(out.frame, pd.Timestamp("2024-01-01"), EV, Report())


def test_empty_event_column_dropped_with_warning(customers_frame, events_frame):
    report = Report()
    out = events(events_frame.assign(refund=np.nan), customers_frame["customer_id"], report=report)
    assert out.numeric == ["amount"] and report.dropped["columns_all_missing"] == ["refund (events)"]


# --- split ----------------------------------------------------------------------------------------

@pytest.fixture
def clean(customers_frame) -> pd.DataFrame:
    return customers(customers_frame).frame


def test_random_split_stratified_and_seeded(clean):
    first = train_test_split_ids(clean, SplitParams(test_size=0.25), seed=3)
    assert first.name == SPLIT and (first == "test").sum() == 10
    assert clean.loc[first == "test", TARGET].sum() == 3          # 12 positives * 0.25
    assert first.equals(train_test_split_ids(clean, SplitParams(test_size=0.25), seed=3))
    assert not first.equals(train_test_split_ids(clean, SplitParams(test_size=0.25), seed=4))


def test_split_column_is_used_case_insensitively(clean):
    labels = pd.Series(["Train", "TEST ", "train", "test"] * 10)
    out = train_test_split_ids(clean.assign(fold=labels), SplitParams(column="fold"), seed=0)
    assert out.tolist()[:4] == ["train", "test", "train", "test"]


@pytest.mark.parametrize("labels, match", [
    (["train", "valid", None, "test"] * 10, r"split column 'fold' must hold 'train' or 'test'; rows \[2, 3, 6, 7, 10\] "
                                            r"\(\+15 more\) have \['valid', None\]"),
    (["train"] * 40, r"the test split \(column 'fold'\) has no customers"),
])
def test_split_column_errors(clean, labels, match):
    with pytest.raises(InputError, match=match):
        train_test_split_ids(clean.assign(fold=labels), SplitParams(column="fold"), seed=0)


def test_split_needs_both_classes_in_both_splits(clean):
    fold = np.where(clean[TARGET] == 1, "test", "train")
    with pytest.raises(InputError, match=r"customers: the train split \(column 'fold'\) has only class 0"):
        train_test_split_ids(clean.assign(fold=fold), SplitParams(column="fold"), seed=0)
    one_positive = clean.assign(**{TARGET: (clean.index == 0).astype("int8")})
    with pytest.raises(InputError, match=r"cannot make a stratified 0.2 test split of 40 customers"):
        train_test_split_ids(one_positive, SplitParams(), seed=0)
    with pytest.raises(InputError, match=r"split.test_size must be between 0 and 1, got 1.5"):
        train_test_split_ids(clean, SplitParams(test_size=1.5), seed=0)


def test_pop_split_column(customers_frame):
    with pytest.raises(InputError, match=r"customers.csv: split column 'fold' \(split.column\) not found"):
        pop_split_column(customers_frame, SplitParams(column="fold"), CUST)
    rest, values = pop_split_column(customers_frame.assign(fold="train"), SplitParams(column="fold"), CUST)
    assert "fold" not in rest and values.eq("train").all()


def test_text_is_cleaned_once_per_distinct_value_and_each_row_points_at_it():
    """An event log repeats each id ~30 times and each type millions of times: one str object per distinct value
    (not one per row, about 90 bytes each) is what kept prepare at 1M customers under 8 GiB."""
    raw = pd.Series(pd.Categorical([" login", "buy", None, " login", "buy "], categories=["buy", " login", "buy "]),
                    index=[5, 6, 7, 8, 9])
    text = to_text(raw)
    assert text.tolist() == ["login", "buy", None, "login", "buy"] and text.index.tolist() == [5, 6, 7, 8, 9]
    assert text[5] is text[8] and text[6] is not text[9]          # same raw value, same object
    ids = clean_ids(pd.Series(["0042 ", "7", "0042 ", " 7"] * 250), "events.csv", "id")
    assert ids.head(4).tolist() == ["0042", "7", "0042", "7"]
    assert len({id(v) for v in ids}) <= 3                         # '0042 ', '7', ' 7': one object each, not 1,000
    assert to_text(pd.Series([1.0, -0.0, 0.5])).tolist() == ["1.0", "-0.0", "0.5"]   # floats: texts as before
    with pytest.raises(InputError, match=r"events.csv: column 'id' has missing/blank ids at rows \[2, 4\]"):
        clean_ids(pd.Series(["a", " ", "a", None]), "events.csv", "id")
