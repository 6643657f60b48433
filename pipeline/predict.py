"""Score new customers with the saved transform and a tuned model (never refits anything): checked with the
training contract, scored whole or chunk by chunk (pipeline/serving/), written atomically with their drift."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.core.scratch import scratch_dir
from pipeline.explanation.contributions import explainable_families
from pipeline.models.store import ENSEMBLE
from pipeline.monitoring.reference import DriftReference, find_reference
from pipeline.monitoring.summary import write_summary
from pipeline.serving.batch import (
    SCORES_HELP,
    BatchJob,
    ScoredFile,
    customers_from_events,
    out_folder,
    score_file,
    write_scores,
)
from pipeline.serving.scorer import AS_OF, AS_OF_CHOICES, CHOICES, Scorer, add_rank

log = logging.getLogger(__name__)

OUT_SUFFIXES = (".csv", ".parquet")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m pipeline.predict", description=__doc__.split("\n\n")[0],
                                 epilog=SCORES_HELP)
    ap.add_argument("--customers", type=Path,
                    help="customers file (.csv or .parquet); optional for a model without static columns (trained "
                         "on an event log alone): then everyone in --events is scored")
    ap.add_argument("--events", type=Path, help="event log of these customers (.csv or .parquet; other customers' "
                                                   "events are ignored; a header and no rows = no events yet)")
    ap.add_argument("--no-events", dest="no_events", action="store_true",
                    help="these customers have no events yet (a model trained with events needs --events or this)")
    ap.add_argument("--model", default="best", choices=CHOICES, help="family to score with (default: best by CV)")
    ap.add_argument("--threshold", type=float, help="label threshold (default: the family's tuned threshold)")
    ap.add_argument("--as-of", dest="as_of", help=f"reference time of the scoring: {AS_OF_CHOICES}")
    ap.add_argument("--explain", type=int, nargs="?", const=3, default=0, metavar="K",
                    help="add the K (default 3) features contributing most per customer (not for the sequence model)")
    ap.add_argument("--out", type=Path, required=True, help="scores file (.csv or .parquet)")
    ap.add_argument("--root", type=Path, default=Path("."), help="project directory holding models/, reports/, data/")
    ap.add_argument("--chunk-size", type=int, default=100_000, help="customers scored at a time (memory bound)")
    return ap.parse_args(argv)


def check_args(args: argparse.Namespace, scorer: Scorer) -> None:
    if args.out.suffix.lower() not in OUT_SUFFIXES:
        raise InputError(f"{args.out}: --out must end in .csv or .parquet, got '{args.out.suffix or 'no suffix'}'.")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise InputError(f"--threshold must be between 0 and 1, got {args.threshold}.")
    if args.chunk_size < 1 or args.explain < 0:
        raise InputError("--chunk-size must be >= 1 and --explain K >= 0.")
    if args.no_events and args.events is not None:
        raise InputError("--no-events says there are no events, yet --events is given; give one of them.")
    if args.explain and scorer.family not in explainable_families():
        why = ("it blends several models" if scorer.family == ENSEMBLE
               else "a sequence model has no exact per-feature attribution")
        raise InputError(f"--explain: reasons are available for {explainable_families()}, not for the {scorer.family} "
                         f"model ({why}); pick one with --model.")
    args.as_of = scorer.resolve_as_of(args.as_of)   # 'now' resolved once, here; None for a model without time


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    started = time.perf_counter()
    scorer = Scorer.load(args.root, args.model)
    check_args(args, scorer)
    log.info("predict: as-of %s", "none (the model uses no time)" if args.as_of is None else args.as_of.isoformat())
    reference = find_reference(args.root)   # None (noted) for a run made before drift monitoring
    with out_folder(args.out):
        scored = score(args, scorer, reference)
        scores = add_rank(scored.frame)
        write_scores(scores, args.out)
    log.info("predict: %s customers scored with %s (threshold %.4f), %d labelled 1, in %.1f s -> %s",
             f"{len(scores):,}", scorer.family, args.threshold if args.threshold is not None else scorer.threshold,
             int(scores["label"].sum()), time.perf_counter() - started, args.out)
    if scored.drift is not None:
        write_summary(reference, scored.drift, args.out, as_of=scores[AS_OF].iloc[0] if len(scores) else "")


def score(args: argparse.Namespace, scorer: Scorer, reference: DriftReference | None) -> ScoredFile:
    with scratch_dir(args.out.parent, "predict") as work:
        customers = args.customers or customers_from_events(args.events, scorer, Path(work))
        job = BatchJob(customers, args.events, args.out, args.as_of, args.threshold, args.explain, args.chunk_size,
                       args.no_events)
        return score_file(scorer, job, reference)


if __name__ == "__main__":
    main()
