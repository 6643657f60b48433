"""Score new customers with the saved transform and a tuned model (never refits anything).

Reads a customers file (CSV or Parquet, the training run's columns; a target column is ignored; none for a
model of an event log alone: everyone in --events) and an event log; writes customer_id, probability, label,
rank, decile (+ reasons with --explain) as CSV or Parquet, by the --out extension, atomically. Input is checked
with the training contract (pipeline.data.contract.validate_tables); past --chunk-size customers, chunk by chunk.
Beside the scores it writes their drift from the training distribution (--out scores.csv -> scores.drift.json,
pipeline/monitoring/), with one warning line naming the top drifting features when drift is large (a run made
before drift monitoring, without models/drift_reference.json: a note and no drift file).
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.core.scratch import scratch_dir
from pipeline.data.validate_events import parse_cutoff
from pipeline.explanation.contributions import explainable_families
from pipeline.models.store import ENSEMBLE
from pipeline.monitoring.reference import find_reference
from pipeline.monitoring.summary import write_summary
from pipeline.serving.batch import BatchJob, customers_from_events, score_file, write_scores
from pipeline.serving.scorer import CHOICES, Scorer, add_rank

log = logging.getLogger(__name__)

OUT_SUFFIXES = (".csv", ".parquet")
EPILOG = """rank: 1 = the highest probability (ties keep file order). decile: 1 = the top 10 % of the scored
customers, 10 = the bottom 10 %. label: 1 when probability >= the threshold (the tuned threshold of the
model's family, chosen on out-of-fold train predictions, unless --threshold is given).
as-of: events at/after it are dropped (counted and warned); recency features are measured to it. Default:
params data.cutoff if set, else the latest event in --events + 1 s (as prepare does), else the training as-of.
explain: reason_i, reason_i_value (the model input), reason_i_effect (log-odds for logreg and the boosting families,
probability for forest).
drift: per feature PSI against models/drift_reference.json (< 0.1 stable, 0.1-0.25 moderate, > 0.25 large), status
and bins compared; overall status, top drifting, n scored; judged from 200 customers on (pipeline/monitoring/)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m pipeline.predict", description=__doc__.split("\n\n")[0], epilog=EPILOG)
    ap.add_argument("--customers", type=Path,
                    help="customers file (.csv or .parquet); optional for a model without static columns (trained "
                         "on an event log alone): then everyone in --events is scored")
    ap.add_argument("--events", type=Path, help="event log of these customers (.csv or .parquet)")
    ap.add_argument("--model", default="best", choices=CHOICES, help="family to score with (default: best by CV)")
    ap.add_argument("--threshold", type=float, help="label threshold (default: the family's tuned threshold)")
    ap.add_argument("--as-of", dest="as_of", help="reference time of the scoring, e.g. 2026-02-01")
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
    if args.as_of is not None:
        try:
            args.as_of = parse_cutoff(args.as_of, "--as-of")
        except InputError:
            raise InputError(f"--as-of {args.as_of!r} is not a date/time (expected e.g. '2026-02-01').") from None
    if args.explain and scorer.family not in explainable_families():
        why = ("it blends several models" if scorer.family == ENSEMBLE
               else "a sequence model has no exact per-feature attribution")
        raise InputError(f"--explain: reasons are available for {explainable_families()}, not for the {scorer.family} "
                         f"model ({why}); pick one with --model.")


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    started = time.perf_counter()
    scorer = Scorer.load(args.root, args.model)
    check_args(args, scorer)
    reference = find_reference(args.root)   # None (noted) for a run made before drift monitoring
    with scratch_dir(args.out.parent, "predict") as work:
        customers = args.customers or customers_from_events(args.events, scorer, Path(work))
        job = BatchJob(customers, args.events, args.out, args.as_of, args.threshold, args.explain, args.chunk_size)
        scored = score_file(scorer, job, reference)
    scores = add_rank(scored.frame)
    write_scores(scores, args.out)
    log.info("predict: %s customers scored with %s (threshold %.4f), %d labelled 1, in %.1f s -> %s",
             f"{len(scores):,}", scorer.family, args.threshold if args.threshold is not None else scorer.threshold,
             int(scores["label"].sum()), time.perf_counter() - started, args.out)
    if scored.drift is not None:
        write_summary(reference, scored.drift, args.out)


if __name__ == "__main__":
    main()
