"""SequenceEncoder: last-L truncation, left alignment, type ids, channels, leakage, save/load."""
from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import hand_event_log as hand_log
from sklearn.exceptions import NotFittedError

from pipeline.core.errors import InputError
from pipeline.events.sequence_encoder import SequenceEncoder
from pipeline.events.sequences import SequenceBatch, load_sequences, save_sequences

AS_OF = pd.Timestamp("2024-01-31")
IDS = ["a", "b", "c", "d"]          # d has no events
VISIT, PURCHASE, TICKET = 2, 3, 4   # vocabulary by frequency: visit 5, purchase 3, support_ticket 2


def future_events() -> pd.DataFrame:
    rows = [("a", AS_OF, "refund", 1e6), ("b", AS_OF + pd.Timedelta(days=3), "purchase", -5.0),
            ("d", AS_OF + pd.Timedelta(days=9), "visit", 7.0), ("e", AS_OF, "brand_new", 3.0)]
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "amount"])


def fitted_state(model: SequenceEncoder) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in vars(model).items() if k.endswith("_")}


def assert_same_batch(left: SequenceBatch, right: SequenceBatch) -> None:
    for name in ("types", "values", "lengths", "customer_ids"):
        a, b = getattr(left, name), getattr(right, name)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), name
    assert left.channels == right.channels and left.type_names == right.type_names


@pytest.fixture
def encoder() -> SequenceEncoder:
    return SequenceEncoder(max_len=3).fit(hand_log(), AS_OF)


def test_last_events_left_aligned_in_time_order(encoder: SequenceEncoder) -> None:
    batch = encoder.transform(hand_log(), IDS, AS_OF)
    assert batch.types.dtype == np.int32 and batch.values.dtype == np.float32 and batch.lengths.dtype == np.int32
    assert batch.types.shape == (4, 3) and batch.values.shape == (4, 3, 7)
    np.testing.assert_array_equal(batch.lengths, [3, 3, 2, 0])
    np.testing.assert_array_equal(batch.types, [[VISIT, PURCHASE, TICKET],   # a: its last 3 of 5
                                                [PURCHASE, VISIT, VISIT],
                                                [VISIT, TICKET, 0],
                                                [0, 0, 0]])
    assert (batch.values[2, 2] == 0).all() and (batch.values[3] == 0).all()   # padding is zeros
    assert list(batch.customer_ids) == IDS and batch.channels == [
        "amount", "log_gap_hours", "log_age_days", "dow_sin", "dow_cos", "hour_sin", "hour_cos"]
    assert batch.type_names == ["<pad>", "<other>", "visit", "purchase", "support_ticket"]
    assert batch.n_types == 5 and len(batch) == 4


def test_fitted_means_and_stds_by_hand(encoder: SequenceEncoder) -> None:
    gap_days = np.array([10, 30, 10, 10, 10, 20, 4.5])                 # within-customer gaps
    age_days = np.array([61, 51, 21, 11, 1, 90, 80, 60, 6, 1.5])
    for j, raw in enumerate([np.array([10.0, 30.0, 100.0]), np.log1p(gap_days * 24), np.log1p(age_days)]):
        assert encoder.means_[j] == pytest.approx(raw.mean()) and encoder.stds_[j] == pytest.approx(raw.std())


def test_calendar_channels_by_hand() -> None:
    """c's last event is a Monday at noon: on the week's circle a seventh past Sunday-Monday midnight, on
    the day's circle half way round. A log of dates only has no time-of-day channels."""
    encoder = SequenceEncoder(max_len=3).fit(hand_log(), AS_OF)
    batch = encoder.transform(hand_log(), IDS, AS_OF)
    raw = batch.values[2, 1] * encoder.stds_ + encoder.means_          # undo the standardisation
    names = batch.channels
    assert pd.Timestamp("2024-01-29").day_of_week == 0                     # Monday
    np.testing.assert_allclose(raw[names.index("dow_sin")], 0.0, atol=1e-6)
    np.testing.assert_allclose(raw[names.index("dow_cos")], 1.0, atol=1e-6)
    np.testing.assert_allclose(raw[names.index("hour_sin")], 0.0, atol=1e-6)
    np.testing.assert_allclose(raw[names.index("hour_cos")], -1.0, atol=1e-6)
    dates_only = hand_log().assign(timestamp=lambda e: e["timestamp"].dt.floor("D"))
    assert SequenceEncoder(max_len=3).fit(dates_only, AS_OF).channels_[-2:] == ["dow_sin", "dow_cos"]


def test_channel_values_by_hand(encoder: SequenceEncoder) -> None:
    batch = encoder.transform(hand_log(), IDS, AS_OF)
    mean, std = encoder.means_, encoder.stds_
    a = batch.values[0]
    # a's first kept event (2024-01-10) still sees its real previous event 30 days before
    np.testing.assert_allclose(a[:, 1], (np.log1p(np.array([30, 10, 10]) * 24.0) - mean[1]) / std[1], rtol=1e-6)
    np.testing.assert_allclose(a[:, 2], (np.log1p([21, 11, 1]) - mean[2]) / std[2], rtol=1e-6)
    np.testing.assert_allclose(a[:, 0], [0.0, (30 - mean[0]) / std[0], 0.0], rtol=1e-6)   # NaN amount -> 0
    assert batch.values[1, 0, 1] == 0.0      # b's first event ever: no previous event -> 0 (the mean)


def test_truncation_keeps_most_recent_even_when_unsorted() -> None:
    shuffled = hand_log().sample(frac=1.0, random_state=1)
    shuffled["timestamp"] = shuffled["timestamp"].astype("datetime64[us]")
    batch = SequenceEncoder(max_len=2).fit(shuffled, AS_OF).transform(shuffled, ["c", "a", "d", "b"], AS_OF)
    np.testing.assert_array_equal(batch.lengths, [2, 2, 0, 2])
    np.testing.assert_array_equal(batch.types, [[VISIT, TICKET], [PURCHASE, TICKET], [0, 0], [VISIT, VISIT]])
    assert list(batch.customer_ids) == ["c", "a", "d", "b"]


def test_long_max_len_keeps_whole_histories() -> None:
    batch = SequenceEncoder(max_len=8).fit(hand_log(), AS_OF).transform(hand_log(), IDS, AS_OF)
    np.testing.assert_array_equal(batch.lengths, [5, 3, 2, 0])
    np.testing.assert_array_equal(batch.types[0], [VISIT, PURCHASE, VISIT, PURCHASE, TICKET, 0, 0, 0])
    assert (batch.values[0, 5:] == 0).all()


def test_unknown_types_get_id_1() -> None:
    events = hand_log()
    encoder = SequenceEncoder(max_len=5, max_event_types=2).fit(events, AS_OF)   # support_ticket -> other
    test = events.copy()
    test.loc[0, "event_type"] = "never_seen"
    test.loc[1, "event_type"] = None
    batch = encoder.transform(test, IDS, AS_OF)
    np.testing.assert_array_equal(batch.types[0], [1, 1, VISIT, PURCHASE, 1])
    assert batch.type_names == ["<pad>", "<other>", "visit", "purchase"]


def test_without_event_type_column_every_event_is_type_1() -> None:
    events = hand_log().drop(columns="event_type")
    batch = SequenceEncoder(max_len=3).fit(events, AS_OF).transform(events, IDS, AS_OF)
    np.testing.assert_array_equal(batch.types, [[1, 1, 1], [1, 1, 1], [1, 1, 0], [0, 0, 0]])


def test_events_at_or_after_as_of_change_nothing(encoder: SequenceEncoder) -> None:
    with_future = pd.concat([hand_log(), future_events()], ignore_index=True)
    dirty = SequenceEncoder(max_len=3).fit(with_future, AS_OF)
    assert fitted_state(dirty) == fitted_state(encoder)
    assert_same_batch(dirty.transform(with_future, IDS, AS_OF), encoder.transform(hand_log(), IDS, AS_OF))


def test_fit_sees_only_train_events_and_test_events_never_leak() -> None:
    events = hand_log()
    train = events[events["customer_id"].isin(["a", "b"])]
    encoder = SequenceEncoder(max_len=4).fit(train, AS_OF)
    state = fitted_state(encoder)
    changed = events.copy()
    test_rows = changed["customer_id"] == "c"
    changed.loc[test_rows, "event_type"] = "refund"
    changed.loc[test_rows, "amount"] = 1e9
    first = encoder.transform(events, IDS, AS_OF)
    second = encoder.transform(changed, IDS, AS_OF)
    assert fitted_state(encoder) == state and fitted_state(SequenceEncoder(max_len=4).fit(train, AS_OF)) == state
    assert fitted_state(SequenceEncoder(max_len=4).fit(changed, AS_OF, customer_ids=pd.Index(["b", "a"]))) == state
    assert encoder.means_[0] == pytest.approx(np.mean([10.0, 30.0, 100.0]))   # train amounts only
    unchanged = [0, 1, 3]                                                     # a, b, d
    np.testing.assert_array_equal(first.values[unchanged], second.values[unchanged])
    np.testing.assert_array_equal(first.types[unchanged], second.types[unchanged])
    np.testing.assert_array_equal(second.types[2, :2], [1, 1])                # refund: unknown
    assert_same_batch(encoder.transform(train, ["b"], AS_OF), _rows(first, [1]))


def _rows(batch: SequenceBatch, rows: list[int]) -> SequenceBatch:
    return SequenceBatch(types=batch.types[rows], values=batch.values[rows], lengths=batch.lengths[rows],
                         customer_ids=batch.customer_ids[rows], channels=batch.channels,
                         type_names=batch.type_names)


def test_save_load_round_trip_is_exact_and_pickle_free(encoder: SequenceEncoder, tmp_path) -> None:
    batch = encoder.transform(hand_log(), ["a", "b", "c", "d", "00042"], AS_OF)
    path = tmp_path / "sequences.npz"
    save_sequences(batch, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sequences.npz"]      # atomic: no temp left
    with np.load(path, allow_pickle=False) as data:                         # would raise on object arrays
        assert all(data[name].dtype.kind != "O" for name in data.files)
        assert data["customer_ids"].dtype.kind == "U"
    assert zipfile.is_zipfile(path)
    loaded = load_sequences(path)
    assert_same_batch(loaded, batch)
    assert list(loaded.customer_ids) == ["a", "b", "c", "d", "00042"] and isinstance(loaded.customer_ids[4], str)


def test_empty_batch_round_trip(encoder: SequenceEncoder, tmp_path) -> None:
    batch = encoder.transform(hand_log().iloc[:0], [], AS_OF)
    save_sequences(batch, tmp_path / "empty.npz")
    loaded = load_sequences(tmp_path / "empty.npz")
    assert loaded.types.shape == (0, 3) and loaded.values.shape == (0, 3, 7) and len(loaded.customer_ids) == 0


def test_random_log_outputs_are_finite() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    events = pd.DataFrame({
        "customer_id": rng.integers(0, 300, n).astype(str),
        "timestamp": AS_OF - pd.to_timedelta(rng.integers(-20, 400, n), unit="h"),
        "event_type": rng.choice(["x", "y", "z", None], n),
        "amount": np.where(rng.random(n) < 0.5, np.nan, rng.lognormal(3, 1, n)),
        "qty": rng.choice([1.0, 1.0, np.inf], n),
    })
    ids = [str(i) for i in range(320)]
    batch = SequenceEncoder(max_len=16).fit(events, AS_OF).transform(events, ids, AS_OF)
    assert np.isfinite(batch.values).all() and batch.lengths.max() == 16 and (batch.lengths[300:] == 0).all()
    positions = np.arange(16)[None, :]
    assert ((batch.types > 0) == (positions < batch.lengths[:, None])).all()   # real steps exactly 0..len-1


def test_bad_input_is_a_clear_error(encoder: SequenceEncoder, tmp_path) -> None:
    with pytest.raises(NotFittedError):
        SequenceEncoder().transform(hand_log(), IDS, AS_OF)
    with pytest.raises(InputError, match="amount"):
        encoder.transform(hand_log().drop(columns="amount"), IDS, AS_OF)
    with pytest.raises(InputError, match="unique"):
        encoder.transform(hand_log(), ["a", "b", "a"], AS_OF)
    with pytest.raises(InputError, match="max_len"):
        SequenceEncoder(max_len=0).fit(hand_log(), AS_OF)
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(InputError, match="not a sequence file"):
        load_sequences(tmp_path / "other.npz")
