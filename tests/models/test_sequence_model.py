"""Tests for pipeline.models.sequence: learning, packing, cells, callbacks, determinism, persistence, gradient norms."""
from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from torch.optim.optimizer import register_optimizer_step_pre_hook

import pipeline.models.sequence.runtime as runtime
from pipeline.events.sequences import SequenceBatch, last_events
from pipeline.models.family import BuildContext
from pipeline.models.sequence import FAMILY
from pipeline.models.sequence.classifier import SequenceClassifier

A, B = 2, 3                      # the two event types whose ORDER decides the label
NOISE_TYPES = (4, 8)             # other event types, drawn uniformly from [4, 8)
# Tiny and single-threaded: fast and unaffected by other processes competing for the 2 cores.
FAST = dict(hidden_size=8, embedding_dim=4, mlp_hidden=8, batch_size=32, max_epochs=2,
            device="cpu", num_threads=1)


def order_task(n: int, width: int = 10, n_static: int = 0, seed: int = 0,
               min_len: int = 2) -> tuple[SequenceBatch, np.ndarray]:
    """Every customer has one A and one B among noise events; y = 1 iff A comes before B."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, width + 1, n).astype(np.int32)
    types = np.zeros((n, width), np.int32)
    values = np.zeros((n, width, 2), np.float32)
    y = rng.integers(0, 2, n)
    for i, length in enumerate(lengths):
        types[i, :length] = rng.integers(*NOISE_TYPES, length)
        first, second = sorted(rng.choice(length, 2, replace=False))
        types[i, first], types[i, second] = (A, B) if y[i] else (B, A)
        values[i, :length] = rng.normal(size=(length, 2))
    static = rng.normal(size=(n, n_static)).astype(np.float32)
    return SequenceBatch(types, values, lengths, static=static, n_types=NOISE_TYPES[1]), y


def pad_with_garbage(data: SequenceBatch, extra: int, seed: int = 1) -> SequenceBatch:
    """Same customers with `extra` more columns; values beyond each length are noise that must be ignored."""
    rng = np.random.default_rng(seed)
    n, width = data.types.shape
    types = np.concatenate([data.types, np.zeros((n, extra), np.int32)], axis=1)
    values = np.concatenate([data.values, np.zeros((n, extra, data.values.shape[2]), np.float32)], axis=1)
    beyond = np.arange(width + extra)[None, :] >= data.lengths[:, None]
    values[beyond] = rng.normal(size=(int(beyond.sum()), values.shape[2]))
    return SequenceBatch(types, values, data.lengths, static=data.static, n_types=data.n_types)


@pytest.fixture(scope="module")
def task() -> tuple[SequenceBatch, np.ndarray]:
    return order_task(160, n_static=3)


@pytest.fixture(scope="module")
def fitted(task) -> SequenceClassifier:
    X, y = task
    return SequenceClassifier(**FAST).fit(X, y)


def test_learns_label_that_depends_only_on_order():
    X, y = order_task(300)
    model = SequenceClassifier(**{**FAST, "hidden_size": 16, "mlp_hidden": 16, "lr": 1e-2,
                                  "max_epochs": 12, "patience": 12}).fit(X, y)
    assert roc_auc_score(y, model.predict_proba(X)[:, 1]) > 0.95
    assert set(model.predict(X)) <= {0, 1}


def test_extra_padding_does_not_change_predictions(task, fitted):
    X, _ = task
    base = fitted.predict_proba(X)
    np.testing.assert_allclose(fitted.predict_proba(pad_with_garbage(X, extra=7)), base, atol=1e-6)
    narrow = int(X.lengths.max())
    trimmed = SequenceBatch(X.types[:, :narrow], X.values[:, :narrow], X.lengths, static=X.static, n_types=X.n_types)
    np.testing.assert_allclose(fitted.predict_proba(trimmed), base, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "transformer"])
def test_customers_without_events_get_finite_equal_scores(task, cell):
    X, y = task
    lengths = X.lengths.copy()
    lengths[::4] = 0
    types = np.where(np.arange(X.types.shape[1])[None, :] < lengths[:, None], X.types, 0)
    empty = SequenceBatch(types, X.values, lengths, static=np.zeros((len(y), 0), np.float32), n_types=X.n_types)
    model = SequenceClassifier(**FAST, cell=cell).fit(empty, y)
    proba = model.predict_proba(empty)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba[lengths == 0], proba[lengths == 0][:1].repeat((lengths == 0).sum(), 0))
    no_columns = SequenceBatch(np.zeros((3, 0), np.int32), np.zeros((3, 0, 2), np.float32), np.zeros(3))
    assert np.isfinite(model.predict_proba(no_columns)).all()


def test_last_events_keeps_the_most_recent_ones_per_row():
    X, _ = order_task(50, width=10, seed=3)
    types, values, lengths = last_events(X.types, X.values, X.lengths, max_len=4)
    for i, length in enumerate(X.lengths):
        keep = min(length, 4)
        assert lengths[i] == keep
        np.testing.assert_array_equal(types[i, :keep], X.types[i, length - keep:length])
        np.testing.assert_array_equal(values[i, :keep], X.values[i, length - keep:length])
        assert (types[i, keep:] == 0).all() and (values[i, keep:] == 0).all()


def test_truncation_equals_feeding_only_the_last_events(task):
    X, y = task
    model = SequenceClassifier(**{**FAST, "max_len": 4}).fit(X, y)
    types, values, lengths = last_events(X.types, X.values, X.lengths, max_len=4)
    short = SequenceBatch(types, values, lengths, static=X.static, n_types=X.n_types)
    np.testing.assert_allclose(model.predict_proba(pad_with_garbage(X, 5)), model.predict_proba(short), atol=1e-6)


@pytest.mark.parametrize("cell,bidirectional,num_layers,n_static", [
    ("lstm", True, 1, 0), ("gru", False, 2, 3), ("gru", True, 1, 0), ("rnn", False, 1, 3), ("rnn", True, 2, 0),
    ("transformer", False, 1, 0), ("transformer", True, 2, 3),   # bidirectional: ignored by the transformer
])
def test_each_cell_fits_and_predicts(cell, bidirectional, num_layers, n_static):
    X, y = order_task(80, n_static=n_static)
    model = SequenceClassifier(**FAST, cell=cell, bidirectional=bidirectional, num_layers=num_layers).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (80, 2) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert len(model.history_) == 2 and model.best_epoch_ in (0, 1)


def test_on_epoch_gets_each_epochs_validation_score(task):
    X, y = task
    calls = []
    model = SequenceClassifier(**{**FAST, "max_epochs": 3, "patience": 10},
                               on_epoch=lambda epoch, score: calls.append((epoch, score))).fit(X, y)
    assert calls == [(h["epoch"], h["val_auc"]) for h in model.history_]
    assert [epoch for epoch, _ in calls] == [0, 1, 2]


def test_on_epoch_returning_true_stops_and_keeps_best_epoch(task):
    X, y = task
    model = SequenceClassifier(**{**FAST, "max_epochs": 5}, on_epoch=lambda epoch, score: epoch == 1).fit(X, y)
    assert len(model.history_) == 2 and model.best_epoch_ in (0, 1)


def test_pruning_exception_propagates(task):
    X, y = task
    calls = []

    def prune_at_second_epoch(epoch: int, score: float) -> None:
        calls.append(epoch)
        if epoch == 1:
            raise optuna.TrialPruned()

    with pytest.raises(optuna.TrialPruned):
        SequenceClassifier(**{**FAST, "max_epochs": 5}, on_epoch=prune_at_second_epoch).fit(X, y)
    assert calls == [0, 1]


def test_same_seed_same_predictions_and_threads_restored(task):
    X, y = task
    threads = torch.get_num_threads()
    first = SequenceClassifier(**FAST, random_state=7).fit(X, y).predict_proba(X)
    second = SequenceClassifier(**FAST, random_state=7).fit(X, y).predict_proba(X)
    other = SequenceClassifier(**FAST, random_state=8).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)
    assert torch.get_num_threads() == threads


def test_equal_length_batches_are_deterministic_on_both_cpu_backends(monkeypatch):
    # torch runs an LSTM batch whose sequences all have one length through oneDNN (when enabled).
    full, y = order_task(96, width=6, min_len=6)
    model = SequenceClassifier(**FAST).fit(full, y)
    proba = model.predict_proba(full)
    np.testing.assert_array_equal(SequenceClassifier(**FAST).fit(full, y).predict_proba(full), proba)
    monkeypatch.setattr(runtime, "CPU_ONEDNN", not runtime.CPU_ONEDNN)
    np.testing.assert_allclose(model.predict_proba(full), proba, atol=1e-5)


def test_save_load_round_trip(tmp_path, task, fitted):
    X, _ = task
    fitted.save(tmp_path / "lstm")
    assert sorted(p.name for p in (tmp_path / "lstm").iterdir()) == ["config.json", "state_dict.pt"]
    config = json.loads((tmp_path / "lstm" / "config.json").read_text())
    assert "on_epoch" not in config["params"] and config["n_static"] == 3
    loaded = SequenceClassifier.load(tmp_path / "lstm")
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)


def test_sklearn_cross_validation_indexes_sequence_data(task):
    X, y = task
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    scores = cross_val_score(SequenceClassifier(**{**FAST, "max_epochs": 1}), X, y, cv=cv, scoring="roc_auc")
    assert scores.shape == (2,) and np.isfinite(scores).all()
    assert len(X.subset(np.arange(5))) == 5 and len(X[[0, 1]]) == 2
    assert X.subset(np.arange(5)).n_types == X.n_types


def test_bad_input_is_named():
    X, y = order_task(20)
    with pytest.raises(ValueError, match="lengths must lie in"):
        SequenceBatch(X.types, X.values, X.lengths + 20)
    with pytest.raises(ValueError, match="row counts"):
        SequenceBatch(X.types, X.values[:5], X.lengths)
    with pytest.raises(ValueError, match="NaN"):
        SequenceBatch(X.types, X.values, X.lengths, static=np.full((20, 1), np.nan))
    with pytest.raises(ValueError, match="binary target"):
        SequenceClassifier(**FAST).fit(X, np.zeros(20))
    model = SequenceClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="value channels"):
        model.predict_proba(SequenceBatch(X.types, X.values[:, :, :1], X.lengths))


def test_search_space_comes_from_the_config_only_and_build_seeds():
    """configs/lstm.yaml is the one source of the ranges: every drawn key is one of its keys."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = {"cell": {"choices": ["gru"]}, "hidden_size": {"low": 8, "high": 12}}
    for _ in range(5):
        params = FAMILY.suggest(study.ask(), space)
        assert params == {"cell": "gru", "hidden_size": params["hidden_size"]} and 8 <= params["hidden_size"] <= 12
    model = FAMILY.build(params, BuildContext(seed=3, max_epochs=7))
    assert model.random_state == 3 and model.cell == "gru" and model.max_epochs == 7


def test_transformer_learns_order_from_its_positional_embedding():
    """Mean pooling is blind to order: only the positions let the transformer tell A-then-B from B-then-A."""
    X, y = order_task(300)
    model = SequenceClassifier(**{**FAST, "cell": "transformer", "hidden_size": 16, "mlp_hidden": 16, "lr": 1e-2,
                                  "max_epochs": 12, "patience": 12}).fit(X, y)
    assert roc_auc_score(y, model.predict_proba(X)[:, 1]) > 0.9


def test_transformer_ignores_padding_is_deterministic_and_round_trips(tmp_path, task):
    X, y = task
    params = {**FAST, "cell": "transformer", "hidden_size": 10, "random_state": 7}   # 10 -> d_model 12 (4 heads)
    model = SequenceClassifier(**params).fit(X, y)
    proba = model.predict_proba(X)
    assert model.module_.encoder.width == 12 and np.isfinite(proba).all()
    np.testing.assert_allclose(model.predict_proba(pad_with_garbage(X, extra=7)), proba, atol=1e-6)
    np.testing.assert_array_equal(SequenceClassifier(**params).fit(X, y).predict_proba(X), proba)
    assert not np.array_equal(SequenceClassifier(**{**params, "random_state": 8}).fit(X, y).predict_proba(X), proba)
    loaded = SequenceClassifier.load(model.save(tmp_path / "transformer"))
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    assert loaded.history_ == json.loads(json.dumps(model.history_))


def step_norms(fit) -> list[float]:
    """The total gradient norm the optimizer actually steps with, for every batch of `fit()`."""
    seen = []

    def record(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        seen.append(float(torch.nn.utils.get_total_norm(grads)))

    handle = register_optimizer_step_pre_hook(record)
    try:
        fit()
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize("no_clip", [None, 0])
def test_gradient_norms_are_recorded_before_clipping(task, no_clip):
    """history_ holds each epoch's mean and max batch norm before clipping; grad_clip None or 0 clips nothing."""
    X, y = task
    clip = 0.05                                   # far below this net's gradient norms: every step is clipped
    clipped = SequenceClassifier(**{**FAST, "max_epochs": 3, "patience": 3, "grad_clip": clip})
    clipped_steps = step_norms(lambda: clipped.fit(X, y))
    assert max(clipped_steps) <= clip * (1 + 1e-4)                          # the optimizer saw clipped gradients
    assert min(h["grad_norm_max"] for h in clipped.history_) > clip         # but the record is the norm before
    free = SequenceClassifier(**{**FAST, "max_epochs": 3, "patience": 3, "grad_clip": no_clip})
    free_steps = step_norms(lambda: free.fit(X, y))
    assert max(free_steps) > clip
    per_epoch = np.array_split(np.array(free_steps), len(free.history_))    # equal batches per epoch
    for h, steps in zip(free.history_, per_epoch):
        assert h["grad_norm_max"] == pytest.approx(steps.max(), rel=1e-5)   # unclipped: stepped = recorded
        assert h["grad_norm_mean"] == pytest.approx(steps.mean(), rel=1e-5)
        assert h["grad_norm_nonfinite"] == 0 and h["grad_norm_max"] >= h["grad_norm_mean"] > 0


def test_negative_grad_clip_is_refused(task):
    X, y = task
    with pytest.raises(ValueError, match="grad_clip must be >= 0"):
        SequenceClassifier(**{**FAST, "grad_clip": -1.0}).fit(X, y)


# --- starting from the pre-trained CoLES encoder -----------------------------------------------------------

@pytest.fixture(scope="module")
def pretrained(task):
    from pipeline.embedding.embedder import SequenceEmbedder

    X, _ = task
    return SequenceEmbedder(dim=8, type_dim=4, epochs=1, random_state=0).fit(X).pretrained()


@pytest.mark.parametrize("encoder", ["frozen", "finetune"])
def test_the_net_starts_from_the_encoder_frozen_or_fine_tuned(task, pretrained, encoder, tmp_path):
    X, y = task
    model = SequenceClassifier(**FAST, encoder=encoder, pretrained=pretrained).fit(X, y)
    net = model.module_
    assert isinstance(net.rnn, torch.nn.GRU) and net.rnn.hidden_size == 8 and net.embedding.embedding_dim == 4
    moved = [not np.array_equal(net.state_dict()[k].numpy(), pretrained.weights[k])
             for k in pretrained.weights]
    if encoder == "frozen":
        assert not any(moved)                                  # the encoder's weights, untouched by training
    else:
        assert all(moved)                                      # started there, then trained
    model.save(tmp_path / "m")
    loaded = SequenceClassifier.load(tmp_path / "m")          # no encoder file needed to load
    assert "pretrained" not in json.loads((tmp_path / "m" / "config.json").read_text())["params"]
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_the_encoder_start_is_really_the_encoder(task, pretrained):
    """Zero epochs of change for the frozen part: its recurrent state equals the encoder's own output."""
    from pipeline.embedding.embedder import SequenceEmbedder

    X, y = task
    model = SequenceClassifier(**FAST, encoder="frozen", pretrained=pretrained).fit(X, y)
    embedder = SequenceEmbedder(dim=8, type_dim=4, epochs=1, random_state=0).fit(X)
    with torch.no_grad():
        t = model._tensors(X)
        state = model.module_.last_state(t.types, t.values, t.lengths).numpy()
    raw = embedder.transform(X) * embedder.std_ + embedder.mean_
    np.testing.assert_allclose(state, raw, atol=1e-5)


def test_an_encoder_start_without_an_encoder_fails_clearly(task):
    X, y = task
    with pytest.raises(ValueError, match="pre-trained CoLES encoder"):
        SequenceClassifier(**FAST, encoder="frozen").fit(X, y)
    with pytest.raises(ValueError, match="encoder must be one of"):
        SequenceClassifier(**FAST, encoder="warm").fit(X, y)
