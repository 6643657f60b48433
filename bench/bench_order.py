"""Does a model use the ORDER of events? Score the test split with each customer's event timestamps
randomly permuted (same events, same times, order destroyed) versus in order.

    python bench/bench_order.py [--prepared data/interim/prepared] [--transform models/transform.skops]
                                [--models models/tuned] [--repeats 5]

Runs after `dvc repro` (needs the saved transform and the tuned models). Permuting timestamps
within a customer keeps every count, amount and the set of times, so a model that only uses
aggregates of counts loses little; one that reads the sequence loses the order-only signal.
Not a test.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from pipeline.core.schema import ID, TARGET
from pipeline.events.perturb import permute_times
from pipeline.featurization.transform import load_transform
from pipeline.models.store import load_tuned, predict_proba


def scores(transform, models: dict, infos: dict, test: pd.DataFrame, events: pd.DataFrame) -> dict[str, float]:
    inputs = transform.transform(test, events)
    out = {}
    for family, model in models.items():
        proba = predict_proba(family, model, inputs.matrix, inputs.sequences, infos[family].get("static_columns", ()))
        out[family] = roc_auc_score(test[TARGET], proba)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prepared", type=Path, default=Path("data/interim/prepared"))
    ap.add_argument("--transform", type=Path, default=Path("models/transform.skops"))
    ap.add_argument("--models", type=Path, default=Path("models/tuned"))
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    test = pd.read_parquet(args.prepared / "test.parquet")
    events = pd.read_parquet(args.prepared / "events.parquet")
    events = events[events[ID].isin(set(test[ID]))]
    transform = load_transform(args.transform)
    infos, models = load_tuned(args.models)
    base = scores(transform, models, infos, test, events)
    shuffled = [scores(transform, models, infos, test, permute_times(events, seed)) for seed in range(args.repeats)]
    print(f"test ROC-AUC, {len(test)} customers; shuffled = timestamps permuted within customer, {args.repeats} repeats")
    print(f"{'model':<8} {'in order':>9} {'shuffled':>9} {'sd':>7} {'drop':>7}")
    for family in base:
        values = np.array([s[family] for s in shuffled])
        print(f"{family:<8} {base[family]:>9.4f} {values.mean():>9.4f} {values.std(ddof=1):>7.4f} "
              f"{base[family] - values.mean():>7.4f}")


if __name__ == "__main__":
    main()
