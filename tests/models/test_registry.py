"""The family registry: every family declares its traits once, its search space exists and fits its
params, it saves without pickle and loads back identically, and no consumer branches on its name."""
from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from sklearn.datasets import make_classification

from pipeline.core.errors import InputError
from pipeline.events.sequences import SequenceBatch
from pipeline.models import registry, store
from pipeline.models.family import BuildContext, FitData, FitHooks
from pipeline.models.space import load_space

FAMILY_CODE = {"logreg.py", "forest.py", "xgb.py", "lgbm.py"}   # modules that are a family (plus models/sequence/)
TINY = {"forest": {"n_estimators": 5, "max_depth": 3}, "xgb": {"n_estimators": 10, "max_depth": 2},
        "lightgbm": {"n_estimators": 10, "num_leaves": 4}, "lstm": {"hidden_size": 4, "embedding_dim": 2},
        "logreg": {}}


@pytest.mark.parametrize("name", list(registry.FAMILIES))
def test_each_family_has_its_search_space_and_traits(name):
    fam = registry.get(name)
    space = load_space(name, REPO / "configs", allowed=fam.space_params)   # configs/<name>.yaml: the one source
    assert fam.name == name and fam.space_file == f"{name}.yaml" and space
    assert fam.inputs in ("tabular", "sequence") and fam.label and fam.warmup_steps >= 1
    assert (fam.contributions is None) == (fam.contribution_units is None)


def test_unknown_family_is_one_clear_error():
    with pytest.raises(InputError, match=r"unknown model family 'svm'; expected one of \['logreg'"):
        registry.get("svm")
    assert registry.position("svm") == len(registry.FAMILIES)


def tiny_inputs(fam, n=240):
    X, y = make_classification(n_samples=n, n_features=5, n_informative=3, weights=[0.7], random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    if fam.inputs == "tabular":
        return frame, y
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 6, n).astype(np.int32)
    types = np.where(np.arange(6)[None, :] < lengths[:, None], rng.integers(2, 5, (n, 6)), 0)
    batch = SequenceBatch(types, np.zeros((n, 6, 1), np.float32), lengths, static=X.astype(np.float32),
                          customer_ids=np.array([f"c{i}" for i in range(n)], dtype=object), channels=["v"])
    return batch, y


@pytest.mark.parametrize("name", list(registry.FAMILIES))
def test_fit_save_load_round_trip_without_pickle(name, tmp_path):
    """Through the declared traits only, as tune, evaluate and predict use them: same probabilities
    after a save and a load, and no file that unpickles (a pickle stream starts with 0x80)."""
    fam = registry.get(name)
    X, y = tiny_inputs(fam)
    model = fam.build(TINY[name], BuildContext(seed=0, max_epochs=1))
    if name in ("forest", "xgb", "lightgbm"):
        model.set_params(n_jobs=1)   # tiny data: thread start-up would dominate
    model = fam.fit(model, FitData(X, y, None, 0), FitHooks())
    store.save_model(name, model, tmp_path / name, info={"family": name})
    loaded = store.load_model(name, tmp_path / name)
    np.testing.assert_array_equal(fam.predict(loaded, X), fam.predict(model, X))
    for path in (tmp_path / name).iterdir():
        assert path.suffix not in (".pkl", ".pickle", ".joblib") and path.read_bytes()[:1] != b"\x80", path.name


def string_constants(path):
    """String literals of a module outside its docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_no_consumer_branches_on_a_family_name():
    """Outside a family's own module, no code names a family: consumers ask the registry for traits."""
    names = set(registry.FAMILIES)
    offenders = []
    for path in sorted((REPO / "pipeline").rglob("*.py")):
        rel = path.relative_to(REPO)
        if rel.parent == REPO.joinpath("pipeline", "models").relative_to(REPO) and rel.name in FAMILY_CODE:
            continue
        if "sequence" in rel.parts and "models" in rel.parts:
            continue
        offenders += [f"{rel}: {value!r}" for value in string_constants(path) if value in names]
    assert not offenders, offenders
