"""Score new customers with the saved transform and a tuned model (never refits anything).

Reads a customers file (CSV or Parquet, the training run's columns; a target column is ignored; none for a
model of an event log alone: everyone in --events) and an event log; writes customer_id, probability, label,
rank, decile, as_of (+ reasons with --explain) as CSV or Parquet, by the --out extension, atomically. Input is checked
with the training contract (pipeline.data.contract.validate_tables); past --chunk-size customers, chunk by chunk.
Beside the scores it writes their drift from the training distribution (--out scores.csv -> scores.drift.json,
pipeline/monitoring/), with one warning line naming the top drifting features when drift is large (a run made
before drift monitoring, without models/drift_reference.json: a note and no drift file).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.core.scratch import scratch_dir
from pipeline.explanation.contributions import explainable_families
from pipeline.models.store import ENSEMBLE
from pipeline.monitoring.reference import DriftReference, find_reference
from pipeline.monitoring.summary import write_summary
from pipeline.serving.batch import BatchJob, ScoredFile, customers_from_events, score_file, write_scores
from pipeline.serving.scorer import AS_OF, AS_OF_CHOICES, CHOICES, Scorer, add_rank

log = logging.getLogger(__name__)

OUT_SUFFIXES = (".csv", ".parquet")
EPILOG = """rank: 1 = the highest probability (ties keep file order). decile: 1 = the top 10 % of the scored
customers, 10 = the bottom 10 %. label: 1 when probability >= the threshold (the tuned threshold of the
model's family, chosen on out-of-fold train predictions, unless --threshold is given).
as-of: the reference time: events at/after it are dropped (counted and warned); recency features are measured to
it. Required for a model that uses time (trained with events or dates) unless params data.cutoff is set (then the
default); never taken from the scored rows, so a customer's score does not depend on the others in the file.
Recorded in the as_of column and in the drift file. Events of customers not in --customers are ignored (counted).
explain: reason_i, reason_i_value (the model input), reason_i_effect (log-odds for logreg and the boosting families,
probability for forest).
drift: per feature PSI against models/drift_reference.json (< 0.1 stable, 0.1-0.25 moderate, > 0.25 large), status
and bins compared; overall status, top drifting, n scored; judged from 200 customers on (pipeline/monitoring/)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m pipeline.predict", description=__doc__.split("\n\n")[0], epilog=EPILOG)
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


@contextlib.contextmanager
def out_folder(out: Path) -> Iterator[None]:
    """--out's folder, created when missing (`--out results/scores.csv` should just work) and removed again if
    scoring fails before anything is written there, so bad input leaves nothing behind."""
    missing = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{out}: cannot create the folder of --out: {err.strerror or err}.") from None
    try:
        yield
    except BaseException:
        for folder in missing:   # deepest first; rmdir refuses a folder that is not empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


if __name__ == "__main__":
    main()
