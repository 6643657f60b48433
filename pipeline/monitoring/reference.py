"""The training distribution scored customers are compared with, saved as models/drift_reference.json.

Fitted in the features stage on the TRAIN split only (leakage rule 2): the train model matrix for its
numeric and 0/1 columns, the train customers as validated (before imputation, so a missing value counts as
missing) for the static categorical columns. One-hot model columns are left out: the raw levels cover the
categorical ones (unseen levels included), their numeric source covers the bucket ones. Plain JSON, no pickle:

  {"format": "drift-reference/1", "n_train": 128, "bins": 10,
   "numeric": {"age": {"edges": [-1.3, -0.8, ...], "shares": [0.1, ...], "missing": 0.0}, ...},
   "categorical": {"plan": {"shares": {"basic": 0.24, "plus": 0.34, "pro": 0.3}, "missing": 0.12}, ...},
   "no_events": 0.03}

numeric: bins are right-closed, (-inf, e0], (e0, e1], ..., (e_last, inf), so len(shares) = len(edges) + 1;
edges are the train deciles (observed values), deduplicated, so a 0/1 column gets two bins. Shares are of all
train rows: sum(shares) + missing = 1. no_events: share of train customers without an event before the as-of
(model column ev_has_events = 0); null when the model was trained without an event log.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.core.io import read_json, read_table, write_json
from pipeline.core.schema import ID

log = logging.getLogger(__name__)

FORMAT = "drift-reference/1"
REFERENCE = Path("models/drift_reference.json")   # under the project root, as the features stage writes it
BINS = 10
NO_EVENTS_COLUMN = "ev_has_events"   # pipeline/events/aggregates.py: 1 if the customer has an event before as_of
LEFT_OUT_KINDS = ("onehot",)


def bin_counts(edges: Sequence[float], values: Any) -> np.ndarray:
    """Counts per right-closed bin of `edges`, then the count of missing (NaN): len(edges) + 2 numbers."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~missing], side="left")
    return np.append(np.bincount(index, minlength=len(edges) + 1), missing.sum()).astype(np.int64)


def level_codes(levels: Sequence[str], values: pd.Series) -> np.ndarray:
    """Index of each value among `levels`; -1 unseen, -2 missing."""
    missing = values.isna().to_numpy()
    codes = pd.Index(list(levels)).get_indexer(values.astype(object).where(~missing, "").astype(str))
    return np.where(missing, -2, codes)


@dataclass(frozen=True)
class NumericBins:
    edges: tuple[float, ...]
    shares: tuple[float, ...]   # one per bin: len(edges) + 1
    missing: float

    @classmethod
    def fit(cls, values: Any, bins: int = BINS) -> NumericBins:
        values = np.asarray(values, dtype=np.float64)
        present = values[~np.isnan(values)]
        # inverted_cdf: edges are observed values, so a point mass (all the zeros of a count) fills one bin
        cuts = np.quantile(present, np.arange(1, bins) / bins, method="inverted_cdf") if len(present) else []
        edges = tuple(float(e) for e in np.unique(cuts))
        shares = bin_counts(edges, values) / max(len(values), 1)
        return cls(edges, tuple(shares[:-1].tolist()), float(shares[-1]))

    @property
    def expected(self) -> np.ndarray:
        """Train shares per bin, then missing (the order of bin_counts)."""
        return np.array([*self.shares, self.missing])


@dataclass(frozen=True)
class Levels:
    shares: dict[str, float]   # train level -> share of train rows, levels sorted
    missing: float

    @classmethod
    def fit(cls, values: pd.Series) -> Levels:
        n = max(len(values), 1)
        counts = values.dropna().astype(str).value_counts()
        return cls({str(k): float(counts[k] / n) for k in sorted(counts.index)}, float(values.isna().sum() / n))

    @property
    def expected(self) -> np.ndarray:
        """Train shares per level, then unseen (0 by definition), then missing."""
        return np.array([*self.shares.values(), 0.0, self.missing])


@dataclass(frozen=True)
class DriftReference:
    numeric: dict[str, NumericBins]
    categorical: dict[str, Levels]
    no_events: float | None   # None: no event log in training
    n_train: int
    bins: int = BINS

    @classmethod
    def fit(cls, matrix: pd.DataFrame, customers: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str],
            bins: int = BINS) -> DriftReference:
        """`matrix`: the train model matrix; `customers`: the same train customers as validated (raw levels)."""
        if missing := [c for c in numeric if c not in matrix.columns] + [c for c in categorical if c not in customers]:
            raise ValueError(f"drift reference: column(s) {missing} not found in the train matrix / customers.")
        no_events = None
        if NO_EVENTS_COLUMN in matrix.columns:
            no_events = float((matrix[NO_EVENTS_COLUMN].to_numpy() == 0).mean()) if len(matrix) else 0.0
        return cls({c: NumericBins.fit(matrix[c], bins) for c in numeric},
                   {c: Levels.fit(customers[c]) for c in categorical}, no_events, len(matrix), bins)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "n_train": self.n_train, "bins": self.bins,
                "numeric": {c: {"edges": list(b.edges), "shares": list(b.shares), "missing": b.missing}
                            for c, b in self.numeric.items()},
                "categorical": {c: {"shares": dict(lv.shares), "missing": lv.missing}
                                for c, lv in self.categorical.items()},
                "no_events": self.no_events}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "drift reference") -> DriftReference:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise InputError(f"{where}: expected a {FORMAT} file, got {got!r}; rerun `dvc repro features`.")
        try:
            numeric = {c: NumericBins(tuple(map(float, b["edges"])), tuple(map(float, b["shares"])),
                                      float(b["missing"])) for c, b in data["numeric"].items()}
            categorical = {c: Levels({str(k): float(v) for k, v in lv["shares"].items()}, float(lv["missing"]))
                           for c, lv in data["categorical"].items()}
            return cls(numeric, categorical, data["no_events"], int(data["n_train"]), int(data["bins"]))
        except (KeyError, TypeError, AttributeError, ValueError) as err:
            raise InputError(f"{where}: malformed {FORMAT} file ({type(err).__name__}: {err}); "
                             "rerun `dvc repro features`.") from None


def fit_reference(matrix: pd.DataFrame, prepared: Path, builder: Any, bins: int = BINS) -> DriftReference:
    """The reference of a fitted FeatureBuilder's train matrix; the levels come from the validated train split
    (prepared/train.parquet, before imputation) of the matrix's customers (outlier removal may drop some)."""
    numeric = [f["name"] for f in builder.manifest()["features"] if f["kind"] not in LEFT_OUT_KINDS]
    customers = read_table(Path(prepared) / "train.parquet", "prepared train", (ID,))
    raw = customers[customers[ID].isin(set(matrix[ID]))]
    return DriftReference.fit(matrix, raw, numeric, list(builder.static.categorical), bins)


def save_reference(reference: DriftReference, path: str | Path) -> None:
    write_json(reference.to_dict(), path)


def find_reference(root: str | Path) -> DriftReference | None:
    """The project's saved reference, or None (noted) when it has none: a run made before drift monitoring."""
    path = Path(root) / REFERENCE
    if not path.is_file():
        log.info("drift: %s not found (a run made before drift monitoring), so no drift summary; "
                 "`dvc repro features` writes it.", path)
        return None
    try:
        data = read_json(path)
    except ValueError as err:   # json.JSONDecodeError
        raise InputError(f"{path}: not valid JSON ({err}); rerun `dvc repro features`.") from None
    return DriftReference.from_dict(data, str(path))
