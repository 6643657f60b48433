"""The benchmark's data: the project's simulator tables, one seeded split, and the peers' flat tables.

Per shape, DIR/ holds (all CSV, so every venv can read them):
  customers.csv, events.csv (absent for `tabular`)   the raw tables the project gets, with a `split` column
  truth.csv                                          the simulator's true probabilities (the oracle row)
  train.csv, test.csv                                what the peers get: one row per customer
The peers' tables are the customer columns (minus id and split) plus, when there are events, RFM
aggregates that the bench hand-makes from each customer's own events only (what a user would hand-make
for a peer): events count, days since the last and since the first event, events in the last 30 and 90
days, distinct event types, a count per event type, and sum/mean of each numeric event column. "Now" is
just after the latest event of the whole log, as the project's prepare stage sets it (no cutoff).
Customers without events get count 0 and NaN recency (each peer imputes as it does).
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.model_selection import train_test_split

ID, TARGET, SPLIT = "customer_id", "churn", "split"
TIMESTAMP, EVENT_TYPE = "timestamp", "event_type"
TRAIN, TEST = "train", "test"           # the values pipeline/data/split.py accepts in split.column
SEED, TEST_SIZE = 42, 0.2
WINDOWS_DAYS = (30, 90)
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Shape:
    name: str
    customers: int
    events: bool               # the event log is given to every system
    static: bool               # the customers table keeps its static columns


SHAPES = {"tabular": Shape("tabular", 5_000, events=False, static=True),
          "events": Shape("events", 20_000, events=True, static=False),
          "default": Shape("default", 20_000, events=True, static=True)}


@dataclass(frozen=True)
class Tables:
    folder: Path
    customers: Path
    events: Path | None
    train: Path
    test: Path
    truth: Path
    n_train: int
    n_test: int
    n_events: int
    peer_columns: int          # feature columns of the peers' tables


def simulate(repo: Path, python: Path, params: Path, out: Path, n_customers: int) -> None:
    """Run the repo's simulator (pipeline.simulate) with the repo's params, writing CSVs to out/."""
    out.mkdir(parents=True, exist_ok=True)
    sim = yaml.safe_load(params.read_text())
    (out / "sim.yaml").write_text(yaml.safe_dump({"seed": SEED, "data": {"synthetic": sim["data"]["synthetic"]}}))
    cmd = [str(python), "-m", "pipeline.simulate", "--params", "sim.yaml", "--out", ".", "--format", "csv",
           "--n-customers", str(n_customers), "--seed", str(SEED)]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"simulate failed ({done.returncode}):\n{done.stderr[-3000:]}")


def add_split(customers: pd.DataFrame) -> pd.DataFrame:
    """A seeded, stratified 80/20 `split` column (train/test): the same rows for every system."""
    positions = np.arange(len(customers))
    _, test = train_test_split(positions, test_size=TEST_SIZE, stratify=customers[TARGET], random_state=SEED)
    labels = np.full(len(customers), TRAIN, dtype=object)
    labels[test] = TEST
    return customers.assign(**{SPLIT: labels})


def rfm(events: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """Hand-made per-customer aggregates of each customer's own events, one row per id (in ids' order)."""
    ts = pd.to_datetime(events[TIMESTAMP])
    now = ts.max() + pd.Timedelta(seconds=1)       # as prepare's as_of without a cutoff
    days_ago = (now - ts) / DAY
    frame = events.assign(_days=days_ago)
    by = frame.groupby(ID)
    out = pd.DataFrame({"ev_count": by.size(), "ev_days_since_last": by["_days"].min(),
                        "ev_days_since_first": by["_days"].max(), "ev_distinct_types": by[EVENT_TYPE].nunique()})
    for days in WINDOWS_DAYS:
        out[f"ev_last_{days}d"] = frame[frame["_days"] <= days].groupby(ID).size()
    types = pd.crosstab(frame[ID], frame[EVENT_TYPE])
    out = out.join(types.add_prefix("ev_n_"))
    for column in events.columns.drop([ID, TIMESTAMP, EVENT_TYPE], errors="ignore"):
        if pd.api.types.is_numeric_dtype(events[column]):
            out[f"ev_{column}_sum"] = by[column].sum()
            out[f"ev_{column}_mean"] = by[column].mean()
    out = out.reindex(ids.to_numpy())
    counts = [c for c in out.columns if c == "ev_count" or c.startswith(("ev_n_", "ev_last_", "ev_distinct"))
              or c.endswith("_sum")]
    out[counts] = out[counts].fillna(0)              # no events: zero counts, NaN recency and means
    return out.reset_index(drop=True)


def peer_table(customers: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    """Customer columns minus id and split, plus the RFM aggregates when there are events."""
    table = customers.drop(columns=[ID, SPLIT]).reset_index(drop=True)
    if events is not None:
        table = pd.concat([table, rfm(events, customers[ID])], axis=1)
    return table


def make_tables(shape: Shape, n_customers: int, out: Path, repo: Path, python: Path, params: Path) -> Tables:
    """Simulate, reduce to the shape, split, and write the project's and the peers' tables."""
    simulate(repo, python, params, out / "sim", n_customers)
    customers = pd.read_csv(out / "sim/customers.csv", dtype={ID: str})
    events = pd.read_csv(out / "sim/events.csv", dtype={ID: str}) if shape.events else None
    if not shape.static:
        customers = customers[[ID, TARGET]]
    customers = add_split(customers)
    customers.to_csv(out / "customers.csv", index=False)
    if events is not None:
        (out / "sim/events.csv").replace(out / "events.csv")
    (out / "sim/truth.csv").replace(out / "truth.csv")
    table = peer_table(customers, events)
    is_test = (customers[SPLIT] == TEST).to_numpy()
    table[~is_test].to_csv(out / "train.csv", index=False)
    table[is_test].to_csv(out / "test.csv", index=False)
    return Tables(out, out / "customers.csv", out / "events.csv" if events is not None else None,
                  out / "train.csv", out / "test.csv", out / "truth.csv", int((~is_test).sum()), int(is_test.sum()),
                  0 if events is None else len(events), table.shape[1] - 1)


def oracle(tables: Tables) -> dict[str, float]:
    """What the simulator's true probabilities score on the test customers: the ceiling for every system."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
    customers = pd.read_csv(tables.customers, dtype={ID: str})
    truth = pd.read_csv(tables.truth, dtype={ID: str})
    test = customers[customers[SPLIT] == TEST].merge(truth, on=ID, how="left", validate="one_to_one")
    y, p = test[TARGET].to_numpy(), test["true_probability"].to_numpy()
    return {"roc_auc": float(roc_auc_score(y, p)), "average_precision": float(average_precision_score(y, p)),
            "brier": float(brier_score_loss(y, p))}
