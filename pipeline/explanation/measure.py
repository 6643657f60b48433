"""What the explain stage measures, on the TEST split only and by scoring (never fitting).

  permutation   permutation importance of every feature for the best family by CV whose explanation is
                permutation importance (the tree families)
  coefficients  the coefficients of the linear family (on its standardised inputs)
  sequence      the sequence model's metric drop when each customer's event order is shuffled, and
                when all events of one type are removed (one type at a time)
  skipped       part -> plain-language reason, for every part that could not be computed
Drops are baseline minus perturbed metric, signed so that positive = the model relied on it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import read_json
from pipeline.core.params import ExplainParams
from pipeline.core.schema import ID, TARGET
from pipeline.evaluation.definitions import OBJECTIVES
from pipeline.explanation import tabular as tab
from pipeline.explanation.event_effects import sequence_effects
from pipeline.featurization.transform import CustomerTransform, load_transform
from pipeline.models.registry import FAMILIES, get
from pipeline.models.store import feature_columns

SequenceInputs = tuple[CustomerTransform, pd.DataFrame, pd.DataFrame]   # saved transform, test customers, events


def sample_rows(test: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """All test rows, or a seeded sample of `max_rows` of them (kept in file order)."""
    if max_rows is None or len(test) <= max_rows:
        return test
    keep = np.sort(np.random.default_rng(seed).choice(len(test), size=max_rows, replace=False))
    return test.iloc[keep].reset_index(drop=True)


def with_trait(explain: str) -> list[str]:
    """The registered families whose explanation is `explain` (permutation, coefficients, sequence)."""
    return [name for name, fam in FAMILIES.items() if fam.explain == explain]


def first_with(explain: str, families: Any) -> str | None:
    """The first of `families` (best by CV first, when a ranking) whose explanation is `explain`; the ensemble
    is not a family (it blends them), so the best family of that kind is explained instead."""
    return next((f for f in families if f in FAMILIES and get(f).explain == explain), None)


def _skip_reason(families: list[str], infos: dict[str, dict[str, Any]]) -> str:
    family = next((f for f in families if f in infos), families[0] if families else "no family")
    if family not in infos:
        return f"{family} was not tuned (not in tune.models)"
    return f"{family} was skipped by tune: {infos[family].get('skipped', 'no model')}"


def explain(test: pd.DataFrame, infos: dict[str, dict[str, Any]], models: dict[str, Any], ranking: list[str],
            metric: str, p: ExplainParams, seed: int, sequence: SequenceInputs | str,
            groups: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Pure core. `sequence`: (transform, test customers, their events) for the sequence part, or why it is skipped.
    `groups`: feature name -> columns permuted together (feature_groups of the manifest)."""
    y = test[TARGET].to_numpy().astype(int)
    if len(np.unique(y)) != 2:
        raise InputError(f"the explained test rows hold only class {np.unique(y).tolist()}; metrics need both.")
    out: dict[str, Any] = {"metric": metric, "n_test": len(test), "permutation": None, "coefficients": None,
                           "sequence": None, "skipped": {}}
    permuted = first_with("permutation", ranking)
    if permuted is None:
        out["skipped"]["permutation"] = f"no family with permutation importance ({', '.join(with_trait('permutation'))}) was tuned"
    else:
        X = test[_columns(permuted, infos[permuted], models[permuted], test)]
        out["permutation"] = tab.permutation(permuted, models[permuted], X, y, metric, p.n_repeats, seed,
                                             infos[permuted].get("calibration"), groups)
    if (linear := first_with("coefficients", models)) is not None:
        columns = _columns(linear, infos[linear], models[linear], test)
        out["coefficients"] = tab.coefficients(models[linear], columns, family=linear)
    else:
        out["skipped"]["coefficients"] = _skip_reason(with_trait("coefficients"), infos)
    if isinstance(sequence, str):
        out["skipped"]["sequence"] = sequence
    else:
        transform, customers, events = sequence
        family = first_with("sequence", models)
        out["sequence"] = sequence_effects(transform, customers, events, infos[family], models[family], metric,
                                           p.n_repeats, seed)
        if not out["sequence"]["drop_event_type"]:
            out["skipped"]["sequence.drop_event_type"] = "the event log has no event types"
    return out


def _columns(family: str, info: dict[str, Any], model: Any, test: pd.DataFrame) -> list[str]:
    """The columns the model was fitted with, all of which the test matrix must have."""
    columns = feature_columns(family, model, info)
    if not columns:
        raise InputError(f"{family}: neither the model nor info.json names its feature columns; rerun tune.")
    if missing := [c for c in columns if c not in test.columns]:
        raise InputError(f"the test features lack {len(missing)} column(s) the {family} model was fitted with "
                         f"({missing[:5]}); rerun features and tune together.")
    return list(columns)


def sequence_inputs(prepared: Path, transform_path: Path, ids: pd.Series, infos: dict[str, dict[str, Any]],
                    models: dict[str, Any]) -> SequenceInputs | str:
    """(saved transform, prepared test customers in `ids` order, their events), or why the part is skipped."""
    if first_with("sequence", models) is None:
        return _skip_reason(with_trait("sequence"), infos)
    if not read_json(prepared / "meta.json").get("has_events"):
        return "no event log"
    customers = pd.read_parquet(prepared / "test.parquet")
    order = pd.Index(customers[ID].astype(str)).get_indexer(ids.astype(str))
    if (order < 0).any():
        raise InputError(f"{prepared / 'test.parquet'}: lacks {int((order < 0).sum())} customers of the test features; "
                         "rerun the pipeline (dvc repro).")
    customers = customers.iloc[order].reset_index(drop=True)
    events = pd.read_parquet(prepared / "events.parquet")
    events = events[events[ID].astype(str).isin(set(ids.astype(str)))].reset_index(drop=True)
    return load_transform(transform_path), customers, events


def ranking_of(metrics_path: Path, models: dict[str, Any]) -> tuple[list[str], str]:
    """The CV ranking and metric evaluate recorded; every ranked family must have a loaded model."""
    if not metrics_path.is_file():
        raise InputError(f"{metrics_path}: not found; run the evaluate stage first (dvc repro evaluate).")
    m = read_json(metrics_path)
    if missing := [f for f in m.get("ranking", []) if f not in models]:
        raise InputError(f"{metrics_path}: ranks {missing}, which have no tuned model; rerun evaluate.")
    if m.get("metric") not in OBJECTIVES:
        raise InputError(f"{metrics_path}: 'metric' should be one of {list(OBJECTIVES)}, got {m.get('metric')!r}.")
    return list(m["ranking"]), m["metric"]


def feature_groups(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """The manifest's embedding columns as one feature per group (the sequence embedding)."""
    groups: dict[str, list[str]] = {}
    for f in manifest.get("features", []):
        if f.get("source") == "embedding" and f.get("group"):
            groups.setdefault(f["group"], []).append(f["name"])
    return groups
