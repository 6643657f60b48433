"""Column typing a person would agree with, and explicit targets: exports written by hand, through prepare."""
from __future__ import annotations

import pandas as pd
import pytest

from pipeline.core.errors import InputError
from pipeline.core.params import load_params
from pipeline.data.column_types import parse_numbers
from pipeline.data.preparation import prepare as run
from pipeline.prepare import main


def customers_csv(tmp_path, columns: dict[str, list[str]], n: int = 40, name: str = "customers.csv") -> str:
    """A customers export: id, a 0/1 target alternating, and the given text columns (cycled to n rows)."""
    rows = [f"{i:05d},{i % 2}" + "".join(f",{_quote(v[i % len(v)])}" for v in columns.values()) for i in range(n)]
    path = tmp_path / name
    path.write_text("customer_id,churn" + "".join(f",{c}" for c in columns) + "\n" + "\n".join(rows) + "\n")
    return str(path)


def _quote(value: str) -> str:
    return f'"{value}"' if "," in value else value


def params_for(write_params, customers: str, **data) -> str:
    return write_params(data={"source": "files", "customers": customers, "events": None, **data})


@pytest.mark.parametrize("values, expected, said", [
    (["$12,345.60", "$99.00", "$1,000"], [12345.60, 99.0, 1000.0], "thousands separator ','"),
    (["70,35", "12,5", "100"], [70.35, 12.5, 100.0], "decimal mark ','"),
    (["12.345,60", "1.234.567,00", "5,5"], [12345.60, 1234567.0, 5.5], "decimal mark ','"),
    (["1 234,5", "12,7", "3"], [1234.5, 12.7, 3.0], "thousands separator ' '"),
    (["15%", "2.5%", "100%"], [15.0, 2.5, 100.0], "percent"),
    (["(12.50)", "3.00", "4"], [-12.5, 3.0, 4.0], None),
])
def test_formatted_numbers_are_numbers_with_a_warning(tmp_path, write_params, values, expected, said):
    data = run(load_params(params_for(write_params, customers_csv(tmp_path, {"amount": values}))))
    assert data.meta["numeric"] == ["amount"] and data.meta["categorical"] == []
    got = pd.concat([data.train, data.test]).sort_values("customer_id")["amount"].tolist()
    assert got[:3] == pytest.approx(expected)
    if said:
        assert any("'amount' read as numbers" in w and said in w for w in data.meta["warnings"])
        assert "amount" in data.meta["number_formats"]


def test_placeholders_are_missing_values_named_in_a_warning(tmp_path, write_params):
    path = customers_csv(tmp_path, {"income": ["52000", "?", "61000", "n/a", "-", "48000.5"]})
    data = run(load_params(params_for(write_params, path)))
    assert data.meta["numeric"] == ["income"]
    assert pd.concat([data.train, data.test])["income"].isna().sum() == 20      # 3 of every 6 rows
    [warning] = [w for w in data.meta["warnings"] if "placeholder" in w]
    assert "'income'" in warning and "'?'" in warning and "rows [2, 4, 5" in warning


def test_a_comma_that_could_be_either_is_refused_unless_params_say(tmp_path, write_params, capsys):
    path = customers_csv(tmp_path, {"amount": ["1,234", "5,678", "9,999"]})
    with pytest.raises(SystemExit) as exit_info:
        main(["--params", str(params_for(write_params, path)), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'amount'" in err and "data.decimal_comma" in err
    thousands = run(load_params(params_for(write_params, path, decimal_comma=False)))
    assert sorted(pd.concat([thousands.train, thousands.test])["amount"].unique()) == [1234.0, 5678.0, 9999.0]
    decimal = run(load_params(params_for(write_params, path, decimal_comma=True)))
    assert sorted(pd.concat([decimal.train, decimal.test])["amount"].unique()) == [1.234, 5.678, 9.999]


@pytest.mark.parametrize("codes", [["007", "012", "003"], ["007", "012", "A10"]])
def test_codes_keep_their_zeros_as_categories(tmp_path, write_params, codes):
    # '007' is nobody's quantity: with or without a letter in the column, the codes stay text with their zeros
    data = run(load_params(params_for(write_params, customers_csv(tmp_path, {"branch": codes}))))
    assert data.meta["categorical"] == ["branch"] and data.meta["numeric"] == []
    assert set(pd.concat([data.train, data.test])["branch"]) == set(codes)


def test_true_false_text_is_one_zero(tmp_path, write_params):
    data = run(load_params(params_for(write_params, customers_csv(tmp_path, {"opted_in": ["TRUE", "false", "True"]}))))
    assert data.meta["numeric"] == ["opted_in"]
    assert set(pd.concat([data.train, data.test])["opted_in"]) == {0.0, 1.0}


@pytest.mark.parametrize("values", [["2024-03-01", "2023-12-31", "2025-01-15"],
                                    ["2024-03-01 10:00:00", "2023-12-31 23:59:00", "2025-01-15 00:00:00"]])
def test_a_date_column_becomes_days_before_the_reference_time(tmp_path, write_params, values):
    path = customers_csv(tmp_path, {"signup": values})
    data = run(load_params(params_for(write_params, path, cutoff="2025-02-01")))
    assert data.meta["numeric"] == ["signup"] and data.meta["dates"] == {"signup": "ISO8601"}
    assert not data.meta["categorical"]
    first = pd.concat([data.train, data.test]).sort_values("customer_id")["signup"].tolist()[0]
    assert first == pytest.approx((pd.Timestamp("2025-02-01") - pd.Timestamp(values[0])) / pd.Timedelta(days=1))


def test_day_first_dates_are_read_day_first_on_the_whole_column(tmp_path, write_params):
    # '03/04/2024' alone could be either; '13/04/2024' in the same column says the day comes first
    path = customers_csv(tmp_path, {"signup": ["03/04/2024", "13/04/2024", "28/02/2024"]})
    data = run(load_params(params_for(write_params, path, cutoff="2025-01-01")))
    assert data.meta["dates"] == {"signup": "day-first"}
    first = pd.concat([data.train, data.test]).sort_values("customer_id")["signup"].tolist()[0]
    assert first == (pd.Timestamp("2025-01-01") - pd.Timestamp("2024-04-03")).days


def test_parquet_dates_and_excel_day_zero(tmp_path, write_params):
    frame = pd.DataFrame({"customer_id": [f"{i:03d}" for i in range(40)], "churn": [i % 2 for i in range(40)],
                          "signup": pd.to_datetime(["2024-01-01", "1899-12-30", "2024-06-01", "2023-01-01"] * 10)})
    path = tmp_path / "c.parquet"
    frame.to_parquet(path)
    data = run(load_params(params_for(write_params, str(path), cutoff="2025-01-01")))
    assert data.meta["dates"] == {"signup": "datetime"}
    assert pd.concat([data.train, data.test])["signup"].isna().sum() == 10           # day zero is no date
    assert any("implausible dates" in w and "'signup'" in w for w in data.meta["warnings"])


def test_dates_without_a_reference_time_are_refused(tmp_path, write_params):
    path = customers_csv(tmp_path, {"signup": ["2024-03-01", "2023-12-31"], "age": ["30", "40"]})
    with pytest.raises(InputError, match=r"'signup'\] hold dates.*data\.cutoff"):
        run(load_params(params_for(write_params, path)))


def test_a_table_with_nothing_to_learn_from_is_refused(tmp_path, write_params):
    path = customers_csv(tmp_path, {"email": [f"user{i}@x.com" for i in range(40)]}, n=40)
    with pytest.raises(InputError, match="no usable feature column"):
        run(load_params(params_for(write_params, path, max_category_levels=10)))


@pytest.mark.parametrize("values", [["1", "2"], ["Yes", "No"], ["churned", "active"]])
def test_a_target_other_than_0_1_needs_an_explicit_positive_label(tmp_path, write_params, values):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,churn,age\n" + "".join(f"{i},{values[i % 2]},{20 + i}\n" for i in range(20)))
    with pytest.raises(InputError, match=r"target column 'churn' holds .* not 0/1: set data.positive_label"):
        run(load_params(write_params(data={"source": "files", "customers": str(path), "events": None})))
    data = run(load_params(write_params(data={"source": "files", "customers": str(path), "events": None,
                                              "positive_label": values[0]})))
    assert pd.concat([data.train, data.test])["target"].sum() == 10


def test_an_unquoted_yes_in_params_says_to_quote_it(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,churn,age\n" + "".join(f"{i},{'Yes' if i % 2 else 'No'},{20 + i}\n" for i in range(20)))
    params = tmp_path / "params.yaml"
    params.write_text(f"data:\n  source: files\n  customers: {path}\n  events: null\n  positive_label: Yes\n")
    with pytest.raises(InputError, match=r"YAML boolean True; quote the label, e.g. positive_label: \"Yes\""):
        run(load_params(params))


def test_zero_one_and_booleans_need_no_positive_label(tmp_path, write_params):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,churn,age\n" + "".join(f"{i},{'true' if i % 2 else 'false'},{20 + i}\n" for i in range(20)))
    data = run(load_params(write_params(data={"source": "files", "customers": str(path), "events": None})))
    assert pd.concat([data.train, data.test])["target"].sum() == 10


def test_a_mostly_text_column_stays_text_and_one_stray_number_format_does_not_decide():
    text = pd.Series(["gold", "1,234", "silver", "bronze", None], dtype=object)
    assert parse_numbers(text, "f", "plan").bad.sum() == 4     # no format decided, no ambiguity error


def test_an_excel_export_in_a_decimal_comma_locale_prepares_as_written(tmp_path, write_params, capsys):
    # Excel (German locale): sep= line, semicolons, decimal commas, '?' for unknown, trailing empty rows, cp1252
    rows = "".join(f"{i:04d};{i % 2};{30 + i},{i % 10};{'Köln' if i % 3 else 'München'};"
                   f"{'?' if i % 7 == 0 else f'{1000 + i}'}\r\n" for i in range(40))
    path = tmp_path / "export.csv"
    path.write_bytes(("sep=;\r\nKundennr;churn;fee;city;income\r\n" + rows + ";;;;\r\n;;;;\r\n").encode("cp1252"))
    params = write_params(data={"source": "files", "customers": str(path), "events": None, "id_column": "Kundennr"})
    data = run(load_params(params))
    assert data.meta["numeric"] == ["fee", "income"] and data.meta["categorical"] == ["city"]
    both = pd.concat([data.train, data.test]).sort_values("customer_id")
    assert both["customer_id"].tolist()[:2] == ["0000", "0001"] and both["fee"].tolist()[:2] == [30.0, 31.1]
    assert set(both["city"]) == {"Köln", "München"} and both["income"].isna().sum() == 6
    said = " ".join(data.meta["warnings"])
    assert "Windows-1252" in said and "2 empty row(s)" in said and "decimal mark ','" in said and "'?'" in said


def test_a_copied_target_column_stops_prepare_in_one_line(tmp_path, write_params, capsys):
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,churn,age,churn\n" + "".join(f"{i},{i % 2},{20 + i},{i % 2}\n" for i in range(20)))
    params = write_params(data={"source": "files", "customers": str(path), "events": None})
    with pytest.raises(SystemExit) as exit_info:
        main(["--params", str(params), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and "duplicate column names 'churn'" in err
    assert not (tmp_path / "out").exists()
