"""model_store: save/load round trips per family, safe formats, atomic directories, column checks."""
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from pipeline.core.errors import InputError
from pipeline.events.sequences import SequenceBatch
from pipeline.models import forest, logreg, xgb
from pipeline.models import store as model_store
from pipeline.models.family import BuildContext

N_TRAIN = 200


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, weights=[0.7], random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame.insert(0, "customer_id", [f"c{i:04d}" for i in range(len(frame))])
    return frame, y


def tabular(family, data):
    """A tiny fitted model of a tabular family (one thread: tiny data, no start-up overhead)."""
    frame, y = data
    X = frame.drop(columns="customer_id")[:N_TRAIN]
    if family == "logreg":
        model = logreg.build({"C": 1.0}, BuildContext(seed=0))
    elif family == "forest":
        model = forest.build({"n_estimators": 10, "max_depth": 4}, BuildContext(seed=0)).set_params(n_jobs=1)
    else:
        model = xgb.build({"n_estimators": 20, "max_depth": 3}, BuildContext(seed=0))
        model.set_params(early_stopping_rounds=None)
        model.set_params(n_jobs=1, scale_pos_weight=1.0)
    return model.fit(X, y[:N_TRAIN])


@pytest.mark.parametrize("family", ["logreg", "forest", "xgb"])
def test_tabular_round_trip_gives_identical_probabilities(family, data, tmp_path):
    frame, _ = data
    model = tabular(family, data)
    model_store.save_model(family, model, tmp_path / family, info={"family": family, "threshold": 0.3})
    loaded = model_store.load_model(family, tmp_path / family)
    test = frame[N_TRAIN:]
    before = model.predict_proba(test.drop(columns="customer_id"))[:, 1]
    after = model_store.predict_proba(family, loaded, test)   # extra id column is ignored
    np.testing.assert_array_equal(before, after)
    assert model_store.read_info(tmp_path / family)["threshold"] == 0.3


def test_xgb_is_stored_as_ubj_not_pickle(data, tmp_path):
    model_store.save_model("xgb", tabular("xgb", data), tmp_path / "xgb")
    assert sorted(p.name for p in (tmp_path / "xgb").iterdir()) == ["model.ubj"]
    head = (tmp_path / "xgb" / "model.ubj").read_bytes()[:2]
    assert head[:1] == b"{" and head[:1] != b"\x80"          # UBJSON object, not a pickle stream


def test_columns_follow_the_model_not_the_frame_order(data, tmp_path):
    frame, _ = data
    model_store.save_model("logreg", tabular("logreg", data), tmp_path / "m")
    loaded = model_store.load_model("logreg", tmp_path / "m")
    shuffled = frame[N_TRAIN:][["f3", "customer_id", "f5", "f0", "f2", "f1", "f4"]]
    np.testing.assert_array_equal(model_store.predict_proba("logreg", loaded, shuffled),
                                  model_store.predict_proba("logreg", loaded, frame[N_TRAIN:]))


@pytest.mark.parametrize("family", ["logreg", "xgb"])
def test_missing_columns_are_named(family, data, tmp_path):
    frame, _ = data
    model_store.save_model(family, tabular(family, data), tmp_path / family)
    loaded = model_store.load_model(family, tmp_path / family)
    with pytest.raises(InputError, match=r"lacks 2 column.*'f1', 'f4'"):
        model_store.predict_proba(family, loaded, frame.drop(columns=["f1", "f4"]))


def test_save_replaces_the_directory_whole(data, tmp_path):
    target = tmp_path / "forest"
    model_store.save_skipped("forest", target, "no time left")
    assert json.loads((target / "info.json").read_text()) == {"family": "forest", "skipped": "no time left"}
    model_store.save_model("forest", tabular("forest", data), target, info={"family": "forest"})
    assert sorted(p.name for p in target.iterdir()) == ["info.json", "model.skops"]
    assert [p.name for p in tmp_path.iterdir()] == ["forest"]   # no temp or .old directories left behind


def test_bad_inputs_raise(data, tmp_path):
    with pytest.raises(InputError, match="unknown model family 'svm'"):
        model_store.save_model("svm", object(), tmp_path / "svm")
    with pytest.raises(TypeError, match="XGBClassifier"):
        model_store.save_model("xgb", tabular("logreg", data), tmp_path / "x")
    assert not (tmp_path / "x").exists()                          # a failed save leaves nothing
    with pytest.raises(InputError, match="no saved xgb model"):
        model_store.load_model("xgb", tmp_path / "nowhere")
    with pytest.raises(InputError, match="tune stage first"):
        model_store.read_info(tmp_path / "nowhere")


def sequences(n, seed=0, length=5, channels=2):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, length + 1, n).astype(np.int32)
    mask = np.arange(length)[None, :] < lengths[:, None]
    types = np.where(mask, rng.integers(1, 5, (n, length)), 0).astype(np.int32)
    values = (rng.normal(size=(n, length, channels)) * mask[..., None]).astype(np.float32)
    return SequenceBatch(types=types, values=values, lengths=lengths,
                         customer_ids=np.array([f"c{i:04d}" for i in range(n)], dtype=object),
                         channels=[f"v{j}" for j in range(channels)])


def test_lstm_round_trip_and_input_checks(data, tmp_path):
    seq_mod = pytest.importorskip("pipeline.models.sequence.classifier")
    frame, y = data
    static = ["f0", "f2"]
    batch = sequences(len(frame))
    fit_data = batch.subset(np.arange(N_TRAIN)).with_static(frame[static][:N_TRAIN].to_numpy(np.float32, copy=True))
    model = seq_mod.SequenceClassifier(hidden_size=8, embedding_dim=4, mlp_hidden=8, batch_size=64, max_epochs=1,
                                       device="cpu", num_threads=1).fit(fit_data, y[:N_TRAIN])
    model_store.save_model("lstm", model, tmp_path / "lstm", info={"family": "lstm", "static_columns": static})
    assert not list((tmp_path / "lstm").glob("*.joblib"))
    loaded = model_store.load_model("lstm", tmp_path / "lstm")
    rows = np.arange(N_TRAIN, len(frame))
    test, test_seq = frame.iloc[rows].reset_index(drop=True), subset(batch, rows)
    expected = model.predict_proba(test_seq.with_static(test[static].to_numpy(np.float32, copy=True)))[:, 1]
    np.testing.assert_array_equal(model_store.predict_proba("lstm", loaded, test, test_seq, static), expected)
    with pytest.raises(InputError, match="needs event sequences"):
        model_store.predict_proba("lstm", loaded, test, None, static)
    with pytest.raises(InputError, match="row order"):
        model_store.predict_proba("lstm", loaded, test.iloc[::-1], test_seq, static)
    with pytest.raises(InputError, match=r"\['f2'\]"):
        model_store.predict_proba("lstm", loaded, test.drop(columns="f2"), test_seq, static)


def subset(batch, rows):
    return SequenceBatch(types=batch.types[rows], values=batch.values[rows], lengths=batch.lengths[rows],
                         customer_ids=batch.customer_ids[rows], channels=batch.channels)
