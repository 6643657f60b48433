"""eda stage: outputs, hand-checkable numbers, train-only relations, edge cases, determinism."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import eda
from pipeline.core.errors import EXIT_BAD_INPUT
from pipeline.core.params import EdaParams
from pipeline.profiling import summary as eda_summary

N_TRAIN, N_TEST = 40, 10
AS_OF = "2026-01-01T00:00:00"
TRICKY = "<script>alert(1)</script>"


def customers(n: int, offset: int, positives: int) -> pd.DataFrame:
    """Deterministic customers: age with missing values and one data-entry outlier, plan with a tricky level."""
    rng = np.random.default_rng(offset)
    target = np.array([1] * positives + [0] * (n - positives), dtype="int8")
    age = np.arange(20, 20 + n, dtype=float)
    age[0] = 999.0                                    # the one outlier
    age[1:4] = np.nan                                 # three missing
    plan = np.array(["basic", "premium"] * (n // 2), dtype=object)
    plan[target == 1] = "basic"                       # every positive is on basic
    plan[-1] = TRICKY
    plan[-2] = None
    return pd.DataFrame({"customer_id": [f"{offset + i:05d}" for i in range(n)], "target": target,
                         "age": age, "spend": rng.normal(50, 10, n) + 20 * target, "plan": plan})


def events_for(ids: list[str]) -> pd.DataFrame:
    """Customer k gets k % 4 events (so a quarter have none), alternating login/purchase, a week apart."""
    rows = [(cid, pd.Timestamp("2025-06-02") + pd.Timedelta(days=7 * j + k % 3), ["login", "purchase"][j % 2], 10.0 * j)
            for k, cid in enumerate(ids) for j in range(k % 4)]
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "amount"])
    frame["timestamp"] = frame["timestamp"].astype("datetime64[ns]")
    return frame.sort_values(["customer_id", "timestamp"]).reset_index(drop=True)


def write_prepared(root: Path, *, with_events: bool = True, with_features: bool = True,
                   train: pd.DataFrame | None = None, test: pd.DataFrame | None = None) -> Path:
    """A prepared directory as pipeline/core/schema.py describes it."""
    root.mkdir(parents=True, exist_ok=True)
    train = customers(N_TRAIN, 0, 10) if train is None else train
    test = customers(N_TEST, 1000, 3) if test is None else test
    if not with_features:
        train, test = train[["customer_id", "target"]], test[["customer_id", "target"]]
    train.to_parquet(root / "train.parquet", index=False)
    test.to_parquet(root / "test.parquet", index=False)
    n_events = 0
    if with_events:
        events = events_for(list(train["customer_id"]) + list(test["customer_id"]))
        events.to_parquet(root / "events.parquet", index=False)
        n_events = len(events)
    meta = {"source": "files", "files": {"customers": "c.csv", "events": "e.csv" if with_events else None},
            "columns": {"id": "cust", "target": "churn", "positive_label": 1, "timestamp": "ts", "event_type": "kind"},
            "numeric": ["age", "spend"] if with_features else [], "categorical": ["plan"] if with_features else [],
            "has_events": with_events, "has_event_type": with_events, "has_truth": False,
            "event_numeric": ["amount"] if with_events else [], "event_types": ["login", "purchase"] if with_events else [],
            "cutoff": AS_OF, "as_of": AS_OF, "n_train": len(train), "n_test": len(test),
            "positive_rate_train": float(train["target"].mean()), "n_events": n_events,
            "dropped": {"events_unknown_customer": 0, "events_after_cutoff": 0, "columns_all_missing": [],
                        "columns_id_like": []}, "warnings": [f"a warning mentioning {TRICKY}"]}
    (root / "meta.json").write_text(json.dumps(meta))
    return root


def run_main(tmp_path: Path, prepared: Path, name: str = "out") -> tuple[dict, str]:
    params = tmp_path / "params.yaml"
    params.write_text("eda:\n  bins: 10\n  max_categories: 5\n  top_relations: 8\n  iqr_k: 1.5\n")
    html, out = tmp_path / name / "eda.html", tmp_path / name / "eda.json"
    eda.main(["--params", str(params), "--prepared", str(prepared), "--html", str(html), "--json", str(out)])
    return json.loads(out.read_text(), parse_constant=_no_constants), html.read_text(encoding="utf-8")


def _no_constants(name: str) -> None:
    raise AssertionError(f"eda.json holds {name}; NaN/inf must be written as null")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    tmp = tmp_path_factory.mktemp("full")
    return run_main(tmp, write_prepared(tmp / "prepared"))


def test_main_writes_self_contained_page(full_run: tuple[dict, str]) -> None:
    _, html = full_run
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, flags=re.I)
    assert not re.search(r"<link\b|<script\b|@import|url\(\s*['\"]?https?:", html, flags=re.I)
    assert html.count("<svg") >= 6            # target, relations, missing, histograms, levels, events
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "inline SVGs must not share element ids"


def test_user_strings_are_escaped(full_run: tuple[dict, str]) -> None:
    _, html = full_run
    assert TRICKY not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_json_numbers_by_hand(full_run: tuple[dict, str]) -> None:
    summary, _ = full_run
    assert {"dataset", "params", "columns", "numeric", "categorical", "target", "missing", "outliers",
            "events", "relations"} <= set(summary)
    assert summary["target"]["train"] == {"n": 40, "positive": 10, "negative": 30, "positive_rate": 0.25}
    assert summary["target"]["test"]["positive"] == 3 and summary["target"]["all"]["n"] == 50
    assert summary["missing"]["columns"]["age"]["train"] == {"count": 3, "share": 0.075}
    assert summary["missing"]["columns"]["plan"]["test"]["count"] == 1
    age = summary["outliers"]["columns"]["age"]
    assert (age["train"]["above"], age["train"]["below"], age["test"]["above"]) == (1, 0, 1)   # the two 999s
    assert summary["outliers"]["rows"]["train"]["count"] >= 1
    hist = summary["numeric"]["age"]["histogram"]
    assert sum(hist["counts"]["train"]) + hist["below"]["train"] + hist["above"]["train"] == 37
    plan = {lv["level"]: lv for lv in summary["categorical"]["plan"]["levels"]}
    assert plan["basic"]["positive_rate_train"] > 0.4 and plan["premium"]["positive_rate_train"] == 0.0
    assert summary["columns"][0] == {"name": "age", "kind": "numeric", "dtype": "float64"}


def test_event_summary_by_hand(full_run: tuple[dict, str]) -> None:
    events = full_run[0]["events"]
    per_train = [k % 4 for k in range(N_TRAIN)]
    assert events["n_events"] == sum(per_train) + sum(k % 4 for k in range(N_TRAIN, N_TRAIN + N_TEST))
    assert events["per_customer"]["train"]["zero_events"] == per_train.count(0)
    assert {t["type"] for t in events["types"]} == {"login", "purchase"}
    assert events["time"]["first"].startswith("2025-06-02") and events["weekly"]["total"][0] > 0
    assert sum(events["weekly"]["total"]) == events["n_events"]
    sources = {r["source"] for r in full_run[0]["relations"]["top"]}
    assert "events" in sources and full_run[0]["relations"]["computed_on"] == "train"


def test_relations_use_train_only(tmp_path: Path) -> None:
    base = eda_summary.read_prepared(write_prepared(tmp_path / "a"))
    test = base.test.copy()
    test["target"] = 1 - test["target"]                  # flipped labels
    test["spend"] = -test["spend"] * 100                 # and wildly different values
    test["plan"] = "premium"
    altered = replace(base, test=test)
    p = EdaParams(bins=10, max_categories=5, top_relations=8)
    one, two = eda_summary.summarise(base, p), eda_summary.summarise(altered, p)
    assert one["relations"] == two["relations"]
    assert one["outliers"]["columns"]["spend"]["upper_fence"] == two["outliers"]["columns"]["spend"]["upper_fence"]
    assert one["numeric"]["spend"]["histogram"]["edges"] == two["numeric"]["spend"]["histogram"]["edges"]
    assert one["target"]["test"] != two["target"]["test"]       # the test split is still described


def test_without_events(tmp_path: Path) -> None:
    summary, html = run_main(tmp_path, write_prepared(tmp_path / "prepared", with_events=False))
    assert summary["events"] is None
    assert "No event log" in html and "<svg" in html
    assert {r["source"] for r in summary["relations"]["top"]} <= {"numeric", "categorical", "missing"}


@pytest.mark.parametrize("with_events", [True, False])
def test_id_and_target_only(tmp_path: Path, with_events: bool) -> None:
    prepared = write_prepared(tmp_path / "prepared", with_events=with_events, with_features=False)
    summary, html = run_main(tmp_path, prepared)
    assert summary["columns"] == [] and summary["numeric"] == {} and summary["missing"]["cells"]["all"]["count"] == 0
    assert "no static features" in html
    assert bool(summary["relations"]["top"]) == with_events    # only event aggregates can relate


@pytest.mark.parametrize("case", ["no_events_left", "no_event_type"])
def test_thin_event_logs(tmp_path: Path, case: str) -> None:
    prepared = write_prepared(tmp_path / "prepared")
    events = pd.read_parquet(prepared / "events.parquet")
    if case == "no_events_left":
        events = events.iloc[:0]
    else:
        events = events.drop(columns="event_type")
        meta = json.loads((prepared / "meta.json").read_text())
        (prepared / "meta.json").write_text(json.dumps({**meta, "has_event_type": False}))
    events.to_parquet(prepared / "events.parquet", index=False)
    summary, html = run_main(tmp_path, prepared)
    assert summary["events"]["types"] == []
    assert ("holds no events" in html) == (case == "no_events_left")
    assert ("no event type column" in html) == (case == "no_event_type")


def test_deterministic(tmp_path: Path) -> None:
    prepared = write_prepared(tmp_path / "prepared")
    run_main(tmp_path, prepared, "one")
    run_main(tmp_path, prepared, "two")
    for name in ("eda.json", "eda.html"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_missing_prepared_dir_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_main(tmp_path, tmp_path / "nowhere")
    assert exc.value.code == EXIT_BAD_INPUT
    assert "meta.json: not found" in capsys.readouterr().err


def test_jsonable_turns_nan_into_null() -> None:
    value = {"a": np.float64("nan"), "b": [np.int64(3), float("inf")], "c": pd.NaT, 1: np.float32(0.5)}
    assert eda_summary.jsonable(value) == {"a": None, "b": [3, None], "c": None, "1": 0.5}
