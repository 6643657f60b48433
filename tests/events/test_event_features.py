"""EventAggregator: hand-computed features on a 3-customer log, fills, ordering, leakage, no NaN."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import hand_event_log as hand_log
from sklearn.exceptions import NotFittedError

from pipeline.core.errors import InputError
from pipeline.events.aggregates import EventAggregator

AS_OF = pd.Timestamp("2024-01-31")
IDS = ["a", "b", "c", "d"]          # d has no events
NEVER = 91.0                        # history starts 2023-11-02 (b's first event): 90 days + 1


def future_events() -> pd.DataFrame:
    """Events at and after as_of, new types and customers included: none may change anything."""
    rows = [("a", AS_OF, "refund", 1e6), ("b", AS_OF + pd.Timedelta(days=3), "purchase", -5.0),
            ("c", AS_OF + pd.Timedelta(hours=1), "support_ticket", np.nan),
            ("d", AS_OF + pd.Timedelta(days=9), "visit", 7.0), ("e", AS_OF, "brand_new", 3.0)]
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "amount"])


def fitted_state(model: EventAggregator) -> dict:
    return {k: v for k, v in vars(model).items() if k.endswith("_")}


@pytest.fixture
def features() -> pd.DataFrame:
    events = hand_log()
    return EventAggregator(windows_days=(30, 90)).fit(events, AS_OF).transform(events, IDS, AS_OF)


# (customer, column) -> value computed by hand; as_of 2024-01-31, windows start 2024-01-01 / 2023-11-02
EXPECTED = {
    "a": {"ev_has_events": 1, "ev_count": 5, "ev_recency_days": 1, "ev_tenure_days": 61,
          "ev_events_per_30d": 5 / 61 * 30,
          "ev_gap_mean_days": 15, "ev_gap_std_days": np.sqrt(75), "ev_gap_max_days": 30, "ev_gap_last_days": 10,
          "ev_amount_n": 2, "ev_amount_sum": 40, "ev_amount_mean": 20, "ev_amount_std": 10, "ev_amount_max": 30,
          # 3 events since Jan 1; 2 earlier over 31 days -> 60/31 per 30 days
          "ev_count_last_30d": 3, "ev_trend_30d": 4 / (60 / 31 + 1),
          "ev_count_last_90d": 5, "ev_trend_90d": 6,
          "ev_count__visit": 2, "ev_count__purchase": 2, "ev_count__support_ticket": 1, "ev_count__other": 0,
          "ev_share__visit": 0.4, "ev_share__purchase": 0.4, "ev_share__support_ticket": 0.2,
          "ev_days_since__visit": 21, "ev_days_since__purchase": 11, "ev_days_since__support_ticket": 1,
          "ev_days_since__other": NEVER},
    "b": {"ev_count": 3, "ev_recency_days": 60, "ev_tenure_days": 90, "ev_events_per_30d": 1,
          "ev_gap_mean_days": 15, "ev_gap_std_days": 5, "ev_gap_max_days": 20, "ev_gap_last_days": 20,
          "ev_amount_n": 1, "ev_amount_sum": 100, "ev_amount_std": 0, "ev_amount_max": 100,
          # fading: nothing in the last 30 days against 3 events in 60 days before
          "ev_count_last_30d": 0, "ev_trend_30d": 1 / (1.5 + 1), "ev_count_last_90d": 3, "ev_trend_90d": 4,
          "ev_share__visit": 2 / 3, "ev_days_since__visit": 60, "ev_days_since__purchase": 90,
          "ev_days_since__support_ticket": NEVER},
    "c": {"ev_count": 2, "ev_recency_days": 1.5, "ev_tenure_days": 6, "ev_events_per_30d": 2,
          "ev_gap_mean_days": 4.5, "ev_gap_std_days": 0, "ev_gap_max_days": 4.5, "ev_gap_last_days": 4.5,
          "ev_amount_n": 0, "ev_amount_sum": 0, "ev_amount_mean": 0, "ev_amount_max": 0,
          "ev_count_last_30d": 2, "ev_trend_30d": 3, "ev_days_since__purchase": NEVER,
          "ev_days_since__support_ticket": 1.5},
    "d": {"ev_has_events": 0, "ev_count": 0, "ev_recency_days": NEVER, "ev_tenure_days": 0,
          "ev_gap_mean_days": 0, "ev_gap_max_days": 0, "ev_amount_n": 0, "ev_amount_sum": 0,
          "ev_count_last_30d": 0, "ev_trend_30d": 1, "ev_trend_90d": 1, "ev_count__visit": 0,
          "ev_share__visit": 0, "ev_days_since__visit": NEVER, "ev_days_since__other": NEVER},
}


@pytest.mark.parametrize("customer", IDS)
def test_hand_computed_features(features: pd.DataFrame, customer: str) -> None:
    row = features.loc[customer]
    for column, expected in EXPECTED[customer].items():
        assert row[column] == pytest.approx(expected, rel=1e-12, abs=1e-12), column


def test_output_shape_names_and_no_nan(features: pd.DataFrame) -> None:
    assert list(features.index) == IDS and features.index.name == "customer_id"
    assert all(c.startswith("ev_") for c in features.columns)
    assert (features.dtypes == np.float64).all()
    assert np.isfinite(features.to_numpy()).all()


def test_feature_names_known_after_fit() -> None:
    model = EventAggregator().fit(hand_log(), AS_OF)
    assert model.get_feature_names_out() == list(model.transform(hand_log(), IDS, AS_OF).columns)


def test_row_order_follows_customer_ids(features: pd.DataFrame) -> None:
    order = ["d", "c", "a", "b", "zz"]        # zz: unknown to the log, like d
    model = EventAggregator().fit(hand_log(), AS_OF)
    out = model.transform(hand_log(), pd.Index(order), AS_OF)
    assert list(out.index) == order
    pd.testing.assert_frame_equal(out.loc[IDS], features)
    pd.testing.assert_series_equal(out.loc["zz"], features.loc["d"], check_names=False)


def test_unsorted_input_and_timestamp_resolution_do_not_matter(features: pd.DataFrame) -> None:
    shuffled = hand_log().sample(frac=1.0, random_state=3)
    shuffled["timestamp"] = shuffled["timestamp"].astype("datetime64[s]")
    shuffled["customer_id"] = shuffled["customer_id"].astype(object)
    model = EventAggregator().fit(shuffled, AS_OF)
    pd.testing.assert_frame_equal(model.transform(shuffled, IDS, AS_OF), features)


def test_categorical_and_nullable_dtypes_give_the_same_features(features: pd.DataFrame) -> None:
    events = hand_log().astype({"customer_id": "category", "event_type": "category", "amount": "Float64"})
    model = EventAggregator().fit(events, AS_OF)
    pd.testing.assert_frame_equal(model.transform(events, IDS, AS_OF), features)


def test_rare_unseen_and_missing_types_go_to_other() -> None:
    events = hand_log()
    model = EventAggregator(max_event_types=2).fit(events, AS_OF)
    assert model.vocabulary_ == ["visit", "purchase"]           # by frequency: 5, 3 (support_ticket: 2)
    test = events.copy()
    test.loc[0, "event_type"] = "never_seen"                     # a's first visit
    test.loc[5, "event_type"] = None                             # b's purchase
    out = model.transform(test, IDS, AS_OF)
    assert out.loc["a", "ev_count__other"] == 2 and out.loc["a", "ev_count__visit"] == 1
    assert out.loc["a", "ev_days_since__other"] == pytest.approx(1.0)   # the support ticket
    assert out.loc["b", "ev_count__other"] == 1 and out.loc["b", "ev_count__purchase"] == 0
    assert out.loc["c", "ev_share__other"] == 0.5
    assert "ev_count__support_ticket" not in out.columns and "ev_count__never_seen" not in out.columns


def test_type_names_are_sanitised_and_other_is_reserved() -> None:
    events = hand_log()
    events["event_type"] = events["event_type"].replace({"visit": "page view", "purchase": "other"})
    model = EventAggregator().fit(events, AS_OF)
    out = model.transform(events, IDS, AS_OF)
    assert "ev_count__page_view" in out.columns
    assert out.loc["a", "ev_count__other"] == 2                  # a type literally called "other" is the bucket


def test_without_event_type_column_type_features_are_omitted() -> None:
    events = hand_log().drop(columns="event_type")
    out = EventAggregator().fit(events, AS_OF).transform(events, IDS, AS_OF)
    assert not [c for c in out.columns if "__" in c]
    assert out.loc["a", "ev_count"] == 5 and out.loc["a", "ev_amount_sum"] == 40


def test_empty_event_log_gives_documented_fills() -> None:
    model = EventAggregator().fit(hand_log(), AS_OF)
    out = model.transform(hand_log().iloc[:0], ["a", "b"], AS_OF)
    assert (out["ev_has_events"] == 0).all() and (out["ev_recency_days"] == NEVER).all()
    assert (out["ev_trend_30d"] == 1).all() and (out["ev_count"] == 0).all()
    assert np.isfinite(out.to_numpy()).all()


def test_events_at_or_after_as_of_change_nothing(features: pd.DataFrame) -> None:
    with_future = pd.concat([hand_log(), future_events()], ignore_index=True)
    clean = EventAggregator().fit(hand_log(), AS_OF)
    dirty = EventAggregator().fit(with_future, AS_OF)
    assert fitted_state(dirty) == fitted_state(clean)
    pd.testing.assert_frame_equal(dirty.transform(with_future, IDS, AS_OF), features)


def test_fit_sees_only_train_events_and_test_events_never_leak() -> None:
    events = hand_log()
    train = events[events["customer_id"].isin(["a", "b"])]
    model = EventAggregator().fit(train, AS_OF)
    state = fitted_state(model)
    assert model.history_start_ns_ == pd.Timestamp("2023-11-02").value
    changed = events.copy()
    test_rows = changed["customer_id"] == "c"
    changed.loc[test_rows, "event_type"] = "refund"              # a type only a test customer has
    changed.loc[test_rows, "amount"] = 1e9
    out_a = model.transform(events, IDS, AS_OF)
    out_b = model.transform(changed, IDS, AS_OF)
    assert fitted_state(model) == state                          # transform learns nothing
    assert fitted_state(EventAggregator().fit(train, AS_OF)) == state
    assert fitted_state(EventAggregator().fit(changed, AS_OF, customer_ids=["a", "b"])) == state
    assert "refund" not in model.vocabulary_ and out_b.loc["c", "ev_count__other"] == 2
    pd.testing.assert_frame_equal(out_a.loc[["a", "b", "d"]], out_b.loc[["a", "b", "d"]])
    # and a customer's row does not depend on which other customers are transformed with it
    pd.testing.assert_frame_equal(model.transform(train, ["b"], AS_OF), out_a.loc[["b"]])


def test_random_log_with_missing_and_infinite_values_is_finite() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    events = pd.DataFrame({
        "customer_id": rng.integers(0, 300, n).astype(str),
        "timestamp": AS_OF - pd.to_timedelta(rng.integers(-20, 400, n), unit="D"),
        "event_type": rng.choice(["x", "y", "z", None], n),
        "amount": np.where(rng.random(n) < 0.5, np.nan, rng.lognormal(3, 1, n)),
        "qty": rng.choice([1.0, 2.0, np.inf, -np.inf], n),
    })
    ids = [str(i) for i in range(320)]
    out = EventAggregator(windows_days=[7, 30, 180]).fit(events, AS_OF).transform(events, ids, AS_OF)
    assert np.isfinite(out.to_numpy()).all() and len(out) == 320
    assert out["ev_count"].sum() == (events["timestamp"] < AS_OF).sum()


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(NotFittedError):
        EventAggregator().transform(hand_log(), IDS, AS_OF)
    model = EventAggregator().fit(hand_log(), AS_OF)
    with pytest.raises(InputError, match="unique"):
        model.transform(hand_log(), ["a", "a"], AS_OF)
    with pytest.raises(InputError, match="amount"):
        model.transform(hand_log().drop(columns="amount"), IDS, AS_OF)
    with pytest.raises(InputError, match="timestamp"):
        model.transform(hand_log().assign(timestamp="2024-01-01"), IDS, AS_OF)
    with pytest.raises(InputError, match="windows_days"):
        EventAggregator(windows_days=(0,)).fit(hand_log(), AS_OF)
