"""The Streamlit views of pipeline/app.py: leaderboard + curves, customer lookup, file upload.

Rendering only; the logic they call (scoring, uploads, reasons) lives in pipeline.webapp.content,
pipeline.webapp.uploads and pipeline.serving, so it is testable without a browser. Each view keeps what it
showed in st.session_state ("lookup", "upload_scores", "upload_drift") for tests and for a download. Any
exception is one line in the page (`one_line_errors`); its traceback goes to the server log only.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pipeline.core.errors import InputError
from pipeline.core.schema import EVENT_TYPE, ID, TARGET, TIMESTAMP
from pipeline.explanation.contributions import explainable_families
from pipeline.models.store import ENSEMBLE
from pipeline.monitoring.reference import REFERENCE, DriftReference, find_reference
from pipeline.monitoring.summary import drift_message
from pipeline.serving.scorer import DECILE, LABEL, PROBABILITY, RANK, Scorer
from pipeline.webapp import content as app
from pipeline.webapp.uploads import Caps, Upload, UploadScores, score_uploads, size

log = logging.getLogger(__name__)

UNEXPECTED = "error: unexpected error ({}); details in the server log"


def show_error(err: Exception) -> None:
    """One line in the page: an InputError's message (the CLI's), else only the exception's type."""
    if isinstance(err, InputError):
        st.error("error: " + " ".join(str(err).splitlines()))
    else:   # the message and traceback may hold paths or data: the server log only
        log.error("app: unexpected error", exc_info=err)
        st.error(UNEXPECTED.format(type(err).__name__))


@contextmanager
def one_line_errors() -> Iterator[None]:
    """The page's error boundary (Streamlit's own stop and rerun are BaseExceptions and pass through)."""
    try:
        yield
    except Exception as err:   # noqa: BLE001 - shown as one line, logged whole; nothing is skipped silently
        show_error(err)


@st.cache_resource(show_spinner="Loading the model ...")
def cached_scorer(root: str, family: str) -> Scorer:
    return Scorer.load(root, family)


@st.cache_resource(show_spinner=False)
def cached_reference(root: str) -> DriftReference | None:
    return find_reference(root)


@st.cache_resource(show_spinner="Scoring the held-out customers ...")
def cached_known(root: str, family: str) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """(customers, events, ranked scores by id) of the test split, scored once per model."""
    customers, events = app.held_out_customers(Path(root))
    return customers, events, app.score_known(cached_scorer(root, family), customers, events)


@st.cache_data(max_entries=8, show_spinner="Scoring the upload ...")
def cached_upload(root: str, family: str, threshold: float, as_of: str, customers_sha: str | None,
                  events_sha: str | None, caps: tuple[int, int], no_events: bool, _scorer: Scorer,
                  _reference: DriftReference | None, _customers: Upload | None, _events: Upload | None) -> UploadScores:
    """Scores of uploaded files, keyed by their content, the as-of and the model: a rerun does not rescore.
    (Streamlit hashes the arguments without a leading underscore; the others are what those keys stand for.)"""
    return score_uploads(_scorer, _customers, _events, pd.Timestamp(as_of), Caps(*caps), _reference, no_events)


def leaderboard(root: Path, metrics: dict[str, Any] | None) -> None:
    if metrics is None:
        st.info("No reports/metrics.json yet: run `dvc repro evaluate` for the leaderboard.")
        return
    from pipeline.reporting.figures import curve_figures
    from pipeline.reporting.summary import leaderboard as table

    st.subheader(f"Test-set leaderboard (best by CV {metrics['metric']}: {metrics['best']})")
    st.dataframe(table(metrics), hide_index=True)
    if (root / app.PLOTS).is_dir():
        figures = curve_figures(root / app.PLOTS)
        for column, (name, figure) in zip(st.columns(2) * 2, figures.items()):
            with column:
                st.plotly_chart(figure, key=f"curve_{name}")


def lookup(root: Path, scorer: Scorer, enabled: bool = True) -> None:
    if not enabled:
        st.caption("The customer lookup is off (--no-lookup): it shows a customer's own features and events.")
        return
    customer_id = st.text_input("Customer id", key="customer_id").strip()
    if not customer_id:
        st.caption("A customer of the test split, scored at the training as-of as evaluate scored him: held out, "
                   "so his score is an honest one. Training customers are not shown: the model fitted their "
                   "labels, so their scores would look more certain than they are.")
        return
    customers, events, scores = cached_known(str(root), st.session_state.get("family", "best"))
    if customer_id not in scores.index:
        st.warning(f"customer id {customer_id!r} not found among the {len(scores):,} held-out (test split) "
                   "customers; the lookup shows no training customer.")
        return
    row = scores.loc[customer_id]
    st.session_state["lookup"] = {ID: customer_id, PROBABILITY: float(row[PROBABILITY]), DECILE: int(row[DECILE])}
    a, b, c = st.columns(3)
    a.metric("Probability", f"{row[PROBABILITY]:.4f}")
    b.metric("Decile (1 = top 10 %)", int(row[DECILE]), help=f"rank {int(row[RANK]):,} of {len(scores):,}")
    c.metric("Label", int(row[LABEL]), help=f"1 when the probability >= {scorer.threshold:.4f}")
    customer = customers[customers[ID] == customer_id]
    own = None if events is None else events[events[ID] == customer_id]
    st.subheader("Static features")
    st.dataframe(customer.drop(columns=[TARGET]).T.rename(columns=lambda _: "value").astype(str))
    if own is not None:
        st.subheader(f"Event timeline ({len(own)} events)")
        st.plotly_chart(timeline(own), key="timeline")
    st.subheader("Reasons")
    reasons = app.reasons_for(scorer, customer, own)
    if reasons is None:
        why = "it blends several models" if scorer.family == ENSEMBLE else "a sequence model has no exact attribution"
        st.caption(f"Not available for the {scorer.family} model ({why}). Pick one of "
                   f"{', '.join(explainable_families())} in the sidebar for per-feature reasons.")
    else:
        st.dataframe(reasons, hide_index=True)


def timeline(events: pd.DataFrame) -> go.Figure:
    """One marker per event, by type over time (hover: the value columns)."""
    kind = events[EVENT_TYPE] if EVENT_TYPE in events.columns else pd.Series("event", index=events.index)
    values = [c for c in events.columns if c not in (ID, TIMESTAMP, EVENT_TYPE)]
    hover = events[values].astype(str).apply(lambda r: ", ".join(f"{k}={v}" for k, v in r.items()), axis=1)
    figure = go.Figure(go.Scatter(x=events[TIMESTAMP], y=kind, mode="markers", text=hover, marker={"size": 10}))
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="time")
    return figure


def as_of_input() -> pd.Timestamp:
    """The scoring reference time: a day, 00:00 UTC (default today), as `predict --as-of 2026-02-01` takes it."""
    day = st.date_input("Score as of (00:00 UTC)", value=datetime.now(timezone.utc).date(), key="as_of",
                        help="Recency features are measured to this time; events at or after it are dropped "
                             "(counted in the notes). Default: today (UTC). The download's name records it.")
    return pd.Timestamp(day)


def upload(scorer: Scorer, reference: DriftReference | None, root: Path, caps: Caps) -> None:
    events_only = not scorer.meta["numeric"] and not scorer.meta["categorical"]
    st.caption("Upload customers (and optionally their events) with the training run's columns; the scores "
               "are those `python -m pipeline.predict` writes for the same files and as-of. Up to "
               f"{caps.max_rows:,} rows and {size(caps.max_bytes)} per file: larger files go to the CLI."
               + (" This model reads the event log alone: the events file by itself scores everyone in it."
                  if events_only else ""))
    customers = st.file_uploader("Customers (CSV or Parquet)" + (" (optional)" if events_only else ""),
                                 type=["csv", "parquet"], key="customers_file")
    events = st.file_uploader("Events (optional)" if not events_only else "Events (CSV or Parquet)",
                              type=["csv", "parquet"], key="events_file")
    as_of = as_of_input()
    # said, never assumed: an events model scored without events treats everyone as inactive
    no_events = scorer.transform.builder.events is not None and events is None and st.checkbox(
        "These customers have no events yet", key="no_events",
        help="Without an events file the model's event features are those of a customer with no activity.")
    st.session_state.pop("upload_scores", None)
    st.session_state.pop("upload_drift", None)
    if customers is None and not (events_only and events is not None):
        return
    files = [None if f is None else Upload(f.name, f.getvalue()) for f in (customers, events)]
    digests = [None if f is None else f.digest() for f in files]
    scored = cached_upload(str(root), scorer.family, scorer.threshold, as_of.isoformat(), *digests,
                           (caps.max_rows, caps.max_bytes), no_events, scorer, reference, *files)
    for note in scored.notes:
        st.info(note)
    frame = scored.frame
    st.session_state["upload_scores"] = frame
    st.write(f"{len(frame):,} customers scored with {scorer.family} as of {as_of:%Y-%m-%d %H:%M} UTC; "
             f"{int(frame[LABEL].sum()):,} labelled 1.")
    st.dataframe(frame.head(200), hide_index=True)
    st.download_button("Download scores (CSV)", frame.to_csv(index=False).encode(), mime="text/csv", key="download",
                       file_name=f"scores_{scorer.family}_as-of_{as_of:%Y-%m-%d}.csv")
    drift(scored.drift)


def drift(summary: dict[str, Any] | None) -> None:
    """The upload against the training distribution: predict's drift line (a warning when large) and a table."""
    st.subheader("Drift against the training data")
    if summary is None:
        st.session_state.pop("upload_drift", None)
        st.caption(f"No drift reference in this project ({REFERENCE}, a run made before drift monitoring): "
                   "`dvc repro features` writes it.")
        return
    st.session_state["upload_drift"] = summary
    level, line = drift_message(summary, "per feature below")
    (st.warning if level >= logging.WARNING else st.info)(line)
    st.dataframe(app.drift_table(summary), hide_index=True)
