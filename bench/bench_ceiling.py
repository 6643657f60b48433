"""How close can a generic learner come to the oracle at all? LightGBM on the truth's own inputs.

    .venv/bin/python bench/bench_ceiling.py [--customers 20000]

The simulator's oracle (its true probabilities) sets the bar of bench_sequences.py's default shape. This
script asks what a learner reaches when it is GIVEN the inputs of the true logit instead of the messy
tables: the clean static values (before missing values and outliers) and the exact event terms the
simulator computes (recency, frequency, the recent and earlier counts of the trend, failed-payment and
ticket counts, the complaint-then-failure order flag). Same customers, same train/test split as prepare
(params.yaml defaults, seed 42), one LightGBM (600 trees, learning rate 0.02) per leaf count. The gap
that remains is what a finite training set costs any flexible model, whatever its features.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def truth_inputs(sim, p) -> pd.DataFrame:
    from pipeline.data import simulator as S

    ev, n = sim.events, p.n_customers
    cust = S._positions(ev[S.ID], sim.clean[S.ID])
    code = pd.Categorical(ev[S.EVENT_TYPE], categories=list(S.EVENT_TYPES)).codes
    days = (pd.Timestamp(p.snapshot_date).value - ev[S.TIMESTAMP].to_numpy("datetime64[ns]").astype(np.int64)) / S.DAY_NS
    recency = np.full(n, float(p.history_days))
    np.minimum.at(recency, cust, days)
    types = np.bincount(cust * len(S.EVENT_TYPES) + code, minlength=n * len(S.EVENT_TYPES)).reshape(n, -1)
    window = S.RECENT_DAYS + S.EARLIER_DAYS
    events = pd.DataFrame({
        "recency": recency, "frequency": np.bincount(cust, minlength=n),
        "recent": np.bincount(cust[days < S.RECENT_DAYS], minlength=n),
        "earlier": np.bincount(cust[(days >= S.RECENT_DAYS) & (days < window)], minlength=n),
        "failed": types[:, S.PAY_FAILED], "tickets": types[:, S.TICKET],
        "complaint_then_failure": S.complaint_then_failure(cust, days, code, n).astype(float)})
    static = sim.clean.drop(columns=[S.ID]).reset_index(drop=True)
    for column in S.CATEGORICALS:
        static[column] = static[column].astype("category")
    return pd.concat([events, static], axis=1)


def main() -> None:
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    from pipeline.core.params import DataParams, Params
    from pipeline.data import simulator as S
    from pipeline.data.preparation import prepare

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=20_000)
    args = ap.parse_args()
    params = Params()
    params = dataclasses.replace(params, data=dataclasses.replace(
        DataParams(), synthetic=dataclasses.replace(params.data.synthetic, n_customers=args.customers)))
    train_ids = set(prepare(params).train["customer_id"])
    sim = S.simulate(params.data.synthetic, params.seed)
    X, y = truth_inputs(sim, params.data.synthetic), sim.customers[S.TARGET].to_numpy()
    truth = sim.truth[S.TRUE_PROBABILITY].to_numpy()
    train = sim.clean[S.ID].isin(train_ids).to_numpy()
    print(f"| learner ({train.sum():,} train, {(~train).sum():,} test customers) | test ROC-AUC |\n|---|---|")
    print(f"| oracle (true probabilities) | {roc_auc_score(y[~train], truth[~train]):.4f} |")
    for leaves in (7, 15, 31):
        model = lgb.LGBMClassifier(n_estimators=600, learning_rate=0.02, num_leaves=leaves, min_child_samples=40,
                                   subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=0, verbose=-1)
        model.fit(X[train], y[train])
        print(f"| LightGBM on the truth's inputs, {leaves} leaves | "
              f"{roc_auc_score(y[~train], model.predict_proba(X[~train])[:, 1]):.4f} |")


if __name__ == "__main__":
    main()
