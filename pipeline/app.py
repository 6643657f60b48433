"""Streamlit app over the latest pipeline run: leaderboard and curves, customer lookup, file scoring.

    streamlit run pipeline/app.py                      # artifacts of the project in the current directory
    streamlit run pipeline/app.py -- --root DIR        # or CUSTOMER_AUTOML_ROOT=DIR

It reads the same artifacts as `python -m pipeline.predict` and scores through the very same
`pipeline.serving.scorer.Scorer.score`, so both give the same numbers; it never fits anything. Bad uploads
show the CLI's one-line message (st.error), never a traceback. An upload's drift against the training
distribution is shown as predict writes it to scores.drift.json (pipeline/monitoring/).
"""
from __future__ import annotations

from pipeline.core.errors import InputError
from pipeline.core.io import read_json
from pipeline.serving.scorer import META, METRICS, TUNED
from pipeline.webapp.content import fitted_families, project_root


def main() -> None:
    import streamlit as st

    from pipeline.webapp import views

    st.set_page_config(page_title="customer-automl", layout="wide")
    root = project_root()
    if not (root / META).is_file():
        st.error(f"error: {root / META}: not found; run the pipeline first (dvc repro), or pass -- --root DIR.")
        return
    metrics = read_json(root / METRICS) if (root / METRICS).is_file() else None
    tuned = fitted_families(root / TUNED)
    family = st.sidebar.selectbox("Model", ["best", *tuned] if metrics else tuned, key="family")
    try:
        scorer = views.cached_scorer(str(root), family)
        reference = views.cached_reference(str(root))
    except InputError as err:
        st.error(f"error: {err}")
        return
    st.sidebar.caption(f"{scorer.family}, threshold {scorer.threshold:.3f}")
    board, lookup, upload = st.tabs(["Leaderboard", "Customer lookup", "Score a file"])
    with board:
        views.leaderboard(root, metrics)
    with lookup:
        views.lookup(root, scorer)
    with upload:
        views.upload(scorer, reference)


if __name__ == "__main__":
    main()
