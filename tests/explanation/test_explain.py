"""The explain stage: permutation importance, coefficients and event-log perturbations, on tiny data.

The end-to-end part runs the real stage chain (tiny tune) and then explain, as dvc.yaml runs it.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, hand_event_log, run_stages, stage_args
from sklearn.linear_model import LogisticRegression
from xgboost import XGBClassifier

from pipeline import explain
from pipeline.core.schema import EVENT_TYPE, ID, TIMESTAMP
from pipeline.events.perturb import drop_event_type, event_types, permute_times
from pipeline.explanation import tabular as explain_tabular

SEED = 5
CHAIN = ["prepare", "impute", "outliers", "features", "tune", "evaluate", "explain"]
PART_KEYS = {"permutation": {"family", "baseline", "n_repeats", "seed", "features"},
             "coefficients": {"family", "intercept", "features"},
             "sequence": {"family", "baseline", "n_repeats", "order_shuffle", "drop_event_type"}}


# --- event perturbations ------------------------------------------------------------------------

def shuffled_log(seed: int = 0) -> pd.DataFrame:
    """The hand-made log plus a longer customer, so some order can actually change."""
    more = pd.DataFrame({ID: "d", TIMESTAMP: pd.date_range("2024-01-01", periods=8, freq="D"),
                         EVENT_TYPE: ["visit", "purchase"] * 4, "amount": np.arange(8.0)})
    return pd.concat([hand_event_log(), more], ignore_index=True)


def per_customer(events: pd.DataFrame, columns: list[str]) -> dict[str, list]:
    return {c: sorted(map(str, g[columns].itertuples(index=False))) for c, g in events.groupby(ID)}


def test_permuting_times_keeps_each_customers_events_and_times_but_not_their_order():
    events = shuffled_log()
    before = events.copy()
    out = permute_times(events, seed=1)
    pd.testing.assert_frame_equal(events, before)   # input untouched
    assert per_customer(out, [EVENT_TYPE, "amount"]) == per_customer(events, [EVENT_TYPE, "amount"])
    assert per_customer(out, [TIMESTAMP]) == per_customer(events, [TIMESTAMP])
    assert out.groupby(ID)[TIMESTAMP].apply(lambda t: t.is_monotonic_increasing).all()
    d_before = events[events[ID] == "d"][EVENT_TYPE].tolist()
    orders = {tuple(permute_times(events, seed=s).query(f"{ID} == 'd'")[EVENT_TYPE]) for s in range(5)}
    assert len(orders) > 1 and any(list(o) != d_before for o in orders)
    pd.testing.assert_frame_equal(permute_times(events, seed=3), permute_times(events, seed=3))


def test_dropping_a_type_removes_exactly_those_events():
    events = shuffled_log()
    before = events.copy()
    kept, removed = drop_event_type(events, "purchase")
    pd.testing.assert_frame_equal(events, before)
    assert removed == int((events[EVENT_TYPE] == "purchase").sum()) == 7
    pd.testing.assert_frame_equal(kept, events[events[EVENT_TYPE] != "purchase"].reset_index(drop=True))
    assert event_types(events) == ["purchase", "support_ticket", "visit"]
    assert event_types(events.drop(columns=EVENT_TYPE)) == []


# --- tabular explanations -----------------------------------------------------------------------

def planted(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Five features; only `signal` decides the label (with a little noise)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=["a", "b", "signal", "c", "d"])
    y = ((X["signal"] + 0.3 * rng.normal(size=n)) > 0).astype(int).to_numpy()
    return X, y


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_permutation_importance_ranks_the_planted_feature_first(metric):
    X, y = planted()
    model = XGBClassifier(n_estimators=30, max_depth=3, random_state=0, n_jobs=1).fit(X[:400], y[:400])
    out = explain_tabular.permutation("xgb", model, X[400:], y[400:], metric, n_repeats=3, seed=SEED)
    assert [f["feature"] for f in out["features"]][0] == "signal"
    assert out["features"][0]["mean"] > 0.1   # positive = relied on it, also for log loss (lower is better)
    assert all(abs(f["mean"]) < 0.05 for f in out["features"][1:])
    assert sorted(f["feature"] for f in out["features"]) == sorted(X.columns)


def test_grouped_columns_are_permuted_together_as_one_feature():
    """The label depends on a + b jointly (as on an embedding's coordinates): the group's drop is
    measured by permuting both columns with one row permutation, and they are not listed alone."""
    X, y = planted()
    y = ((X["a"] + X["b"]) > 0).astype(int).to_numpy()
    model = XGBClassifier(n_estimators=40, max_depth=3, random_state=0, n_jobs=1).fit(X[:400], y[:400])
    groups = {"sequence embedding": ["a", "b"], "noise pair": ["c", "d"]}
    out = explain_tabular.permutation("xgb", model, X[400:], y[400:], "roc_auc", n_repeats=3, seed=SEED,
                                      groups=groups)
    names = [f["feature"] for f in out["features"]]
    assert sorted(names) == ["noise pair", "sequence embedding", "signal"]
    top = out["features"][0]
    assert top["feature"] == "sequence embedding" and top["columns"] == ["a", "b"] and top["mean"] > 0.2
    assert all(abs(f["mean"]) < 0.05 for f in out["features"][1:])
    again = explain_tabular.permutation("xgb", model, X[400:], y[400:], "roc_auc", n_repeats=3, seed=SEED,
                                        groups=groups)
    assert again == out                                                    # seeded


def test_coefficients_are_the_fitted_ones_sorted_by_size():
    X, y = planted()
    model = LogisticRegression().fit(X, y)
    out = explain_tabular.coefficients(model, list(X.columns), family="logreg")
    assert out["features"][0]["feature"] == "signal"
    assert [abs(f["coef"]) for f in out["features"]] == sorted(np.abs(model.coef_[0]), reverse=True)
    assert dict((f["feature"], f["coef"]) for f in out["features"]) == dict(zip(X.columns, model.coef_[0]))
    assert out["intercept"] == model.intercept_[0]


# --- the stage, on the real chain ---------------------------------------------------------------

@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("explain")
    # One tree family is enough (xgb); forest is left out to keep the fixture short.
    params = {"seed": SEED, "data": {"synthetic": {"n_customers": 240, "events_per_customer": 8}},
              "tune": {"trials": 1, "folds": 2, "lstm_max_epochs": 2, "pruner": "none", "timeout": None,
                       "models": ["logreg", "xgb", "lstm"]},
              "evaluate": {"n_boot": 50}, "explain": {"n_repeats": 2}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(REPO / "configs", root / "configs")
    run_stages(root, root / "params.yaml", CHAIN)
    return root


def run_explain(root: Path, out: str, *replace: tuple[str, str]) -> dict:
    args = stage_args("explain")
    for flag, value in replace:
        args[args.index(flag) + 1] = value
    args[args.index("--out") + 1] = str(root / out)
    explain.main(["--params", str(root / "params.yaml"), *[a if a.startswith("--") or Path(a).is_absolute()
                                                              else str(root / a) for a in args]])
    return json.loads((root / out).read_text())


def test_schema(project):
    e = json.loads((project / "reports" / "explain.json").read_text())
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert set(e) == {"metric", "n_test", "permutation", "coefficients", "sequence", "skipped"}
    assert e["metric"] == metrics["metric"] and e["n_test"] == metrics["n_test"] and e["skipped"] == {}
    for part, keys in PART_KEYS.items():
        assert set(e[part]) == keys, part
    perm, seq = e["permutation"], e["sequence"]
    assert perm["family"] == "xgb" and perm["baseline"] == pytest.approx(metrics["models"]["xgb"]["roc_auc"])
    assert [f["mean"] for f in perm["features"]] == sorted((f["mean"] for f in perm["features"]), reverse=True)
    coefs = [abs(f["coef"]) for f in e["coefficients"]["features"]]
    # The sequence embedding's columns are permuted together: one entry that names them all.
    grouped = [f for f in perm["features"] if "columns" in f]
    assert [f["feature"] for f in grouped] == ["sequence embedding"]
    assert all(c.startswith("seq_emb_") for c in grouped[0]["columns"])
    assert not any(f["feature"].startswith("seq_emb_") for f in perm["features"])
    assert coefs == sorted(coefs, reverse=True)
    assert len(coefs) == len(perm["features"]) - 1 + len(grouped[0]["columns"])
    # The sequence baseline re-runs the saved transform on the prepared test rows: it must equal evaluate's score.
    assert seq["family"] == "lstm" and seq["baseline"] == pytest.approx(metrics["models"]["lstm"]["roc_auc"])
    assert len(seq["order_shuffle"]["drops"]) == seq["n_repeats"] == 2
    assert seq["order_shuffle"]["mean"] == pytest.approx(np.mean(seq["order_shuffle"]["drops"]))
    events = pd.read_parquet(project / "data" / "interim" / "prepared" / "events.parquet")
    test_ids = set(pd.read_parquet(project / "data" / "features" / "test.parquet")[ID])
    counts = events[events[ID].isin(test_ids)][EVENT_TYPE].value_counts()
    assert {t["event_type"]: t["events_removed"] for t in seq["drop_event_type"]} == counts.to_dict()
    drops = [t["drop"] for t in seq["drop_event_type"]]
    assert drops == sorted(drops, reverse=True)


def digest(root: Path) -> dict[str, str]:
    paths = [p for d in ("data", "models") for p in (root / d).rglob("*") if p.is_file()]
    paths.append(root / "reports" / "metrics.json")
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_same_seed_identical_output_and_inputs_untouched(project):
    before = digest(project)
    run_explain(project, "again.json")
    assert digest(project) == before
    assert (project / "again.json").read_bytes() == (project / "reports" / "explain.json").read_bytes()


def test_missing_families_are_skipped_with_reasons(project):
    only = project / "only_xgb"
    shutil.copytree(project / "models" / "tuned" / "xgb", only / "xgb")
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    (project / "only_xgb.json").write_text(json.dumps({**metrics, "ranking": ["xgb"]}))
    e = run_explain(project, "only_xgb_explain.json", ("--models", str(only)),
                    ("--metrics", str(project / "only_xgb.json")))
    assert e["permutation"]["family"] == "xgb" and e["coefficients"] is None and e["sequence"] is None
    assert set(e["skipped"]) == {"coefficients", "sequence"} and "logreg" in e["skipped"]["coefficients"]


def test_bad_params_exit_2_with_one_line(project, capsys):
    bad = project / "bad_params.yaml"
    bad.write_text(yaml.safe_dump({"explain": {"n_repeats": 0}}))
    with pytest.raises(SystemExit) as exit_info:
        explain.main(["--params", str(bad), *stage_args("explain")])
    assert exit_info.value.code == 2
    assert "'explain.n_repeats' must be >= 1" in capsys.readouterr().err
