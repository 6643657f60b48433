"""What the Streamlit app shows, as plain functions (testable without a browser): its options (project root,
lookup on or off, upload caps), the held-out customers and their scores, one customer's reasons, and the drift
table of an upload (uploads themselves: pipeline/webapp/uploads.py).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.io import read_table
from pipeline.core.schema import EVENT_TYPE, ID, TARGET, TIMESTAMP
from pipeline.explanation.contributions import explainable_families
from pipeline.models import store as model_store
from pipeline.models.registry import FAMILIES
from pipeline.serving.scorer import Scorer, add_rank
from pipeline.webapp import uploads
from pipeline.webapp.uploads import Caps

ROOT_ENV = "CUSTOMER_AUTOML_ROOT"
PREPARED = Path("data/interim/prepared")
PLOTS = Path("reports/plots")
N_REASONS = 5


@dataclass(frozen=True)
class AppOptions:
    root: Path
    lookup: bool     # the held-out customer lookup (row-level features and events); off with --no-lookup
    caps: Caps       # per uploaded file


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    ap.add_argument("--root", type=Path)
    ap.add_argument("--no-lookup", dest="lookup", action="store_false")
    ap.add_argument("--max-upload-rows", type=int, default=uploads.MAX_UPLOAD_ROWS)
    ap.add_argument("--max-upload-mb", type=float, default=uploads.MAX_UPLOAD_MB)
    return ap.parse_known_args(sys.argv[1:] if argv is None else argv)[0]


def app_options(argv: list[str] | None = None) -> AppOptions:
    """The app's flags, after `--` on the streamlit command line: --root DIR (else $CUSTOMER_AUTOML_ROOT, else the
    current directory), --no-lookup, --max-upload-rows N and --max-upload-mb MB (defaults: webapp/uploads.py)."""
    args = _parse(argv)
    root = args.root or Path(os.environ.get(ROOT_ENV, "."))
    return AppOptions(root, args.lookup, Caps(args.max_upload_rows, int(args.max_upload_mb * 2**20)))


def project_root(argv: list[str] | None = None) -> Path:
    """--root after `--` on the streamlit command line, else $CUSTOMER_AUTOML_ROOT, else the current directory."""
    return app_options(argv).root


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


def held_out_customers(root: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The test split's customers and their events, as prepare kept them (canonical names).

    Only these: the model never saw their labels, so their score is the honest one evaluate measured; a training
    customer's score is in-sample (the model fitted his label) and would look more certain than it is."""
    prepared = root / PREPARED
    customers = read_table(prepared / "test.parquet", "prepared test", (ID,))
    events_path = prepared / "events.parquet"
    events = read_table(events_path, "prepared events", (ID,)) if events_path.is_file() else None
    return customers, None if events is None else events[events[ID].isin(set(customers[ID]))]


def score_known(scorer: Scorer, customers: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    """The held-out customers scored at the training as-of (as evaluate scored them), ranked: what the lookup shows."""
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


def drift_table(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per compared feature, largest PSI first (ties: the reference's order)."""
    rows = [(name, row["kind"], row["psi"], row["status"], row.get("unseen_share"))
            for name, row in summary["features"].items()]
    table = pd.DataFrame(rows, columns=["feature", "kind", "PSI", "status", "unseen share"])
    return table.sort_values("PSI", ascending=False, kind="stable").reset_index(drop=True)
