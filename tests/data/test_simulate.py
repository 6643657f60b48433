"""Tests for pipeline.data.simulator: determinism, calibration of the truth, mess, events, the order-only signal, CLI."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipeline import simulate as simulate_entry
from pipeline.core.errors import InputError
from pipeline.core.io import read_table
from pipeline.core.params import SyntheticParams, load_params
from pipeline.data import simulator as sim_mod
from pipeline.data.simulator import (
    AMOUNT,
    EVENT_TYPE,
    EVENT_TYPES,
    ID,
    TARGET,
    TIMESTAMP,
    TRUE_PROBABILITY,
    SimulatedData,
    outcome_logit,
    simulate,
    write_tables,
)

P = SyntheticParams(n_customers=5000)
FEATURES = ["age", "income", "tenure_months", "monthly_fee", "support_calls", "satisfaction",
            "plan", "region", "channel", "payment_method"]


@pytest.fixture(scope="module")
def sim() -> SimulatedData:
    return simulate(P, seed=7)


def _event_arrays(sim: SimulatedData, p: SyntheticParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customer index, days before snapshot and type code of each event (test-side decoding)."""
    cust = pd.Index(sim.customers[ID]).get_indexer(sim.events[ID])
    ts = sim.events[TIMESTAMP].to_numpy().astype(np.int64)
    days_before = (pd.Timestamp(p.snapshot_date).value - ts) / sim_mod.DAY_NS
    code = pd.Categorical(sim.events[EVENT_TYPE], categories=list(EVENT_TYPES)).codes.astype(np.int64)
    return cust, days_before, code


def _shuffle_times_within_customer(events: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Permute timestamps among each customer's own events (events are sorted by customer)."""
    cust = pd.factorize(events[ID])[0]
    assert (np.diff(cust) >= 0).all()
    order = np.lexsort((np.random.default_rng(seed).random(len(events)), cust))
    return events.assign(**{TIMESTAMP: events[TIMESTAMP].to_numpy()[order]})


def test_same_seed_same_data_other_seed_differs():
    small = dataclasses.replace(P, n_customers=2000)
    a, b, c = simulate(small, 3), simulate(small, 3), simulate(small, 4)
    for name in ("customers", "events", "truth", "clean"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.intercept == b.intercept
    assert not a.customers.equals(c.customers)
    assert not a.truth[TRUE_PROBABILITY].equals(c.truth[TRUE_PROBABILITY])


def test_positive_rate_and_truth(sim):
    customers, truth = sim.customers, sim.truth
    assert list(customers.columns) == [ID, TARGET, *FEATURES]
    assert abs(customers[TARGET].mean() - P.positive_rate) < 0.025
    assert set(customers[TARGET].unique()) == {0, 1}
    prob = truth[TRUE_PROBABILITY].to_numpy()
    assert ((prob > 0) & (prob < 1)).all()
    assert prob.mean() == pytest.approx(P.positive_rate, abs=1e-6)   # intercept solved on the truth
    assert truth[ID].tolist() == customers[ID].tolist()
    assert roc_auc_score(customers[TARGET], prob) > 0.75


def test_ids_unique_strings(sim):
    ids = sim.customers[ID]
    assert ids.is_unique
    assert ids.map(type).eq(str).all()
    assert ids.str.fullmatch(r"C\d{7}").all() and ids.iloc[42] == "C0000042"
    assert set(sim.events[ID].unique()) <= set(ids)


def test_missing_values_mar_and_mnar(sim):
    obs, clean = sim.customers, sim.clean
    rates = obs[FEATURES].isna().mean()
    assert (rates[["age", "income", "satisfaction", "region", "payment_method"]] > 0.01).all()
    assert rates[["plan", "channel", "monthly_fee", "tenure_months"]].eq(0).all()
    assert not clean[FEATURES].isna().any().any()
    # MAR: age missingness depends on an observed column (channel)
    age_missing = obs["age"].isna()
    by_channel = age_missing.groupby(obs["channel"]).mean()
    assert by_channel[["store", "partner"]].min() > 2 * by_channel["web"]
    # MNAR: missing incomes are high incomes; missing satisfaction means unhappy (and more churn)
    income_missing = obs["income"].isna()
    assert clean["income"][income_missing].median() > 1.3 * clean["income"][~income_missing].median()
    sat_missing = obs["satisfaction"].isna()
    assert clean["satisfaction"][sat_missing].mean() < clean["satisfaction"][~sat_missing].mean() - 1
    assert obs[TARGET][sat_missing].mean() > obs[TARGET][~sat_missing].mean()


def test_outliers_are_typos_and_the_rest_is_clean():
    sim = simulate(dataclasses.replace(P, n_customers=3000, outlier_rate=0.05), seed=1)
    obs, clean = sim.customers, sim.clean
    assert (obs["age"] == 999).sum() > 10
    assert (obs["monthly_fee"] > 1000).sum() > 10
    assert (obs["tenure_months"] > clean["tenure_months"]).sum() > 10
    assert (obs["income"] > 50 * clean["income"]).sum() > 10
    numeric = FEATURES[:6]
    assert (obs[numeric].dropna() >= 0).all().all()       # no negative tenure, fee, ...
    changed = (obs[numeric] != clean[numeric]) & obs[numeric].notna()
    assert changed.any(axis=1).mean() == pytest.approx(0.05, abs=0.015)
    assert changed.sum(axis=1).max() == 1                  # one typo per affected row


def test_events_window_types_and_amounts(sim):
    events = sim.events
    assert list(events.columns) == [ID, TIMESTAMP, EVENT_TYPE, AMOUNT]
    assert events[TIMESTAMP].dtype == "datetime64[ns]"
    snapshot = pd.Timestamp(P.snapshot_date)
    assert (events[TIMESTAMP] < snapshot).all()
    assert (events[TIMESTAMP] >= snapshot - pd.Timedelta(days=P.history_days)).all()
    assert set(events[EVENT_TYPE].astype(str).unique()) == set(EVENT_TYPES)
    monetary = events[EVENT_TYPE].isin(["purchase", "payment_ok", "payment_failed"])
    assert events.loc[monetary, AMOUNT].notna().all() and events.loc[~monetary, AMOUNT].isna().all()
    assert (events.loc[monetary, AMOUNT] > 0).all()
    assert len(events) / len(sim.customers) == pytest.approx(P.events_per_customer, rel=0.1)
    per_customer = events[ID].value_counts().reindex(sim.customers[ID], fill_value=0)
    assert (per_customer == 0).sum() > 0.01 * len(per_customer)


def test_fading_activity_precedes_churn(sim):
    cust, days_before, _ = _event_arrays(sim, P)
    n = len(sim.customers)
    recent = np.bincount(cust[days_before < 30], minlength=n)
    earlier = np.bincount(cust[(days_before >= 30) & (days_before < 120)], minlength=n)
    log_trend = np.log((recent + 0.5) / (earlier / 3 + 0.5))   # last 30 days vs the 90 before, per 30 days
    churn = sim.customers[TARGET].to_numpy() == 1
    assert log_trend[churn].mean() < log_trend[~churn].mean() - 0.2


def test_outcome_logit_reproduces_truth_for_any_row_order(sim):
    truth = sim.truth[TRUE_PROBABILITY].to_numpy()
    np.testing.assert_allclose(sim_mod._sigmoid(outcome_logit(sim, P)), truth, rtol=0, atol=1e-12)
    reordered = sim.events.sample(frac=1.0, random_state=0)
    np.testing.assert_allclose(sim_mod._sigmoid(outcome_logit(sim, P, reordered)), truth, rtol=0, atol=1e-12)


def test_order_signal_is_lost_when_times_are_shuffled_within_customer(sim):
    churn = sim.customers[TARGET]
    shuffled = _shuffle_times_within_customer(sim.events, seed=0)
    auc_true = roc_auc_score(churn, sim.truth[TRUE_PROBABILITY])
    auc_shuffled = roc_auc_score(churn, outcome_logit(sim, P, shuffled))
    assert auc_shuffled < auc_true - 0.005
    without_order = dataclasses.replace(P, order_effect=0.0)   # the shuffle touches nothing but the order term
    np.testing.assert_allclose(outcome_logit(sim, without_order, shuffled), outcome_logit(sim, without_order))


def test_counts_cannot_tell_the_order(sim):
    cust, days_before, code = _event_arrays(sim, P)
    n = len(sim.customers)
    flag = sim_mod.complaint_then_failure(cust, days_before, code, n)
    k = len(EVENT_TYPES)
    recent = days_before < sim_mod.ORDER_WINDOW_DAYS
    all_counts = np.bincount(cust * k + code, minlength=n * k).reshape(n, k)
    window_counts = np.bincount(cust[recent] * k + code[recent], minlength=n * k).reshape(n, k)
    one_each = (window_counts[:, sim_mod.TICKET] == 1) & (window_counts[:, sim_mod.PAY_FAILED] == 1)
    assert one_each.sum() > 100 and 0.35 < flag[one_each].mean() < 0.65   # a coin flip given the counts
    counts = np.log1p(np.column_stack([all_counts, window_counts]))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    churn = sim.customers[TARGET]
    auc = {name: roc_auc_score(churn, cross_val_predict(model, X, churn, cv=5, method="predict_proba")[:, 1])
           for name, X in {"counts": counts, "counts+order": np.column_stack([counts, flag])}.items()}
    assert auc["counts+order"] > auc["counts"] + 0.005


def _assert_same_draws(a: SimulatedData, b: SimulatedData) -> None:
    pd.testing.assert_frame_equal(a.clean, b.clean)
    pd.testing.assert_frame_equal(a.customers.drop(columns=TARGET), b.customers.drop(columns=TARGET))
    pd.testing.assert_frame_equal(a.events, b.events)


def test_new_knobs_off_change_nothing(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("data:\n  synthetic:\n    n_customers: 800\n")
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("data:\n  synthetic:\n    n_customers: 800\n    order_pattern_effect: 0\n    event_types: []\n")
    a, b = (simulate(load_params(path).data.synthetic, seed=3) for path in (base, explicit))
    _assert_same_draws(a, b)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert a.intercept == b.intercept and a.all_events is None and b.all_events is None
    # switched on, the pattern draws nothing: every table but churn/truth is the same
    on = simulate(dataclasses.replace(load_params(base).data.synthetic, order_pattern_effect=2.0), seed=3)
    _assert_same_draws(a, on)
    assert not np.allclose(on.truth[TRUE_PROBABILITY], a.truth[TRUE_PROBABILITY])


@pytest.fixture(scope="module")
def pattern_sim() -> tuple[SyntheticParams, SimulatedData]:
    p = SyntheticParams(n_customers=3000, events_per_customer=30, order_pattern_effect=2.5)
    return p, simulate(p, seed=11)


def test_order_pattern_is_order_only(pattern_sim):
    p, sim = pattern_sim
    truth = sim.truth[TRUE_PROBABILITY].to_numpy()
    reordered = sim.events.sample(frac=1.0, random_state=1)   # the flag does not depend on row order
    np.testing.assert_allclose(sim_mod._sigmoid(outcome_logit(sim, p, reordered)), truth, rtol=0, atol=1e-12)
    shuffled = _shuffle_times_within_customer(sim.events, seed=0)
    no_old = dataclasses.replace(p, order_effect=0.0)          # isolate the new term from the 90-day one
    n = len(sim.customers)
    flag, flag_shuffled = (sim_mod.browse_then_login(*_event_arrays(dataclasses.replace(sim, events=e), p), n)
                           for e in (sim.events, shuffled))
    assert 0.2 < (flag != flag_shuffled).mean()                # the shuffle does move the flag
    np.testing.assert_allclose(outcome_logit(sim, no_old, shuffled) - outcome_logit(sim, no_old),
                               p.order_pattern_effect * (flag_shuffled.astype(float) - flag), atol=1e-9)
    churn = sim.customers[TARGET]
    assert roc_auc_score(churn, outcome_logit(sim, p, shuffled)) < roc_auc_score(churn, truth) - 0.03


def test_order_pattern_prevalence_is_a_coin_flip_given_counts(pattern_sim):
    p, sim = pattern_sim
    cust, days_before, code = _event_arrays(sim, p)
    n, k = len(sim.customers), len(EVENT_TYPES)
    flag = sim_mod.browse_then_login(cust, days_before, code, n)
    counts = np.bincount(cust * k + code, minlength=n * k).reshape(n, k)
    both = (counts[:, sim_mod.LOGIN] > 0) & (counts[:, sim_mod.PAGE_VIEW] > 0)
    assert both.mean() > 0.75                                  # most customers have the involved types
    assert 0.2 < flag[both].mean() < 0.8 and not flag[~both].any()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    guess = cross_val_predict(model, np.log1p(counts[both]), flag[both], cv=3, method="predict_proba")[:, 1]
    assert roc_auc_score(flag[both], guess) < 0.6              # counts cannot tell it


def test_purchase_only_log_hides_the_rest_but_not_their_effect(tmp_path):
    full_p = SyntheticParams(n_customers=600, events_per_customer=12)
    full, only = simulate(full_p, seed=9), simulate(dataclasses.replace(full_p, event_types=["purchase"]), seed=9)
    pd.testing.assert_frame_equal(only.truth, full.truth)
    pd.testing.assert_frame_equal(only.customers, full.customers)
    purchases = full.events[full.events[EVENT_TYPE] == "purchase"].reset_index(drop=True)
    assert len(only.events) == len(purchases) > 0
    pd.testing.assert_frame_equal(only.events.astype({EVENT_TYPE: str}), purchases.astype({EVENT_TYPE: str}))
    pd.testing.assert_frame_equal(only.all_events, full.events)
    np.testing.assert_allclose(sim_mod._sigmoid(outcome_logit(only, full_p)), full.truth[TRUE_PROBABILITY], atol=1e-12)
    write_tables(only, tmp_path, "csv")
    written = read_table(tmp_path / "events.csv", "events", string_columns=(ID,))
    assert set(written[EVENT_TYPE]) == {"purchase"} and len(written) == len(purchases)


def test_bad_event_types_fail_cleanly(tmp_path):
    with pytest.raises(InputError, match=r"data\.synthetic\.event_types .*'purchases'.*allowed: \['login'") as info:
        simulate(dataclasses.replace(P, n_customers=10, event_types=["purchases"]), seed=0)
    assert "\n" not in str(info.value)
    params = tmp_path / "params.yaml"
    for bad in ("event_types: purchase", "order_pattern_effect: strong"):
        params.write_text(f"data:\n  synthetic:\n    {bad}\n")
        with pytest.raises(InputError, match=f"'data.synthetic.{bad.split(':')[0]}' should be"):
            load_params(params)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_main_writes_three_tables(tmp_path, fmt):
    params = tmp_path / "params.yaml"
    params.write_text("seed: 5\ndata:\n  synthetic:\n    n_customers: 700\n    events_per_customer: 8\n")
    out = tmp_path / "raw"
    simulate_entry.main(["--out", str(out), "--params", str(params), "--format", fmt, "--n-customers", "300"])
    expected = simulate(SyntheticParams(n_customers=300, events_per_customer=8), seed=5)
    customers = read_table(out / f"customers.{fmt}", "customers", string_columns=(ID,))
    events = read_table(out / f"events.{fmt}", "events", string_columns=(ID,))
    truth = read_table(out / f"truth.{fmt}", "truth", string_columns=(ID,))
    assert list(customers.columns) == [ID, TARGET, *FEATURES] and len(customers) == 300
    assert customers[ID].tolist() == expected.customers[ID].tolist()
    assert customers[TARGET].astype(int).tolist() == expected.customers[TARGET].tolist()   # CSV cells are text
    assert list(events.columns) == [ID, TIMESTAMP, EVENT_TYPE, AMOUNT] and len(events) == len(expected.events)
    assert (pd.to_datetime(events[TIMESTAMP]) == expected.events[TIMESTAMP]).all()
    assert list(truth.columns) == [ID, TRUE_PROBABILITY]
    np.testing.assert_allclose(truth[TRUE_PROBABILITY].astype(float), expected.truth[TRUE_PROBABILITY])
    assert not list(out.glob(".*"))   # no temp files left behind


def test_bad_params_fail_cleanly(tmp_path, capsys):
    with pytest.raises(InputError, match="positive_rate"):
        simulate(dataclasses.replace(P, positive_rate=1.5), seed=0)
    params = tmp_path / "params.yaml"
    params.write_text("data:\n  synthetic:\n    n_customers: 0\n")
    with pytest.raises(SystemExit) as exit_info:
        simulate_entry.main(["--out", str(tmp_path / "raw"), "--params", str(params)])
    assert exit_info.value.code == 2
    assert "n_customers" in capsys.readouterr().err
