"""What the Streamlit app shows, as plain functions (testable without a browser): the project root,
known customers and their scores, one customer's reasons, uploaded files scored like `predict` and their
drift against the training distribution (the summary `predict` writes to scores.drift.json).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import read_table
from pipeline.core.schema import EVENT_TYPE, ID, TARGET, TIMESTAMP
from pipeline.explanation.contributions import explainable_families
from pipeline.models import store as model_store
from pipeline.models.registry import FAMILIES
from pipeline.monitoring.psi import count
from pipeline.monitoring.reference import DriftReference
from pipeline.monitoring.summary import summarize
from pipeline.serving.batch import event_customers
from pipeline.serving.scorer import Scored, Scorer, add_rank

ROOT_ENV = "CUSTOMER_AUTOML_ROOT"
PREPARED = Path("data/interim/prepared")
PLOTS = Path("reports/plots")
N_REASONS = 5


def project_root(argv: list[str] | None = None) -> Path:
    """--root after `--` on the streamlit command line, else $CUSTOMER_AUTOML_ROOT, else the current directory."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--root", type=Path)
    args, _ = ap.parse_known_args(sys.argv[1:] if argv is None else argv)
    return args.root or Path(os.environ.get(ROOT_ENV, "."))


def user_columns(frame: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """Prepared (canonical) tables back under the user's column names, the form new files come in."""
    cols = meta["columns"]
    names = {ID: cols["id"], TIMESTAMP: cols["timestamp"], EVENT_TYPE: cols["event_type"]}
    return frame.drop(columns=[TARGET], errors="ignore").rename(columns={k: v for k, v in names.items() if v})


def fitted_families(tuned_dir: Path) -> list[str]:
    """Families tune fitted here, from their info.json (skipped ones have no model), in canonical order,
    then the ensemble when tune made one."""
    return [f for f in (*FAMILIES, model_store.ENSEMBLE) if (tuned_dir / f / model_store.INFO_FILE).is_file()
            and "skipped" not in model_store.read_info(tuned_dir / f)]


def known_customers(root: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Train + test customers and their events, as prepare kept them (canonical names)."""
    prepared = root / PREPARED
    customers = pd.concat([read_table(prepared / f"{s}.parquet", f"prepared {s}", (ID,)) for s in ("train", "test")],
                          ignore_index=True)
    events_path = prepared / "events.parquet"
    events = read_table(events_path, "prepared events", (ID,)) if events_path.is_file() else None
    return customers, events


def score_known(scorer: Scorer, customers: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    """Every known customer scored at the training as-of, ranked: what the lookup shows."""
    meta = scorer.meta
    scored = scorer.score(user_columns(customers, meta), None if events is None else user_columns(events, meta),
                          labels={"customers": "prepared customers", "events": "prepared events"},
                          as_of=meta.get("as_of"), quiet=True)
    return add_rank(scored.frame).set_index(ID)


def reasons_for(scorer: Scorer, customer: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame | None:
    """The top features of one customer (None for the sequence model, which has no exact attribution)."""
    if scorer.family not in explainable_families():
        return None
    meta = scorer.meta
    frame = scorer.score(user_columns(customer, meta), None if events is None else user_columns(events, meta),
                         as_of=meta.get("as_of"), explain=N_REASONS, quiet=True).frame
    rows = [{"feature": frame[f"reason_{i}"].iloc[0], "model input": frame[f"reason_{i}_value"].iloc[0],
             "effect": frame[f"reason_{i}_effect"].iloc[0]} for i in range(1, N_REASONS + 1) if f"reason_{i}" in frame]
    return pd.DataFrame(rows)


def read_upload(name: str, data: bytes, role: str, id_column: str) -> pd.DataFrame:
    """An uploaded file through the CLI's reader (same checks: suffix, empty, header only, parse errors)."""
    suffix = Path(name).suffix
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return read_table(path, role, (id_column,))
        except InputError as err:
            raise InputError(str(err).replace(str(path), name)) from None


def score_upload(scorer: Scorer, customers: tuple[str, bytes] | None, events: tuple[str, bytes] | None) -> Scored:
    """Uploaded files -> ranked scores, as `predict` would write them; InputError on bad input. Without a
    customers file (a model of an event log alone), everyone in the events file, as predict does."""
    id_column = scorer.data.id_column
    ev = None if events is None else read_upload(*events, "events", id_column)
    if customers is None:
        ids = None if ev is None or id_column not in ev.columns else ev[id_column]
        frame = event_customers(scorer, ids, "a customers file")
    else:
        frame = read_upload(*customers, "customers", id_column)
    labels = {"customers": customers[0] if customers else "the events' customers",
              "events": events[0] if events else "events"}
    scored = scorer.score(frame, ev, labels=labels, quiet=True)
    return dataclasses.replace(scored, frame=add_rank(scored.frame))


def upload_drift(reference: DriftReference | None, scored: Scored) -> dict[str, Any] | None:
    """The drift summary of an upload (as predict writes it), or None without a drift reference."""
    return None if reference is None else summarize(reference, count(reference, scored.customers, scored.matrix))


def drift_table(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per compared feature, largest PSI first (ties: the reference's order)."""
    rows = [(name, row["kind"], row["psi"], row["status"], row.get("unseen_share"))
            for name, row in summary["features"].items()]
    table = pd.DataFrame(rows, columns=["feature", "kind", "PSI", "status", "unseen share"])
    return table.sort_values("PSI", ascending=False, kind="stable").reset_index(drop=True)
