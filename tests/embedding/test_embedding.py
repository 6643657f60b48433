"""The CoLES sequence embedding (pipeline/embedding/): learns from train sequences only, one customer's
embedding does not depend on the others in the batch, the contrastive loss learns planted structure,
seeded runs repeat, and new customers are embedded exactly as the pipeline embedded them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import run_stages

from pipeline.core.errors import InputError
from pipeline.core.params import FeatureParams
from pipeline.core.schema import ID
from pipeline.data.prepared import read_prepared_for_features
from pipeline.embedding.embedder import SequenceEmbedder
from pipeline.embedding.follows import FollowsProfile
from pipeline.embedding.loss import softmax_contrastive
from pipeline.embedding.slices import sample_slices
from pipeline.embedding.transitions import TransitionProfile
from pipeline.events.sequences import SequenceBatch
from pipeline.featurization.builder import EMBEDDING_GROUP, FeatureBuilder
from pipeline.featurization.embedding_check import check_embedding
from pipeline.featurization.store import load_split
from pipeline.featurization.transform import load_transform


def habits(n: int = 240, length: int = 24, seed: int = 0) -> SequenceBatch:
    """Every customer has habits of its own that persist across any stretch of its history: a preferred
    pair of event types and a typical level of each value channel. What CoLES should learn to recognise."""
    rng = np.random.default_rng(seed)
    pairs = rng.integers(2, 10, (n, 2))
    types = np.take_along_axis(pairs, rng.integers(0, 2, (n, length)), axis=1)
    lengths = rng.integers(8, length + 1, n)
    live = np.arange(length)[None, :] < lengths[:, None]
    level = rng.normal(size=(n, 1, 2))
    values = np.where(live[..., None], level + 0.7 * rng.normal(size=(n, length, 2)), 0.0).astype(np.float32)
    ids = np.array([f"C{i:04d}" for i in range(n)], dtype=object)
    return SequenceBatch(types=np.where(live, types, 0), values=values, lengths=lengths, customer_ids=ids,
                         n_types=10)


def own_slice_found(embedder: SequenceEmbedder, batch: SequenceBatch, seed: int = 9) -> float:
    """Share of customers whose one random slice is nearest (cosine) to their own other slice."""
    rows = np.arange(len(batch))
    s = sample_slices(batch, rows, views=2, min_share=0.4, min_events=2, rng=np.random.default_rng(seed))
    views = SequenceBatch(types=s.types, values=s.values, lengths=s.lengths, n_types=batch.n_types)
    z = embedder.transform(views)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    first, second = z[0::2], z[1::2]
    return float((np.argmax(first @ second.T, axis=1) == rows).mean())


def test_the_contrastive_loss_falls_and_the_encoder_learns_to_recognise_a_customer():
    batch = habits()
    trained = SequenceEmbedder(dim=8, epochs=8, lr=1e-2, batch_customers=64, random_state=1).fit(batch)
    untrained = SequenceEmbedder(dim=8, epochs=0, random_state=1).fit(batch)
    assert trained.history_[-1] < 0.6 * trained.history_[0]
    assert own_slice_found(trained, batch) > own_slice_found(untrained, batch) + 0.2   # 0.80 against 0.40


def test_a_customers_embedding_does_not_depend_on_the_rest_of_the_batch():
    batch = habits(n=60)
    embedder = SequenceEmbedder(dim=8, epochs=2, random_state=0).fit(batch)
    together = embedder.transform(batch)
    for row in (0, 17, 59):
        alone = embedder.transform(batch.subset([row]))
        np.testing.assert_allclose(alone[0], together[row], rtol=0, atol=1e-6)
    shuffled = np.random.default_rng(0).permutation(len(batch))
    np.testing.assert_allclose(embedder.transform(batch.subset(shuffled)), together[shuffled], rtol=0, atol=1e-6)


def test_same_seed_same_embedding_and_another_seed_differs():
    batch = habits(n=80)
    a = SequenceEmbedder(dim=4, epochs=2, random_state=3).fit(batch).transform(batch)
    b = SequenceEmbedder(dim=4, epochs=2, random_state=3).fit(batch).transform(batch)
    c = SequenceEmbedder(dim=4, epochs=2, random_state=4).fit(batch).transform(batch)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_slices_are_contiguous_stretches_of_their_own_customer():
    batch = habits(n=30)
    rows = np.arange(30)
    s = sample_slices(batch, rows, views=3, min_share=0.5, min_events=2, rng=np.random.default_rng(0))
    assert len(s.lengths) == 90 and (s.lengths >= 2).all()
    for v in range(90):
        source = batch.types[rows[s.owner[v]], :batch.lengths[rows[s.owner[v]]]]
        piece = s.types[v, :s.lengths[v]]
        assert s.lengths[v] >= np.ceil(0.5 * len(source))
        assert any(np.array_equal(source[i:i + len(piece)], piece) for i in range(len(source) - len(piece) + 1))
        assert (s.types[v, s.lengths[v]:] == 0).all()


def test_the_loss_prefers_embeddings_that_match_their_own_customer():
    owner = torch.tensor([0, 0, 1, 1, 2, 2])
    matched = torch.eye(3).repeat_interleave(2, dim=0)          # both slices of a customer point the same way
    crossed = matched[[0, 2, 1, 4, 3, 5]]
    assert softmax_contrastive(matched, owner, 0.1) < softmax_contrastive(crossed, owner, 0.1)


def test_bad_settings_fail_clearly():
    batch = habits(n=20)
    with pytest.raises(InputError, match="views"):
        SequenceEmbedder(views=1).fit(batch)
    with pytest.raises(InputError, match="max_customers"):
        SequenceEmbedder(batch_customers=64, max_customers=32).fit(batch)


def test_an_epoch_draws_at_most_max_customers_a_new_draw_each_epoch(monkeypatch):
    """At 800k training customers an epoch of all of them took 112 s; the cap bounds the steps, not the clock."""
    import pipeline.embedding.embedder as embedder_module
    drawn: list[np.ndarray] = []

    def spy(batch, rows, *args, **kwargs):
        drawn.append(np.asarray(rows).copy())
        return sample_slices(batch, rows, *args, **kwargs)

    monkeypatch.setattr(embedder_module, "sample_slices", spy)
    batch = habits(n=240)
    capped = SequenceEmbedder(dim=4, epochs=2, batch_customers=32, max_customers=64, random_state=2).fit(batch)
    assert [len(rows) for rows in drawn] == [32, 32, 32, 32]           # 2 steps per epoch, not 8
    first, second = np.concatenate(drawn[:2]), np.concatenate(drawn[2:])
    assert len(set(first)) == 64 and set(first) != set(second)         # each epoch its own customers
    again = SequenceEmbedder(dim=4, epochs=2, batch_customers=32, max_customers=64, random_state=2).fit(batch)
    np.testing.assert_array_equal(capped.transform(batch), again.transform(batch))   # seeded: same bytes
    drawn.clear()
    whole = SequenceEmbedder(dim=4, epochs=2, batch_customers=32, max_customers=240, random_state=2).fit(batch)
    uncapped = SequenceEmbedder(dim=4, epochs=2, batch_customers=32, random_state=2).fit(batch)
    np.testing.assert_array_equal(whole.transform(batch), uncapped.transform(batch))  # a cap above n: no change


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("embedding")
    params = {"seed": 3, "data": {"synthetic": {"n_customers": 400, "events_per_customer": 10}},
              "features": {"embedding": {"dim": 4, "epochs": 2}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run_stages(root, root / "params.yaml", ["prepare", "impute", "outliers", "features"])
    return root


def test_the_encoder_learns_from_training_customers_only(chain, monkeypatch):
    """A spy on the customer ids the encoder's fit sees, through the features stage's own fit."""
    seen: list[np.ndarray] = []
    original = SequenceEmbedder.fit

    def spy(self, batch):
        seen.append(np.asarray(batch.customer_ids, dtype=str))
        return original(self, batch)

    monkeypatch.setattr(SequenceEmbedder, "fit", spy)
    raw_test, events, meta = read_prepared_for_features(chain / "data/interim/prepared")
    train = pd.read_parquet(chain / "data/features/train.parquet")
    columns = {"numeric": [], "categorical": []}
    FeatureBuilder.fit(train[[ID]], events, columns, FeatureParams(), meta["as_of"], seed=3)
    assert len(seen) == 1
    assert set(seen[0]) == set(train[ID].astype(str))
    assert not set(seen[0]) & set(raw_test[ID].astype(str))


def test_the_embedding_columns_are_in_the_matrix_and_the_manifest(chain):
    table, _, manifest = load_split(chain / "data/features", "train")
    rows = [f for f in manifest["features"] if f["source"] == "embedding"]
    assert [r["name"] for r in rows] == [f"seq_emb_{i:02d}" for i in range(4)]
    assert {r["group"] for r in rows} == {EMBEDDING_GROUP}
    emb = table[[r["name"] for r in rows]].to_numpy()
    np.testing.assert_allclose(emb.mean(axis=0), 0, atol=1e-9)     # standardised on train
    assert (emb.std(axis=0) > 0.5).all()


def test_new_customers_are_embedded_as_the_pipeline_embedded_them(chain):
    """The saved transform (what pipeline.predict runs) gives the test split's stored embedding columns."""
    raw_test, events, _ = read_prepared_for_features(chain / "data/interim/prepared")
    stored, _, _ = load_split(chain / "data/features", "test")
    transform = load_transform(chain / "models/transform.skops")
    columns = [c for c in stored.columns if c.startswith("seq_emb_")]
    again = transform.transform(raw_test, events, sequences=False).matrix
    np.testing.assert_allclose(again[columns].to_numpy(), stored[columns].to_numpy(), rtol=0, atol=1e-6)
    one = transform.transform(raw_test.iloc[[3]], events, sequences=False).matrix   # a customer scored alone
    np.testing.assert_allclose(one[columns].to_numpy()[0], stored[columns].to_numpy()[3], rtol=0, atol=1e-6)


# --- transition shares ---------------------------------------------------------------------------------

def test_transition_shares_by_hand_and_they_see_order_that_counts_cannot():
    """Two customers with the same events in opposite order: equal type counts, mirrored transitions."""
    types = np.array([[2, 3, 2, 3, 4], [3, 2, 3, 2, 4], [2, 0, 0, 0, 0]])
    batch = SequenceBatch(types=types, values=np.zeros((3, 5, 1), np.float32), lengths=[5, 5, 1],
                          type_names=["<pad>", "<other>", "view", "login", "buy"])
    profile = TransitionProfile(top=3).fit(batch)
    # 3 x view->login, 3 x login->view, then login->buy and view->buy once each: ties go to the lower pair code
    assert profile.columns == ["seq_next__view__login", "seq_next__login__view", "seq_next__view__buy"]
    shares = profile.transform(batch)
    np.testing.assert_allclose(shares, [[2 / 4, 1 / 4, 0], [1 / 4, 2 / 4, 1 / 4], [0, 0, 0]])
    np.testing.assert_array_equal(np.sort(types[0]), np.sort(types[1]))   # same counts, different order


def test_transitions_are_chosen_on_train_and_join_the_matrix(chain):
    table, _, manifest = load_split(chain / "data/features", "train")
    names = [f["name"] for f in manifest["features"] if f["source"] == "transitions"]
    assert len(names) == FeatureParams().transitions and all(n.startswith("seq_next__") for n in names)
    shares = table[names].to_numpy()
    assert ((shares >= 0) & (shares <= 1)).all() and (shares.sum(axis=1) <= 1 + 1e-9).all()


def test_a_single_event_type_gives_no_transition_columns():
    """An untyped or purchase-only log: every pair is the same pair, whose share carries no order."""
    batch = SequenceBatch(types=np.array([[2, 2, 2], [2, 2, 0]]), values=np.zeros((2, 3, 1), np.float32),
                          lengths=[3, 2], type_names=["<pad>", "<other>", "buy"])
    profile = TransitionProfile().fit(batch)
    assert profile.columns == [] and profile.transform(batch).shape == (2, 0)


# --- eventually-follows flags ------------------------------------------------------------------------

def test_follows_flags_by_hand_in_the_window_only():
    """complaint (3) then failure (4) vs failure then complaint: same counts, opposite flags; old events ignored."""
    names = ["<pad>", "<other>", "view", "complaint", "failure"]
    types = np.array([[2, 3, 2, 4], [2, 4, 2, 3], [3, 4, 2, 0], [2, 4, 3, 3]])
    ages = np.array([[50, 40, 30, 10], [50, 40, 30, 10], [400, 200, 5, np.inf], [80, 60, 20, 1]], dtype=float)
    batch = SequenceBatch(types=types, values=np.zeros((4, 4, 1), np.float32), lengths=[4, 4, 3, 4],
                          type_names=names)
    profile = FollowsProfile(top=30, window_days=90).fit(batch, ages)
    columns = profile.columns
    flags = dict(zip(columns, profile.transform(batch, ages).T))
    np.testing.assert_array_equal(flags["seq_follows__complaint__failure"], [1, 0, 0, 0])   # row 2: outside window
    np.testing.assert_array_equal(flags["seq_follows__failure__complaint"], [0, 1, 0, 1])
    # view -> failure holds for everyone with both: no order information, no column; top caps the rest
    assert "seq_follows__view__failure" not in columns and "seq_follows__complaint__failure" in columns
    assert len(FollowsProfile(top=2, window_days=90).fit(batch, ages).columns) == 2
    assert not any("pad" in c or c.split("__")[1] == c.split("__")[2] for c in columns)


def test_follows_columns_join_the_matrix_and_the_manifest(chain):
    table, _, manifest = load_split(chain / "data/features", "train")
    names = [f["name"] for f in manifest["features"] if f["source"] == "follows"]
    assert 0 < len(names) <= FeatureParams().follows and all(n.startswith("seq_follows__") for n in names)
    assert set(np.unique(table[names].to_numpy())) <= {0.0, 1.0}


# --- does the embedding earn its columns? --------------------------------------------------------------

def test_the_embedding_check_keeps_columns_that_carry_signal_and_drops_noise():
    rng = np.random.default_rng(0)
    n = 3000
    signal, noise = rng.normal(size=n), rng.normal(size=(n, 4))
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype(int))
    other = pd.DataFrame({"age": rng.normal(size=n)})
    carrying = pd.concat([other, pd.DataFrame({"seq_emb_00": signal, "seq_emb_01": noise[:, 0]})], axis=1)
    kept = check_embedding(carrying, y, ["seq_emb_00", "seq_emb_01"], min_gain=0.001, seed=1)
    assert kept.kept and kept.gain > 0.1
    noisy = pd.concat([other.assign(signal=signal), pd.DataFrame(noise, columns=[f"seq_emb_0{i}" for i in range(4)])],
                      axis=1)
    dropped = check_embedding(noisy, y, [f"seq_emb_0{i}" for i in range(4)], min_gain=0.001, seed=1)
    assert not dropped.kept and dropped.gain < 0.01
    few = check_embedding(noisy.head(500), y.head(500), [f"seq_emb_0{i}" for i in range(4)], 0.001, seed=1)
    assert few.kept and few.gain is None       # too few customers to tell: kept


def test_left_out_embedding_columns_leave_matrix_manifest_and_scoring_but_not_the_encoder(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.featurization.embedding_check.MIN_ROWS", 0)
    params = {"seed": 3, "data": {"synthetic": {"n_customers": 400, "events_per_customer": 10}},
              "features": {"embedding": {"dim": 4, "epochs": 1, "min_gain": 1.0}}}   # a gain no check reaches
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run_stages(tmp_path, tmp_path / "params.yaml", ["prepare", "impute", "outliers", "features"])
    features = tmp_path / "data/features"
    table, _, manifest = load_split(features, "train")
    assert not [c for c in table.columns if c.startswith("seq_emb_")]
    assert manifest["embedding_check"]["kept"] is False and manifest["embedding_check"]["gain"] < 1.0
    assert not any(f["source"] == "embedding" for f in manifest["features"])
    assert (features / "encoder.npz").is_file()                 # the sequence model may still start from it
    prepared = tmp_path / "data/interim/prepared"
    raw_test, events = pd.read_parquet(prepared / "test.parquet"), pd.read_parquet(prepared / "events.parquet")
    scored = load_transform(tmp_path / "models/transform.skops").transform(raw_test, events).matrix
    pd.testing.assert_frame_equal(scored, pd.read_parquet(features / "test.parquet"))
