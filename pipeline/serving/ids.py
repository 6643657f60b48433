"""Which events belong to the scored customers: the one rule of the whole-file and the chunked paths.

Scoring a few customers with the company's whole event log is normal, so events of customers not being
scored are ignored and counted (one note), whatever their share. What is refused is an id-format mismatch,
which would silently score people as eventless: the scored customers match none of the events' ids, or
matching after normalising ids (leading zeros, case) finds clearly more customers than the exact ids do.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.core.errors import InputError, show_values

LOOSE_SHARE = 0.1   # refuse when this share of the scored customers (at least one) match events only loosely
NO_EVENTS_HINT = "or pass --no-events if these customers have no events yet"


def loose(ids: pd.Series) -> pd.Series:
    """'00042' -> '42', 'Ab7' -> 'ab7': the forms that a lost leading zero or a change of case cannot tell apart."""
    stripped = ids.astype("string").str.lstrip("0")
    return stripped.where(stripped != "", "0").str.casefold()


@dataclass
class IdMatch:
    """Events' ids matched against the scored customers' ids, batch after batch (memory: the customers)."""
    customers: pd.Index                       # the scored ids, stripped text, unique
    exact: np.ndarray = field(init=False)     # per customer: has at least one event under its exact id
    n_events: int = 0
    n_ignored: int = 0
    ignored_examples: list[str] = field(default_factory=list)
    loose_seen: dict[str, str] = field(default_factory=dict)   # loose form of a customer -> an event id of that form

    def __post_init__(self) -> None:
        self.exact = np.zeros(len(self.customers), dtype=bool)
        self._loose = loose(self.customers.to_series()).to_numpy(dtype=object)
        self._loose_set = set(self._loose)

    @classmethod
    def of(cls, customer_ids: pd.Series) -> IdMatch:
        return cls(pd.Index(customer_ids.astype(object).drop_duplicates().to_numpy()))

    def add(self, event_ids: pd.Series) -> np.ndarray:
        """Each event's customer position (-1: not a scored customer: ignored), counted."""
        position = self.customers.get_indexer(event_ids.to_numpy(dtype=object))
        self.exact[position[position >= 0]] = True
        unknown = event_ids[position < 0]
        self.n_events, self.n_ignored = self.n_events + len(position), self.n_ignored + len(unknown)
        unknown = unknown.drop_duplicates()
        if len(self.ignored_examples) < 3:
            self.ignored_examples += [x for x in unknown.head(3) if x not in self.ignored_examples][:3]
        forms = loose(unknown)
        hits = forms.isin(self._loose_set).to_numpy()
        for form, raw in zip(forms[hits], unknown[hits]):   # at most one per scored customer is kept
            self.loose_seen.setdefault(form, raw)
        return position

    def settle(self, events_label: str, customers_label: str, id_column: str) -> list[str]:
        """Raise InputError on an id-format mismatch; else the notes (ignored events, a few loose-only matches)."""
        only_loose = ~self.exact & pd.Series(self._loose).isin(set(self.loose_seen)).to_numpy()
        if self.n_events and not self.exact.any():
            hint = ("the ids differ only in leading zeros or case: write them the same way in both files"
                    if only_loose.any() else f"check that both files use the same id format, {NO_EVENTS_HINT}")
            raise InputError(f"{events_label}: every one of its {self.n_events:,} events has a '{id_column}' that "
                             f"matches no customer in {customers_label}; {hint}. {self._examples()}.")
        pairs = [f"{c!r} vs {self.loose_seen[f]!r}"
                 for c, f in zip(self.customers[only_loose], self._loose[only_loose])]
        loose_only = (f"{events_label}: {len(pairs):,} of the {len(self.customers):,} customers in {customers_label} "
                      f"match events only when leading zeros or case are ignored (customer vs event id: "
                      f"{', '.join(pairs[:3])})")
        if pairs and len(pairs) >= LOOSE_SHARE * len(self.customers):
            raise InputError(f"{loose_only}; write the ids the same way in both files ('{id_column}').")
        notes = [f"{loose_only}: those events are not theirs and are ignored."] if pairs else []
        if self.n_ignored:
            notes.append(f"{events_label}: {self.n_ignored:,} of {self.n_events:,} events belong to customers not "
                         f"in {customers_label} (e.g. {show_values(self.ignored_examples)}): ignored.")
        return notes

    def _examples(self) -> str:
        return (f"Event ids: {show_values(self.ignored_examples)}; customer ids: "
                f"{show_values(list(self.customers[:3]))}")
