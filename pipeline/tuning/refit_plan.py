"""Which families to refit on every train row when not all their refits fit in the time left.

Refitting members heaviest-weight first spends the whole budget on one slow family when the others would
have fitted together (1M customers: xgb's 140 s refit left no time for lightgbm's 80 s and logreg's 15 s,
so no ensemble). Instead, every largest affordable set of families (adding any other family would overrun
the time) is scored by its members' out-of-fold blend, and the best one is refitted first. Blending never
loses to a subset on the rows it is chosen on, so only the largest sets need a score; at most 2^5 - 1 sets.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations


def largest_affordable(costs: dict[str, float], budget: float) -> list[tuple[str, ...]]:
    """Every set of families whose summed cost fits `budget` and to which no other family could be added."""
    names = sorted(f for f, c in costs.items() if c <= budget)
    fitting = [set_ for k in range(len(names), 0, -1) for set_ in combinations(names, k)
               if sum(costs[f] for f in set_) <= budget]
    return [s for s in fitting if not any(set(s) < set(t) for t in fitting)]


def plan_refits(costs: dict[str, float], budget: float, score: Callable[[Sequence[str]], float],
                higher_is_better: bool = True) -> list[str]:
    """The families to refit first: all when they fit, else the best-scoring largest affordable set.

    `score(families)`: the CV objective of blending those families' OOF scores (one family: its own)."""
    if sum(costs.values()) <= budget:
        return sorted(costs)
    candidates = largest_affordable(costs, budget)
    if not candidates:
        return []
    sign = 1.0 if higher_is_better else -1.0
    # ties: the cheaper set, then the first in the (sorted, deterministic) order of the candidates
    best = max(candidates, key=lambda s: (sign * score(s), -sum(costs[f] for f in s)))
    return list(best)
