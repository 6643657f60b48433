"""Progress of a study: trials done/total, best so far, elapsed and remaining time.

On a terminal one line per family is redrawn in place; otherwise (CI, DVC logs) a log line per trial.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState

from pipeline.tuning.workers import counted

log = logging.getLogger(__name__)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """An Optuna callback; counts are study-wide (as --trials counts them), so every worker shows the
    same totals."""

    def __init__(self, family: str, total: int, stream: TextIO | None = None, deadline: float | None = None):
        self.family, self.total, self.deadline = family, total, deadline
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.done_at_start: int | None = None
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()

    def line(self, study: optuna.Study) -> str:
        trials = [t for t in counted(study.get_trials(deepcopy=False)) if t.state in FINISHED]
        done = len(trials)
        if self.done_at_start is None:
            self.done_at_start = done - 1
        elapsed = time.monotonic() - self.started
        mine = max(done - self.done_at_start, 1)
        eta = elapsed / mine * max(self.total - done, 0)
        if self.deadline is not None:   # a time budget ends the study before the trial count does
            eta = min(eta, self.deadline - time.monotonic())
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        best = f"{study.best_value:.4f}" if complete else "-"
        return (f"tune {self.family:<6} {done:>3}/{self.total} trials  best {best}  "
                f"elapsed {_clock(elapsed)}  eta {_clock(eta)}")

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        text = self.line(study)
        if self.interactive:
            self.stream.write("\r" + text)
            self.stream.flush()
        else:
            log.info("%s  (trial %d %s)", text, trial.number, trial.state.name.lower())

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
