"""Explain stage: what the tuned models rely on, measured on the TEST split only by scoring (never fitting).

Reads data/features/test.parquet, models/tuned/<family>/ (see model_store), reports/metrics.json
(metric and CV ranking), and for the sequence model the prepared test customers and events
(data/interim/prepared) with the saved transform (models/transform.skops). Writes reports/explain.json:
  permutation   permutation importance of every feature for the best tree family by CV (xgb or forest)
  coefficients  the logistic regression's coefficients (on its standardised inputs)
  sequence      the sequence model's metric drop when each customer's event order is shuffled, and
                when all events of one type are removed (one type at a time)
  skipped       part -> plain-language reason, for every part that could not be computed
Drops are baseline minus perturbed metric, signed so that positive = the model relied on it.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import explain_tabular as tab
from pipeline import model_store
from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.explain_sequence import SEQUENCE_FAMILY, sequence_effects
from pipeline.core.io import read_json, write_json
from pipeline.core.params import ExplainParams, add_params_arg, load_params
from pipeline.core.schema import ID, TARGET
from pipeline.featurization.store import load_split
from pipeline.featurization.transform import CustomerTransform, load_transform

log = logging.getLogger(__name__)

SequenceInputs = tuple[CustomerTransform, pd.DataFrame, pd.DataFrame]   # saved transform, test customers, events


def sample_rows(test: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """All test rows, or a seeded sample of `max_rows` of them (kept in file order)."""
    if max_rows is None or len(test) <= max_rows:
        return test
    keep = np.sort(np.random.default_rng(seed).choice(len(test), size=max_rows, replace=False))
    return test.iloc[keep].reset_index(drop=True)


def _skip_reason(family: str, infos: dict[str, dict[str, Any]]) -> str:
    if family not in infos:
        return f"{family} was not tuned (not in tune.models)"
    return f"{family} was skipped by tune: {infos[family].get('skipped', 'no model')}"


def explain(test: pd.DataFrame, infos: dict[str, dict[str, Any]], models: dict[str, Any], ranking: list[str],
            metric: str, p: ExplainParams, seed: int, sequence: SequenceInputs | str) -> dict[str, Any]:
    """Pure core. `sequence`: (transform, test customers, their events) for the sequence part, or why it is skipped."""
    y = test[TARGET].to_numpy().astype(int)
    if len(np.unique(y)) != 2:
        raise InputError(f"the explained test rows hold only class {np.unique(y).tolist()}; metrics need both.")
    out: dict[str, Any] = {"metric": metric, "n_test": len(test), "permutation": None, "coefficients": None,
                           "sequence": None, "skipped": {}}
    tree = tab.best_tree_family(ranking)
    if tree is None:
        out["skipped"]["permutation"] = "no tree family (xgb or forest) was tuned"
    else:
        X = test[_columns(tree, infos[tree], models[tree], test)]
        out["permutation"] = tab.permutation(tree, models[tree], X, y, metric, p.n_repeats, seed)
    if "logreg" in models:
        columns = _columns("logreg", infos["logreg"], models["logreg"], test)
        out["coefficients"] = tab.coefficients(models["logreg"], columns)
    else:
        out["skipped"]["coefficients"] = _skip_reason("logreg", infos)
    if isinstance(sequence, str):
        out["skipped"]["sequence"] = sequence
    else:
        transform, customers, events = sequence
        out["sequence"] = sequence_effects(transform, customers, events, infos[SEQUENCE_FAMILY],
                                           models[SEQUENCE_FAMILY], metric, p.n_repeats, seed)
        if not out["sequence"]["drop_event_type"]:
            out["skipped"]["sequence.drop_event_type"] = "the event log has no event types"
    return out


def _columns(family: str, info: dict[str, Any], model: Any, test: pd.DataFrame) -> list[str]:
    """The columns the model was fitted with, all of which the test matrix must have."""
    columns = model_store.model_columns(model) or info.get("feature_columns")
    if not columns:
        raise InputError(f"{family}: neither the model nor info.json names its feature columns; rerun tune.")
    if missing := [c for c in columns if c not in test.columns]:
        raise InputError(f"the test features lack {len(missing)} column(s) the {family} model was fitted with "
                         f"({missing[:5]}); rerun features and tune together.")
    return list(columns)


def sequence_inputs(prepared: Path, transform_path: Path, ids: pd.Series, infos: dict[str, dict[str, Any]],
                    models: dict[str, Any]) -> SequenceInputs | str:
    """(saved transform, prepared test customers in `ids` order, their events), or why the part is skipped."""
    if SEQUENCE_FAMILY not in models:
        return _skip_reason(SEQUENCE_FAMILY, infos)
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
    if m.get("metric") not in tab.METRICS:
        raise InputError(f"{metrics_path}: 'metric' should be one of {list(tab.METRICS)}, got {m.get('metric')!r}.")
    return list(m["ranking"]), m["metric"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.explain", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    for flag, example in (("features", "data/features"), ("models", "models/tuned"),
                          ("metrics", "reports/metrics.json"), ("prepared", "data/interim/prepared"),
                          ("transform", "models/transform.skops"), ("out", "reports/explain.json")):
        parser.add_argument(f"--{flag}", type=Path, required=True, help=f"e.g. {example}")
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    params = load_params(args.params)
    p = params.explain
    if p.n_repeats < 1 or (p.max_rows is not None and p.max_rows < 2):
        raise InputError(f"{args.params}: explain.n_repeats must be >= 1 and explain.max_rows >= 2 (or null); got {p}.")
    test, _, _ = load_split(args.features, "test")
    test = sample_rows(test, p.max_rows, params.seed)
    infos, models = model_store.load_tuned(args.models)
    ranking, metric = ranking_of(args.metrics, models)
    seq = sequence_inputs(args.prepared, args.transform, test[ID], infos, models)
    result = explain(test, infos, models, ranking, metric, p, params.seed, seq)
    write_json(result, args.out)
    done = {part: result[part]["family"] for part in ("permutation", "coefficients", "sequence") if result[part]}
    log.info("explain: %d test customers; explained %s; skipped %s -> %s", result["n_test"], done,
             sorted(result["skipped"]) or "nothing", args.out)


if __name__ == "__main__":
    main()
