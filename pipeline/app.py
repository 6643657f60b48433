"""Streamlit app over the latest pipeline run: leaderboard and curves, held-out customer lookup, file scoring.

    make app                                           # streamlit run pipeline/app.py --server.address localhost
    streamlit run pipeline/app.py -- --root DIR        # artifacts of another project (or CUSTOMER_AUTOML_ROOT=DIR)
    streamlit run pipeline/app.py -- --no-lookup --max-upload-rows N --max-upload-mb MB

It listens on localhost (.streamlit/config.toml, the Makefile) and has no login: it refuses to show anything
when Streamlit would listen on every interface only because no address was chosen (README "The app" shows how
to expose it behind authentication). It reads the same artifacts as `python -m pipeline.predict` and scores
uploads through the very same `pipeline.serving.batch.score_file`, chunked and capped (pipeline/webapp/uploads.py),
so both give the same numbers; it never fits anything. Any error is one line in the page (an InputError: the
CLI's message; anything else: its type, with the traceback in the server log).
"""
from __future__ import annotations

import logging

from pipeline.core.errors import setup_logging
from pipeline.core.io import read_json
from pipeline.serving.scorer import META, METRICS, TUNED
from pipeline.webapp.content import AppOptions, app_options, fitted_families

UNBOUND = ("error: no server.address is set, so this app (which has no login) would listen on every network "
           "interface; run `make app`, or add `--server.address localhost` to `streamlit run` (README \"The app\" "
           "shows how to expose it deliberately, behind authentication).")


def main() -> None:
    import streamlit as st

    from pipeline.webapp import views

    st.set_page_config(page_title="customer-automl", layout="wide")
    setup_logging()
    logging.getLogger("pipeline").setLevel(logging.INFO)   # scoring notes reach the page (uploads.captured_notes)
    if not st.get_option("server.address"):   # Streamlit's default: every interface; only a chosen one is served
        st.error(UNBOUND)
        return
    with views.one_line_errors():
        page(app_options())


def page(options: AppOptions) -> None:
    import streamlit as st

    from pipeline.webapp import views

    root = options.root
    if not (root / META).is_file():
        st.error(f"error: {root / META}: not found; run the pipeline first (dvc repro), or pass -- --root DIR.")
        return
    metrics = read_json(root / METRICS) if (root / METRICS).is_file() else None
    tuned = fitted_families(root / TUNED)
    family = st.sidebar.selectbox("Model", ["best", *tuned] if metrics else tuned, key="family")
    scorer = views.cached_scorer(str(root), family)
    reference = views.cached_reference(str(root))
    st.sidebar.caption(f"{scorer.family}, threshold {scorer.threshold:.3f}")
    board, lookup, upload = st.tabs(["Leaderboard", "Customer lookup", "Score a file"])
    with board, views.one_line_errors():
        views.leaderboard(root, metrics)
    with lookup, views.one_line_errors():
        views.lookup(root, scorer, options.lookup)
    with upload, views.one_line_errors():
        views.upload(scorer, reference, root, options.caps)


if __name__ == "__main__":
    main()
