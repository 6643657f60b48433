"""The tuning progress line: study-wide counts, best so far, time left."""
import io
import time

import optuna

from pipeline.tuning.progress import Progress


def study_with(values):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for v in values:
        study.add_trial(optuna.trial.create_trial(value=v, params={}, distributions={}))
    return study


def test_line_counts_finished_trials_and_best():
    study = study_with([0.6, 0.8, 0.7])
    line = Progress("xgb", 10, stream=io.StringIO()).line(study)
    assert "xgb" in line and "3/10 trials" in line and "best 0.8000" in line


def test_eta_never_exceeds_the_time_budget():
    study = study_with([0.6])
    progress = Progress("lstm", 1000, stream=io.StringIO(), deadline=time.monotonic() + 30)
    progress.started -= 60  # one trial took a minute: 999 more would take hours
    assert "eta 0:00:" in progress.line(study)


def test_not_a_terminal_logs_instead_of_redrawing(caplog):
    stream = io.StringIO()
    study = study_with([0.5])
    with caplog.at_level("INFO"):
        Progress("logreg", 5, stream=stream)(study, study.trials[0])
    assert stream.getvalue() == "" and "1/5 trials" in caplog.text
