"""Timestamps as real exports write them: one format per column, implausible times, duplicate rows."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from conftest import make_events

from pipeline.core.errors import InputError
from pipeline.core.params import DataParams
from pipeline.core.schema import ID, TIMESTAMP
from pipeline.data.validate_customers import Report
from pipeline.data.validate_events import parse_timestamps, validate_events

EV = "events.csv"
P = DataParams(source="files", event_type_column=None)
NOW = pd.Timestamp("2026-01-01")


def log(stamps: list[str], ids: list[str] | None = None, **columns) -> pd.DataFrame:
    ids = ids if ids is not None else [f"c{i % 3}" for i in range(len(stamps))]
    return pd.DataFrame({"customer_id": ids, "timestamp": stamps, **columns})


def validate(frame: pd.DataFrame, p: DataParams = P, **kwargs):
    report = Report()
    ids = pd.Series(frame["customer_id"].unique(), dtype=object)
    return validate_events(frame, p, EV, ids, report=report, now=NOW, **kwargs), report


def times(values: list[str], **kwargs) -> list[pd.Timestamp]:
    return parse_timestamps(pd.Series(values), EV, "ts", **kwargs).tolist()


# --- one format per column ---------------------------------------------------------------------------

def test_a_day_first_column_is_read_day_first_in_every_row():
    clean, _ = validate(log(["13/04/2025", "03/04/2025 14:30", "02/04/2025"], ids=["a", "a", "a"]))
    assert clean.frame[TIMESTAMP].tolist() == [pd.Timestamp("2025-04-02"), pd.Timestamp("2025-04-03 14:30"),
                                              pd.Timestamp("2025-04-13")]   # all April, in order
    assert str(clean.time_format) == "day-first"


def test_a_month_first_column_with_am_pm_and_short_years_records_its_format():
    clean, _ = validate(log(["04/13/2025 10:00 PM", "4/3/25 12:30 am", "04-02-2025"], ids=["a", "a", "a"]))
    assert clean.frame[TIMESTAMP].tolist() == [pd.Timestamp("2025-04-02"), pd.Timestamp("2025-04-03 00:30"),
                                              pd.Timestamp("2025-04-13 22:00")]
    assert str(clean.time_format) == "month-first"


def test_a_column_with_both_orders_is_refused_naming_both():
    with pytest.raises(InputError, match=r"events.csv: column 'ts' mixes day-first dates \(\['13/04/2025'\] at rows "
                                         r"\[1\]\) and month-first dates \(\['04/13/2025'\] at rows \[3\]\)"):
        times(["13/04/2025", "01/02/2025", "04/13/2025"])


def test_an_ambiguous_column_is_refused_unless_data_dayfirst_says():
    stamps = ["03/04/2025", "05/06/2025"]
    with pytest.raises(InputError, match=r"column 'timestamp' has dates like \['03/04/2025', '05/06/2025'\] .*"
                                         r"set data.dayfirst: true \(DD/MM\) or false \(MM/DD\)"):
        validate(log(stamps))
    day, _ = validate(log(stamps, ids=["a", "b"]), dataclasses.replace(P, dayfirst=True))
    month, _ = validate(log(stamps, ids=["a", "b"]), dataclasses.replace(P, dayfirst=False))
    assert day.frame[TIMESTAMP].tolist() == [pd.Timestamp("2025-04-03"), pd.Timestamp("2025-06-05")]
    assert month.frame[TIMESTAMP].tolist() == [pd.Timestamp("2025-03-04"), pd.Timestamp("2025-05-06")]


def test_a_known_format_is_held_and_a_contradiction_named():
    """Scoring reuses the training run's decision: one ambiguous row is read as training read it."""
    train, _ = validate(log(["13/04/2025", "01/02/2025"]))
    assert times(["03/04/2025"], fmt=train.time_format) == [pd.Timestamp("2025-04-03")]
    with pytest.raises(InputError, match=r"is day-first \(the training run's format\) but rows \[2\] hold "
                                         r"month-first dates: \['04/13/2025'\]"):
        validate(log(["01/02/2025", "04/13/2025"]), time_format=train.time_format)


def test_other_formats_pandas_infers_are_held_for_the_whole_column():
    assert times(["01 Mar 2025", "15 Apr 2025"]) == [pd.Timestamp("2025-03-01"), pd.Timestamp("2025-04-15")]
    with pytest.raises(InputError, match=r"unparsable timestamps at rows \[2\]: \['2025-04-15'\]; expected "
                                         r"date-times of format '%d %b %Y'"):
        times(["01 Mar 2025", "2025-04-15", "02 Mar 2025"])


def test_mixed_offsets_are_converted_to_utc_with_a_warning_naming_rows():
    clean, report = validate(log(["2025-03-01T10:00:00+02:00", "2025-03-01 09:00", "2025-03-01 09:30"],
                                 ids=["a", "a", "a"]))
    assert clean.frame[TIMESTAMP].tolist() == [pd.Timestamp(t) for t in
                                              ("2025-03-01 08:00", "2025-03-01 09:00", "2025-03-01 09:30")]
    assert report.warnings == ["events.csv: column 'timestamp' mixes times with a UTC offset (1, rows [1]) and "
                               "without one (2, rows [2, 3]): those without were taken as UTC."]


# --- implausible times -------------------------------------------------------------------------------

def long_log(n_customers: int = 50) -> pd.DataFrame:
    events = make_events([f"c{i}" for i in range(n_customers)], per_customer=4, seed=5)   # 200 events in 2025
    return events.drop(columns="event_type")


def test_excel_zero_dates_and_the_future_are_dropped_naming_rows():
    frame = long_log()
    frame.loc[[7], "timestamp"] = "1899-12-30"
    frame.loc[[150], "timestamp"] = "2099-01-01 10:00"
    clean, report = validate(frame)
    assert len(clean.frame) == 198 and clean.frame[TIMESTAMP].dt.year.eq(2025).all()
    assert report.dropped["events_implausible_time"] == 2
    [warning] = [w for w in report.warnings if "implausible" in w]
    assert "before 1900-01-02 (Excel's day zero or earlier): 1 at rows [8]: ['1899-12-30 00:00:00']" in warning
    assert "after 2026-01-03 00:00:00 (later than tomorrow, UTC): 1 at rows [151]: ['2099-01-01 10:00:00']" in warning


def test_excel_day_zero_written_as_1900_01_00_is_implausible_not_a_date_error():
    frame = long_log()
    frame.loc[3, "timestamp"] = "1900-01-00"
    _, report = validate(frame)
    assert report.dropped["events_implausible_time"] == 1


def test_a_time_far_outside_the_bulk_is_dropped_at_training_only():
    frame = long_log()
    frame.loc[20, "timestamp"] = "1952-06-01"            # '1952' for '2025': plausible alone, not in this log
    clean, report = validate(frame)
    assert report.dropped["events_implausible_time"] == 1 and len(clean.frame) == 199
    assert "far outside the bulk of the log" in report.warnings[-1] and "rows [21]" in report.warnings[-1]
    scored, _ = validate(frame, bulk=False)               # scoring: a customer's rows never judged by the others'
    assert len(scored.frame) == 200


def test_many_implausible_times_are_refused_naming_rows_and_values():
    frame = long_log()
    frame.loc[[4, 9, 30], "timestamp"] = "2099-01-01"
    with pytest.raises(InputError, match=r"column 'timestamp' has 3 implausible times \(1.5% of 200 events, more "
                                         r"than 1% to drop\): after .* 3 at rows \[5, 10, 31\]: \['2099-01-01 "):
        validate(frame)


# --- duplicate rows ----------------------------------------------------------------------------------

def test_a_few_exact_duplicates_are_kept_and_counted():
    frame = long_log()
    frame.loc[11] = frame.loc[10]
    clean, report = validate(frame)
    assert len(clean.frame) == 200
    assert report.dropped["duplicate_event_rows"] == 1 and report.dropped["events_duplicate_dropped"] == 0
    assert "1 event rows repeat an earlier row in every column (rows [12]); kept" in report.warnings[-1]


def test_a_log_exported_twice_is_deduplicated_with_a_warning():
    frame = long_log()
    twice = pd.concat([frame, frame], ignore_index=True)
    once, _ = validate(frame)
    clean, report = validate(twice)
    pd.testing.assert_frame_equal(clean.frame, once.frame)
    assert report.dropped["duplicate_event_rows"] == 200 and report.dropped["events_duplicate_dropped"] == 200
    assert "every event row appears more than once (200 copies of earlier rows, rows [201," in report.warnings[-1]
    assert clean.frame[ID].nunique() == 50
