"""Population stability index, and the bin counts it is computed from, accumulated chunk by chunk.

PSI = sum over bins of (a - e) * ln(a / e), with a / e the scored / train share of the bin, each floored at
FLOOR so that an empty bin adds a large but finite term. A chunk contributes counts, not shares: `count` one
chunk, add the DriftCounts of all chunks, and the shares of the sum are those of the whole file at once
(tested), so a file of any size is compared in bounded memory.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError
from pipeline.monitoring.reference import NO_EVENTS_COLUMN, DriftReference, bin_counts, level_codes

FLOOR = 1e-4
N_EXAMPLES = 3   # unseen levels named per column


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = FLOOR) -> float:
    """PSI of two share vectors over the same bins (floored at `floor`)."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), floor)
    a = np.maximum(np.asarray(actual, dtype=np.float64), floor)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class DriftCounts:
    n: int                                   # customers counted
    numeric: dict[str, np.ndarray]           # per reference bin, then missing
    categorical: dict[str, np.ndarray]       # per train level, then unseen, then missing
    unseen_examples: dict[str, tuple[str, ...]]   # the first N_EXAMPLES unseen levels per column, sorted
    no_events: int                           # customers without events (0 without an event log)

    def __add__(self, other: DriftCounts) -> DriftCounts:
        examples = {c: tuple(sorted({*v, *other.unseen_examples[c]})[:N_EXAMPLES])
                    for c, v in self.unseen_examples.items()}
        return DriftCounts(self.n + other.n, {c: v + other.numeric[c] for c, v in self.numeric.items()},
                           {c: v + other.categorical[c] for c, v in self.categorical.items()},
                           examples, self.no_events + other.no_events)


def count(reference: DriftReference, customers: pd.DataFrame, matrix: pd.DataFrame) -> DriftCounts:
    """One chunk's counts: `customers` as validated (raw levels), `matrix` their model matrix."""
    needed = [*reference.numeric, *([NO_EVENTS_COLUMN] if reference.no_events is not None else [])]
    if missing := [c for c in needed if c not in matrix.columns] + \
            [c for c in reference.categorical if c not in customers.columns]:
        raise InputError(f"drift reference: column(s) {missing[:5]} are not among the scored model columns: the "
                         "reference and the transform come from different runs; rerun `dvc repro features`.")
    numeric = {c: bin_counts(b.edges, matrix[c]) for c, b in reference.numeric.items()}
    categorical, examples = {}, {}
    for column, levels in reference.categorical.items():
        codes = level_codes(list(levels.shares), customers[column])
        known = np.bincount(codes[codes >= 0], minlength=len(levels.shares))
        categorical[column] = np.append(known, [(codes == -1).sum(), (codes == -2).sum()]).astype(np.int64)
        unseen = customers[column][codes == -1].astype(str).unique()
        examples[column] = tuple(sorted(unseen)[:N_EXAMPLES])
    no_events = 0
    if reference.no_events is not None:
        no_events = int((matrix[NO_EVENTS_COLUMN].to_numpy() == 0).sum())
    return DriftCounts(len(matrix), numeric, categorical, examples, no_events)
