"""The Streamlit views of pipeline/app.py: leaderboard + curves, customer lookup, file upload.

Rendering only; the logic they call (scoring, uploads, reasons) lives in pipeline.webapp.content and
pipeline.serving.scorer, so it is testable without a browser. Each view keeps what it showed in
st.session_state ("lookup", "upload_scores", "upload_drift") for tests and for a download.
"""
from __future__ import annotations

import logging
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


@st.cache_resource(show_spinner="Loading the model ...")
def cached_scorer(root: str, family: str) -> Scorer:
    return Scorer.load(root, family)


@st.cache_resource(show_spinner=False)
def cached_reference(root: str) -> DriftReference | None:
    return find_reference(root)


@st.cache_resource(show_spinner="Scoring the known customers ...")
def cached_known(root: str, family: str) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """(customers, events, ranked scores by id) of the training data, scored once per model."""
    customers, events = app.known_customers(Path(root))
    return customers, events, app.score_known(cached_scorer(root, family), customers, events)


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


def lookup(root: Path, scorer: Scorer) -> None:
    customer_id = st.text_input("Customer id", key="customer_id").strip()
    if not customer_id:
        st.caption("Any customer of the training data (train or test split), scored at the training as-of.")
        return
    customers, events, scores = cached_known(str(root), st.session_state.get("family", "best"))
    if customer_id not in scores.index:
        st.warning(f"customer id {customer_id!r} not found among the {len(scores):,} customers of the training data.")
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


def upload(scorer: Scorer, reference: DriftReference | None) -> None:
    events_only = not scorer.meta["numeric"] and not scorer.meta["categorical"]
    st.caption("Upload customers (and optionally their events) with the training run's columns; the scores "
               "are those `python -m pipeline.predict` writes for the same files."
               + (" This model reads the event log alone: the events file by itself scores everyone in it."
                  if events_only else ""))
    customers = st.file_uploader("Customers (CSV or Parquet)" + (" (optional)" if events_only else ""),
                                 type=["csv", "parquet"], key="customers_file")
    events = st.file_uploader("Events (optional)" if not events_only else "Events (CSV or Parquet)",
                              type=["csv", "parquet"], key="events_file")
    if customers is None and not (events_only and events is not None):
        return
    try:
        scored = app.score_upload(scorer, None if customers is None else (customers.name, customers.getvalue()),
                                  None if events is None else (events.name, events.getvalue()))
        summary = app.upload_drift(reference, scored)
    except InputError as err:
        st.session_state.pop("upload_scores", None)
        st.session_state.pop("upload_drift", None)
        st.error(f"error: {err}")
        return
    for note in scored.notes:
        st.info(note)
    frame = scored.frame
    st.session_state["upload_scores"] = frame
    st.write(f"{len(frame):,} customers scored with {scorer.family}; {int(frame[LABEL].sum()):,} labelled 1.")
    st.dataframe(frame.head(200), hide_index=True)
    st.download_button("Download scores (CSV)", frame.to_csv(index=False).encode(), file_name="scores.csv",
                       mime="text/csv", key="download")
    drift(summary)


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
