"""Score new customers with the saved transform and a tuned model (never refits anything).

Reads a customers file (CSV or Parquet, the training run's columns; the target column, if present, is
ignored) and optionally an event log; writes customer_id, probability, label, rank, decile (+ reasons
with --explain) as CSV or Parquet, by the --out extension, atomically. Input is checked with the same
contract and messages as training (pipeline.data.contract.validate_tables). Files larger than --chunk-size
customers are scored chunk by chunk in bounded memory (pipeline.chunks).
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd

from pipeline.chunks import check_unknown, iter_customers, partition_events, read_ids, read_part
from pipeline.contributions import EXPLAINABLE
from pipeline.core.errors import InputError, cli, setup_logging
from pipeline.core.io import atomic_path, read_table
from pipeline.scoring import CHOICES, Scorer, add_rank
from pipeline.data.validate_events import parse_cutoff

log = logging.getLogger(__name__)

OUT_SUFFIXES = (".csv", ".parquet")
EPILOG = """rank: 1 = the highest probability (ties keep file order). decile: 1 = the top 10 % of the scored
customers, 10 = the bottom 10 %. label: 1 when probability >= the threshold (the tuned threshold of the
model's family, chosen on out-of-fold train predictions, unless --threshold is given).
as-of: events at/after it are dropped (counted and warned); recency features are measured to it. Default:
params data.cutoff if set, else the latest event in --events + 1 s (as prepare does), else the training as-of.
explain: reason_i, reason_i_value (the model input), reason_i_effect (log-odds for logreg/xgb, probability for forest)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m pipeline.predict", description=__doc__.split("\n\n")[0], epilog=EPILOG)
    ap.add_argument("--customers", type=Path, required=True, help="customers file (.csv or .parquet)")
    ap.add_argument("--events", type=Path, help="event log of these customers (.csv or .parquet)")
    ap.add_argument("--model", default="best", choices=CHOICES, help="family to score with (default: best by CV)")
    ap.add_argument("--threshold", type=float, help="label threshold (default: the family's tuned threshold)")
    ap.add_argument("--as-of", dest="as_of", help="reference time of the scoring, e.g. 2026-02-01")
    ap.add_argument("--explain", type=int, nargs="?", const=3, default=0, metavar="K",
                    help="add the K (default 3) features contributing most per customer (logreg, forest, xgb)")
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
    if args.explain and scorer.family not in EXPLAINABLE:
        raise InputError(f"--explain: reasons are available for {list(EXPLAINABLE)}, not for the {scorer.family} "
                         "model (a sequence model has no exact per-feature attribution); pick one with --model.")


def score_whole(scorer: Scorer, args: argparse.Namespace) -> pd.DataFrame:
    """Small files: both tables in memory, one call (the path the exact-reproduction test checks)."""
    id_column = scorer.data.id_column
    customers = read_table(args.customers, "customers", (id_column,))
    events = None if args.events is None else read_table(args.events, "events", (id_column,))
    labels = {"customers": str(args.customers), "events": str(args.events)}
    return scorer.score(customers, events, labels=labels, as_of=args.as_of, threshold=args.threshold,
                        explain=args.explain).frame


def _as_of(scorer: Scorer, args: argparse.Namespace, latest: pd.Timestamp | None) -> pd.Timestamp | None:
    if args.as_of is not None:
        return args.as_of
    return scorer.default_as_of(None if latest is None else pd.Series([latest]))


def score_chunked(scorer: Scorer, args: argparse.Namespace, ids: pd.Series) -> pd.DataFrame:
    """Large files: events partitioned by customers chunk once, then chunk after chunk with a progress line."""
    size, id_column, n = args.chunk_size, scorer.data.id_column, len(ids)
    frames, seen = [], set()
    with tempfile.TemporaryDirectory(prefix=".predict.", dir=args.out.parent) as work:
        parts = None
        if args.events is not None:
            want_latest = args.as_of is None and scorer.data.cutoff is None
            parts = partition_events(args.events, ids, size, Path(work), id_column,
                                     scorer.data.timestamp_column if want_latest else None)
            check_unknown(parts, scorer.data.max_unmatched_event_share, id_column, args.events, args.customers)
        as_of = _as_of(scorer, args, None if parts is None else parts.latest)
        log.info("predict: %s customers in %d chunks, as-of %s", f"{n:,}", -(-n // size), as_of)
        start, done = time.perf_counter(), 0
        for i, customers in enumerate(iter_customers(args.customers, id_column, size)):
            where = f"(rows {done + 1:,}-{done + len(customers):,}; row numbers below count from row {done + 1:,})"
            labels = {"customers": f"{args.customers} {where}", "events": f"{args.events} (customers of {where})"}
            events = None if parts is None else read_part(parts.paths[i], id_column)
            scored = scorer.score(customers, events, labels=labels, as_of=as_of, threshold=args.threshold,
                                  explain=args.explain, quiet=True)
            for note in (x.replace(f" {where}", "") for x in scored.notes):   # each distinct note once
                if note not in seen:
                    seen.add(note)
                    log.info(note)
            frames.append(scored.frame)
            done += len(customers)
            rate = done / max(time.perf_counter() - start, 1e-9)
            log.info("predict: %s/%s customers (%.0f%%), %s/s, eta %.0f s", f"{done:,}", f"{n:,}", 100 * done / n,
                     f"{rate:,.0f}", (n - done) / rate)
    return pd.concat(frames, ignore_index=True)


def write_scores(frame: pd.DataFrame, out: Path) -> None:
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


@cli
def main(argv: list[str] | None = None) -> None:
    setup_logging()
    args = parse_args(argv)
    started = time.perf_counter()
    scorer = Scorer.load(args.root, args.model)
    check_args(args, scorer)
    ids = read_ids(args.customers, scorer.data.id_column, "customers")
    frame = score_whole(scorer, args) if len(ids) <= args.chunk_size else score_chunked(scorer, args, ids)
    scores = add_rank(frame)
    write_scores(scores, args.out)
    log.info("predict: %s customers scored with %s (threshold %.4f), %d labelled 1, in %.1f s -> %s",
             f"{len(scores):,}", scorer.family, args.threshold if args.threshold is not None else scorer.threshold,
             int(scores["label"].sum()), time.perf_counter() - started, args.out)


if __name__ == "__main__":
    main()
