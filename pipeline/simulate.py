"""Write the embedded simulator's tables as files, to look at them or to feed them back as `source: files`.

    python -m pipeline.simulate [--out data/raw/sim] [--params params.yaml] [--format csv|parquet]
                                [--n-customers N] [--seed S] [--horizon-days H]

Reads params `seed` and `data.synthetic`; writes DIR/customers.<fmt>, DIR/events.<fmt> and DIR/truth.<fmt>
(the generating probability, never a feature), each atomically. See pipeline/data/simulator.py.
With --horizon-days the log is raw: the outcome is written into it as the events of the H days after the
snapshot (pipeline/data/simulated_log.py), and customers.<fmt> has no target column -- the input of
`label.from_events: true` with label.horizon_days H.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from pipeline.core.errors import cli, setup_logging
from pipeline.core.params import add_params_arg, load_params
from pipeline.data.simulated_log import simulate_log
from pipeline.data.simulator import TARGET, TRUE_PROBABILITY, simulate, write_tables

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.simulate", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/raw/sim"),
                        help="directory for the customers/events/truth files (default: data/raw/sim)")
    add_params_arg(parser)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (default: csv)")
    parser.add_argument("--n-customers", type=int, default=None, help="override data.synthetic.n_customers")
    parser.add_argument("--seed", type=int, default=None, help="override the params seed")
    parser.add_argument("--horizon-days", type=float, default=None,
                        help="write a raw log whose outcome is the events of the H days after the snapshot")
    return parser.parse_args(argv)


@cli
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging()
    params = load_params(args.params)
    p = params.data.synthetic
    if args.n_customers is not None:
        p = dataclasses.replace(p, n_customers=args.n_customers)
    seed = params.seed if args.seed is None else args.seed
    if args.horizon_days is not None:
        log_ = simulate_log(p, seed, args.horizon_days)
        write_tables(log_, args.out, args.format)
        log.info("simulate: %d customers, %d events (history and %g days after the snapshot), seed %d -> %s/*.%s",
                 len(log_.customers), len(log_.events), args.horizon_days, seed, args.out, args.format)
        return
    sim = simulate(p, seed)
    write_tables(sim, args.out, args.format)
    log.info("simulate: %d customers (%.1f%% churn, oracle mean p %.3f), %d events, seed %d -> %s/*.%s",
             len(sim.customers), 100 * sim.customers[TARGET].mean(), sim.truth[TRUE_PROBABILITY].mean(),
             len(sim.events), seed, args.out, args.format)


if __name__ == "__main__":
    main()
