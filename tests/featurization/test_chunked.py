"""The features stage chunk by chunk writes what it writes in memory; with a smaller sample, the fit sees only it."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_stages

from pipeline.core.io import read_json
from pipeline.core.schema import ID
from pipeline.events.sequence_writer import SequenceWriter
from pipeline.events.sequences import SequenceBatch, load_sequences, save_sequences
from pipeline.featurization.builder import FeatureBuilder

FEATURES = Path("data") / "features"
OUTPUTS = ("train.parquet", "test.parquet", "sequences_train.npz", "sequences_test.npz", "manifest.json")


def write_params(root: Path, **features: object) -> Path:
    params = {"seed": 5, "data": {"synthetic": {"n_customers": 400, "events_per_customer": 10}},
              "features": {"embedding": {"epochs": 2, "batch_customers": 64}, **features}}
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def in_memory(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("whole")
    run_stages(root, write_params(root), ["prepare", "impute", "outliers", "features"])
    return root


def rerun_features(in_memory: Path, target: Path, **features: object) -> Path:
    shutil.copytree(in_memory, target)
    shutil.rmtree(target / FEATURES)
    run_stages(target, write_params(target, **features), ["features"])
    return target


def test_chunks_write_the_in_memory_bytes(in_memory, tmp_path):
    # 320 train + 80 test customers in chunks of 90: the fourth chunk holds the last train and first test customers
    root = rerun_features(in_memory, tmp_path / "chunked", chunk_customers=90)
    for split in ("train", "test"):
        chunks, whole = (pd.read_parquet(r / FEATURES / f"{split}.parquet") for r in (root, in_memory))
        embedding = [c for c in whole.columns if c.startswith("seq_emb_")]
        assert embedding   # the CoLES columns are in, so the check below means something
        pd.testing.assert_frame_equal(chunks.drop(columns=embedding), whole.drop(columns=embedding))
        # The encoder's GRU runs on packed batches whose sizes follow the chunk, and BLAS sums those in another
        # order: the same embedding up to float32 rounding (as alone vs in a batch, tests/embedding).
        np.testing.assert_allclose(chunks[embedding], whole[embedding], rtol=0, atol=1e-5)
        name = f"sequences_{split}.npz"
        assert (root / FEATURES / name).read_bytes() == (in_memory / FEATURES / name).read_bytes()
    assert read_json(root / FEATURES / "manifest.json") == read_json(in_memory / FEATURES / "manifest.json")
    assert read_json(root / "models" / "drift_reference.json") == read_json(in_memory / "models" / "drift_reference.json")
    assert sorted(p.name for p in (root / FEATURES).iterdir()) == sorted(p.name for p in (in_memory / FEATURES).iterdir())


def test_the_fit_sees_only_its_sample_of_training_customers(in_memory, tmp_path, monkeypatch):
    seen = {}
    original = FeatureBuilder.fit_matrix

    def spy(train, events, *args, **kwargs):
        seen["customers"], seen["event_ids"] = set(train[ID]), set(events[ID])
        return original(train, events, *args, **kwargs)

    monkeypatch.setattr(FeatureBuilder, "fit_matrix", spy)
    root = rerun_features(in_memory, tmp_path / "sampled", chunk_customers=150, fit_customers=100)
    train_ids = set(pd.read_parquet(in_memory / "data" / "interim" / "filtered" / "train.parquet")[ID])
    assert len(seen["customers"]) == 100 and seen["customers"] <= train_ids
    assert seen["event_ids"] <= seen["customers"]                  # no other customer's event reaches the fit
    train = pd.read_parquet(root / FEATURES / "train.parquet")
    assert train[ID].tolist() == pd.read_parquet(in_memory / FEATURES / "train.parquet")[ID].tolist()
    assert len(load_sequences(root / FEATURES / "sequences_test.npz")) == 80   # every customer is still featurised


def test_sequence_writer_writes_save_sequences_bytes(tmp_path):
    rng = np.random.default_rng(0)
    n, length, channels = 11, 5, 3
    batch = SequenceBatch(types=rng.integers(0, 4, (n, length)), values=rng.normal(size=(n, length, channels)),
                          lengths=rng.integers(0, length + 1, n), customer_ids=[f"c{i}" * (1 + i % 3) for i in range(n)],
                          channels=["a", "b", "c"], type_names=["<pad>", "<other>", "x", "y"])
    save_sequences(batch, tmp_path / "whole.npz")
    writer = SequenceWriter(tmp_path / "chunked.npz", max(len(i) for i in batch.customer_ids))
    for lo in range(0, n, 4):
        writer.append(batch.subset(slice(lo, lo + 4)))
    writer.close()
    assert (tmp_path / "chunked.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # temp files removed
