"""Which family gets the next trial: a race across families, judged on the same CV folds.

Every family first runs its start points (strong default configurations, enqueued). After that:
  * stop: a family whose best trial is behind the leader's best on the shared folds by more than
    Z standard errors of the per-fold differences (a paired comparison: the folds are the same rows
    for every family, so fold-to-fold noise cancels) and by more than MIN_GAP of the leader's score
    (tuning often closes less) gets no more trials, once it has run its start points and
    `extra_trials` more. It keeps its best trial: it may still join the ensemble. A family that
    finishes no trial in its start points plus one attempt is stopped too.
  * go: the others are ranked by optimistic gain per second: (best + bonus - leader's best) / the
    family's median trial seconds, where bonus = se * sqrt(2 ln N / n) (UCB1 scaled by the standard
    error `se` of its best trial's fold scores; n its trials, N all trials). A family that is close
    and cheap gets time; the leader keeps getting time while its spread says it may still improve.
A family whose median trial would not finish in the time left is not started again.
Pure bookkeeping (no Optuna, no clock): tests feed it scores; pipeline/tuning/runner.py feeds it trials.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median

Z = 2.0   # standard errors behind the leader before a family is stopped (about 97.5 % one-sided)
MIN_GAP = 0.005   # ... and at least this share of the leader's score: tuning often closes a smaller gap


@dataclass
class FamilyState:
    name: str
    start_points: int                         # enqueued trials it runs before the race judges it
    finished: int = 0                         # trials finished (complete, pruned or failed), this run
    resumed: int = 0                          # counted trials its study held before this run
    best: float | None = None                 # best CV score, sign-adjusted: higher is better
    best_folds: list[float] = field(default_factory=list)
    seconds: float = 0.0                      # time this run spent on its trials
    trial_seconds: list[float] = field(default_factory=list)   # of complete trials
    running: int = 0                          # trials of it in flight in this run (parallel trials)
    done: bool = False                        # its study reached tune.trials
    stopped: str | None = None                # why the race stopped it

    @property
    def started(self) -> bool:
        """All its start points are finished or in flight."""
        return self.finished + self.resumed + self.running >= self.start_points

    @property
    def cost(self) -> float | None:
        return median(self.trial_seconds) if self.trial_seconds else None

    @property
    def se(self) -> float:
        k = len(self.best_folds)
        if k < 2:
            return 0.0
        mean = sum(self.best_folds) / k
        return math.sqrt(sum((x - mean) ** 2 for x in self.best_folds) / (k - 1) / k)


class Allocator:
    def __init__(self, start_points: dict[str, int], higher_is_better: bool = True, z: float = Z,
                 extra_trials: int = 2, stop: bool = True, min_gap: float = MIN_GAP):
        self.sign = 1.0 if higher_is_better else -1.0
        self.z = z
        self.stop = stop   # False: no family is ever stopped (every one runs its tune.trials)
        self.min_gap = min_gap
        # A family is judged only after its start points plus `extra_trials` sampled ones.
        self.extra = extra_trials
        self.states = {name: FamilyState(name, n) for name, n in start_points.items()}

    def dispatch(self, name: str) -> None:
        """A trial of `name` starts (so a parallel worker does not take its next start point as a second one)."""
        self.states[name].running += 1

    def record(self, name: str, value: float | None, fold_scores: list[float] | None, seconds: float) -> None:
        """One finished trial of `name` (value None: pruned or failed)."""
        st = self.states[name]
        st.running = max(st.running - 1, 0)
        st.finished += 1
        st.seconds += seconds
        if value is None or not math.isfinite(value):
            return
        st.trial_seconds.append(seconds)
        score = self.sign * value
        if st.best is None or score > st.best:
            st.best, st.best_folds = score, [self.sign * s for s in (fold_scores or [])]
        self._judge()

    def seed_best(self, name: str, value: float, fold_scores: list[float], resumed: int) -> None:
        """A resumed study's best trial so far (and how many trials it already held)."""
        st = self.states[name]
        st.resumed = resumed
        st.best, st.best_folds = self.sign * value, [self.sign * s for s in fold_scores]

    def leader(self) -> FamilyState | None:
        scored = [s for s in self.states.values() if s.best is not None]
        return max(scored, key=lambda s: s.best) if scored else None

    def _judge(self) -> None:
        """Stop the families clearly behind the leader (paired over the shared folds)."""
        lead = self.leader()
        if lead is None or not self.stop:
            return
        for st in self.states.values():
            if st is lead or st.stopped or st.best is None or st.finished + st.resumed < st.start_points + self.extra:
                continue
            diffs = [a - b for a, b in zip(st.best_folds, lead.best_folds)]
            if len(diffs) < 2:
                continue
            mean = sum(diffs) / len(diffs)
            sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1))
            if mean + self.z * sd / math.sqrt(len(diffs)) < 0 and -mean > self.min_gap * abs(lead.best):
                st.stopped = (f"behind {lead.name} by {-mean:.4f} (paired fold SE {sd / math.sqrt(len(diffs)):.4f}) "
                              f"after {st.finished + st.resumed} trials")

    def next(self, time_left: float | None) -> str | None:
        """The family to run next, or None when none should run."""
        alive = [s for s in self.states.values() if not s.done and not s.stopped
                 and (time_left is None or s.cost is None or s.cost <= time_left)]
        if not alive:
            return None
        for s in alive:
            if self.stop and s.best is None and s.finished >= s.start_points + 1:
                s.stopped = f"no trial finished in {s.finished} attempts (pruned, failed or out of time)"
        alive = [s for s in alive if not s.stopped]
        if not alive:
            return None
        fresh = [s for s in alive if not s.started]
        if fresh:
            return fresh[0].name   # start points first, cheapest family first
        # A family with nothing scored yet waits for its running start point rather than run a second trial.
        unscored = [s for s in alive if s.best is None and not s.running]
        if unscored:
            return unscored[0].name
        alive = [s for s in alive if s.best is not None]
        if not alive:
            return None
        lead = self.leader()
        total = sum(s.finished + s.resumed for s in self.states.values())

        def gain_per_second(s: FamilyState) -> float:
            n = max(s.finished + s.resumed, 1)
            bonus = s.se * math.sqrt(2 * math.log(max(total, 2)) / n)
            return (s.best + bonus - lead.best + 1e-9) / max(s.cost or 1.0, 1e-3)

        return max(alive, key=gain_per_second).name

    def summary(self) -> dict[str, dict]:
        """How the race spent the budget, per family (for tune.json and the report)."""
        return {s.name: {"trials_this_run": s.finished, "seconds": round(s.seconds, 1),
                         "median_trial_seconds": None if s.cost is None else round(s.cost, 2),
                         "best": None if s.best is None else self.sign * s.best,
                         "stopped": s.stopped, "done": s.done} for s in self.states.values()}
