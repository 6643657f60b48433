"""eda stage: describe the prepared data in reports/eda.html (for people) and reports/eda.json (for machines).

Reads only the prepared directory (train.parquet, test.parquet, events.parquet when meta.has_events,
meta.json; never truth.parquet) and the `eda` params section. It describes both splits, but whatever
ranks or fits (relations to the target, IQR fences, the categorical levels shown, histogram ranges)
uses train only: DESIGN.md, "describes all; decisions use train only".

    python -m pipeline.eda --prepared data/interim/prepared --html reports/eda.html --json reports/eda.json
"""
from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from pipeline import eda_events, eda_figures, eda_relations, eda_stats
from pipeline.eda_format import cards, fmt_int, fmt_num, fmt_pct
from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.core.io import read_json, write_json, write_text
from pipeline.core.params import EdaParams, add_params_arg, as_dict, load_params
from pipeline.core.schema import ID, TARGET, TEST, TIMESTAMP, TRAIN

log = logging.getLogger(__name__)

TEMPLATE = "eda.html.j2"
SIGNIFICANT = 6          # digits kept in eda.json: plenty for a description, and stable to read/diff


@dataclass(frozen=True)
class Prepared:
    train: pd.DataFrame
    test: pd.DataFrame
    events: pd.DataFrame | None
    meta: dict[str, Any]


def read_prepared(directory: Path) -> Prepared:
    """Read the prepare stage's output; a missing file or column is an InputError naming it."""
    def need(name: str) -> Path:
        if not (directory / name).is_file():
            raise InputError(f"{directory / name}: not found; expected the prepare stage's output in {directory}.")
        return directory / name

    meta = read_json(need("meta.json"))
    train, test = pd.read_parquet(need(f"{TRAIN}.parquet")), pd.read_parquet(need(f"{TEST}.parquet"))
    events = pd.read_parquet(need("events.parquet")) if meta.get("has_events") else None
    for name, frame in ((TRAIN, train), (TEST, test)):
        if missing := [c for c in (ID, TARGET, *meta.get("numeric", []), *meta.get("categorical", [])) if c not in frame]:
            raise InputError(f"{directory / name}.parquet lacks columns {missing} named in meta.json; rerun prepare.")
    if events is not None and (missing := [c for c in (ID, TIMESTAMP) if c not in events]):
        raise InputError(f"{directory / 'events.parquet'} lacks columns {missing}; rerun prepare.")
    return Prepared(train, test, events, meta)


def check_params(p: EdaParams) -> None:
    """Reject settings that cannot describe anything (no bins, no levels, negative counts)."""
    for name in ("bins", "max_categories"):
        if getattr(p, name) < 1:
            raise InputError(f"params: 'eda.{name}' must be at least 1, got {getattr(p, name)}.")
    for name in ("top_relations", "max_plots", "iqr_k"):
        if getattr(p, name) < 0:
            raise InputError(f"params: 'eda.{name}' must not be negative, got {getattr(p, name)}.")


def dataset_info(prepared: Prepared) -> dict[str, Any]:
    """What the data is: source, names of id/target, shapes, and what prepare dropped or warned about."""
    meta, columns = prepared.meta, meta_columns(prepared.meta)
    return {"source": meta.get("source"), "files": meta.get("files"), "columns": meta.get("columns"),
            "shape": {TRAIN: list(prepared.train.shape), TEST: list(prepared.test.shape)},
            "n_customers": len(prepared.train) + len(prepared.test),
            "n_features": len(columns), "n_numeric": len(meta.get("numeric", [])),
            "n_categorical": len(meta.get("categorical", [])), "has_events": prepared.events is not None,
            "dropped": meta.get("dropped"), "warnings": meta.get("warnings", [])}


def meta_columns(meta: dict[str, Any]) -> list[str]:
    return [*meta.get("numeric", []), *meta.get("categorical", [])]


def describe_columns(prepared: Prepared, p: EdaParams) -> dict[str, Any]:
    """Per-column kind/dtype, numeric stats + histogram, and categorical levels."""
    train, test, meta = prepared.train, prepared.test, prepared.meta
    y = train[TARGET].to_numpy().astype(int)
    kinds = [(c, "numeric") for c in meta.get("numeric", [])] + [(c, "categorical") for c in meta.get("categorical", [])]
    return {
        "columns": [{"name": c, "kind": kind, "dtype": str(train[c].dtype)} for c, kind in kinds],
        "numeric": {c: {"train": eda_stats.describe_numeric(train[c]), "test": eda_stats.describe_numeric(test[c]),
                        "histogram": eda_stats.histogram(train[c], test[c], y, p.bins)} for c in meta.get("numeric", [])},
        "categorical": {c: eda_stats.describe_categorical(train[c], test[c], y, p.max_categories)
                        for c in meta.get("categorical", [])},
    }


def summarise(prepared: Prepared, p: EdaParams) -> dict[str, Any]:
    """Every number of the page, JSON-ready (NaN -> None); relations and fences from train only."""
    train, meta, events = prepared.train, prepared.meta, prepared.events
    splits = {TRAIN: train, TEST: prepared.test}
    numeric, categorical = meta.get("numeric", []), meta.get("categorical", [])
    aggregates = None
    if events is not None and len(events):
        value_columns = [c for c in meta.get("event_numeric", []) if c in events]
        aggregates = eda_events.customer_aggregates(events, train[ID], eda_events.as_of_time(events, meta),
                                                    p.max_categories, value_columns)
    return jsonable({
        "dataset": dataset_info(prepared),
        "params": as_dict(p),
        **describe_columns(prepared, p),
        "target": eda_stats.target_balance(splits),
        "missing": eda_stats.missingness(splits, meta_columns(meta)),
        "outliers": eda_stats.iqr_outliers(splits, numeric, p.iqr_k),
        "events": eda_events.summarise_events(events, splits, meta, p.bins) if events is not None else None,
        "relations": eda_relations.relations(train, numeric, categorical, aggregates, p.max_categories,
                                             p.top_relations),
    })


def jsonable(value: Any) -> Any:
    """Plain JSON types; NaN/inf/NaT -> None; floats to SIGNIFICANT digits so runs diff cleanly."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(f"{value:.{SIGNIFICANT}g}") if math.isfinite(value) else None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def render_html(summary: dict[str, Any], figures: dict[str, Any]) -> str:
    """The self-contained page: template + inline SVGs; every string from the data is autoescaped."""
    env = Environment(loader=PackageLoader("pipeline", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(int=fmt_int, pct=fmt_pct, num=fmt_num)
    return env.get_template(TEMPLATE).render(s=summary, fig=trusted(figures), cards=cards(summary))


def trusted(figures: Any) -> Any:
    """Matplotlib's SVG already escapes its text, so the markup goes in as is."""
    if isinstance(figures, dict):
        return {k: trusted(v) for k, v in figures.items()}
    return Markup(figures) if isinstance(figures, str) else figures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.eda", description=__doc__.splitlines()[0])
    add_params_arg(parser)
    parser.add_argument("--prepared", type=Path, required=True, help="the prepare stage's output directory")
    parser.add_argument("--html", type=Path, required=True, help="the page to write (eda.html)")
    parser.add_argument("--json", type=Path, required=True, help="the numbers to write (eda.json)")
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    p = load_params(args.params).eda
    check_params(p)
    start = time.perf_counter()
    summary = summarise(read_prepared(args.prepared), p)
    html = render_html(summary, eda_figures.build_figures(summary, p.max_plots, p.max_categories))
    write_json(summary, args.json)
    write_text(html, args.html)
    top = summary["relations"]["top"]
    strongest = f"strongest '{top[0]['feature']}' (AUC strength {top[0]['strength']:.3f})" if top else "no relations"
    events = summary["events"]["n_events"] if summary["events"] else 0
    log.info("eda: %d train / %d test customers, %d features, %d events, %s; %.1f s -> %s, %s",
             summary["target"][TRAIN]["n"], summary["target"][TEST]["n"], summary["dataset"]["n_features"],
             events, strongest, time.perf_counter() - start, args.html, args.json)


if __name__ == "__main__":
    main()
