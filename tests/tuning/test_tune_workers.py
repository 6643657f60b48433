"""Several pipeline.tune workers on one Optuna study in a real PostgreSQL server (tests/postgres_server.py):
the study-wide trial count, a worker killed mid-trial, resume, one final fit, and storage errors."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import REPO, run_stages

from pipeline import tune
from pipeline.core.errors import InputError, StageError
from pipeline.tuning import storage as stores
from pipeline.tuning.objective import BUILD_PARAMS
from pipeline.tuning.workers import RETRY_HISTORY, WORKER, counted, fail_dead_trials, tally

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("workers")
    params = {"seed": 11, "data": {"synthetic": {"n_customers": 360, "events_per_customer": 10}},
              "tune": {"pruner": "none", "heartbeat_seconds": 1, "grace_seconds": 3}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    run_stages(root, root / "params.yaml", ["prepare", "impute", "outliers", "features"])
    return root


def start_worker(root: Path, url: str, study: str, name: str, trials: int, family: str = "logreg") -> subprocess.Popen:
    """One worker as its own OS process, exactly as a user runs it on a machine."""
    out = root / name
    out.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "pipeline.tune", "--params", str(root / "params.yaml"),
           "--features", str(root / "data/features"), "--out", str(out / "tuned"), "--report", str(out / "tune.json"),
           "--storage", url, "--study-name", study, "--models", family, "--trials", str(trials), "--folds", "3"]
    env = {**os.environ, "OPTUNA_STORAGE": "sqlite:///must-not-be-used.db"}   # the flag wins over the env var
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=(out / "log.txt").open("w"), stderr=subprocess.STDOUT)


def finish(procs: list[subprocess.Popen], root: Path, names: list[str], timeout: float = 240) -> None:
    for proc, name in zip(procs, names):
        code = proc.wait(timeout=timeout)
        assert code == 0, f"worker {name} exited {code}:\n{(root / name / 'log.txt').read_text()[-3000:]}"


def worker_of(proc: subprocess.Popen) -> str:
    return f"{socket.gethostname()}:{proc.pid}"


def load(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def assert_study_complete(study: optuna.Study, target: int) -> None:
    """Exactly `target` counted trials, all finished, numbers unique; replaced ones were re-run."""
    trials = study.get_trials()
    kept = counted(trials)
    assert len(kept) == target and all(t.state in FINISHED for t in kept), tally(trials)
    assert len({t.number for t in trials}) == len(trials)
    retried = {n for t in trials for n in t.system_attrs.get(RETRY_HISTORY, [])}
    for t in trials:
        if t not in kept and not t.user_attrs.get("surplus"):
            assert t.state == optuna.trial.TrialState.FAIL and t.number in retried, t


def wait_for(condition, what: str, timeout: float = 120, poll: float = 0.05):
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        if found := condition():
            return found
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


def trials_of(url: str, name: str, states: tuple = FINISHED + (optuna.trial.TrialState.RUNNING,)) -> list:
    try:
        return load(url, name).get_trials(deepcopy=False, states=states)
    except KeyError:   # the workers have not created the study yet
        return []


def running_trial_of(url: str, name: str, workers: set[str]) -> optuna.trial.FrozenTrial | None:
    running = trials_of(url, name, (optuna.trial.TrialState.RUNNING,))
    # all params drawn (build params recorded): the trial is in its cross-validation, the slow part
    return next((t for t in running if t.user_attrs.get(WORKER) in workers and BUILD_PARAMS in t.user_attrs), None)


def test_three_workers_share_one_study_and_one_of_them_fits(features, postgres_url):
    # Enough trials that every worker joins before the study is full: a worker that ran none fits on its own
    # (by design, a late command); 12 tiny logreg trials were sometimes done before the third one started.
    TRIALS = 30
    names = ["w1", "w2", "w3"]
    procs = [start_worker(features, postgres_url, "three", n, trials=TRIALS) for n in names]
    finish(procs, features, names)
    study = load(postgres_url, "three-logreg")
    assert_study_complete(study, TRIALS)
    assert len({t.user_attrs[WORKER] for t in study.get_trials()}) >= 2   # the trials really were shared
    drawn = [json.dumps(t.params, sort_keys=True) for t in counted(study.get_trials())]
    assert len(set(drawn)) == len(drawn)   # workers seed their samplers apart: no trial run twice
    reports = {n: json.loads((features / n / "tune.json").read_text()) for n in names}
    fitted = [n for n in names if reports[n]["final_fit"] == "done here"]
    assert len(fitted) == 1, {n: r["final_fit"] for n, r in reports.items()}
    fitter = reports[fitted[0]]
    for name in set(names) - set(fitted):
        assert reports[name]["final_fit"] == f"final fit done by worker {fitter['worker']}"
        assert "skipped" in json.loads((features / name / "tuned/logreg/info.json").read_text())
    info = json.loads((features / fitted[0] / "tuned/logreg/info.json").read_text())
    assert info["params"] == study.best_trial.user_attrs[BUILD_PARAMS] and info["cv_score"] == study.best_value
    assert fitter["families"]["logreg"]["n_trials"] == TRIALS
    assert fitter["storage"] == postgres_url

    # A later command with nothing left to run does the final fit itself, from the same best params.
    later = start_worker(features, postgres_url, "three", "later", trials=TRIALS)
    finish([later], features, ["later"])
    assert len(load(postgres_url, "three-logreg").get_trials()) == len(study.get_trials())
    again = json.loads((features / "later/tuned/logreg/info.json").read_text())
    assert again["params"] == info["params"] and again["cv_score"] == info["cv_score"]


def test_a_worker_killed_mid_trial_is_requeued_and_the_study_completes(features, postgres_url):
    names = ["k1", "k2", "k3"]
    procs = [start_worker(features, postgres_url, "kill", n, trials=8, family="forest") for n in names]
    victim = procs[0]
    trial = wait_for(lambda: running_trial_of(postgres_url, "kill-forest", {worker_of(victim)}),
                     "a running trial of the victim")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    finish(procs[1:], features, names[1:])
    study = load(postgres_url, "kill-forest")
    killed = next(t for t in study.get_trials() if t.number == trial.number)
    assert killed.state == optuna.trial.TrialState.FAIL   # not stuck RUNNING
    retries = [t for t in study.get_trials() if killed.number in t.system_attrs.get(RETRY_HISTORY, [])]
    assert len(retries) == 1 and retries[0].state == optuna.trial.TrialState.COMPLETE
    assert retries[0].params == killed.params
    assert_study_complete(study, 8)
    assert tally(study.get_trials())["n_requeued"] == 1
    fits = [json.loads((features / n / "tune.json").read_text())["final_fit"] for n in names[1:]]
    assert fits.count("done here") == 1, fits


def test_a_study_resumes_after_every_worker_was_killed(features, postgres_url):
    names = ["r1", "r2"]
    # forest trials take seconds, not the ~0.2 s of a tiny logreg: a trial is caught running, and the study
    # cannot finish between looks (CI once timed out with logreg after the workers had run all 8 trials)
    procs = [start_worker(features, postgres_url, "resume", n, trials=8, family="forest") for n in names]
    workers = {worker_of(p) for p in procs}
    for _ in range(50):   # freeze both, so the running trial seen is still running when they are killed
        wait_for(lambda: len(trials_of(postgres_url, "resume-forest", FINISHED)) >= 2
                 and running_trial_of(postgres_url, "resume-forest", workers), "two finished trials and a running one")
        for proc in procs:
            proc.send_signal(signal.SIGSTOP)
        if running_trial_of(postgres_url, "resume-forest", workers):
            break
        for proc in procs:   # the trial finished between the look and the stop
            proc.send_signal(signal.SIGCONT)
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = load(postgres_url, "resume-forest").get_trials()
    stuck = [t.number for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert stuck and len(counted(before)) < 8 + len(stuck)
    restarted = start_worker(features, postgres_url, "resume", "r3", trials=8, family="forest")
    finish([restarted], features, ["r3"])
    study = load(postgres_url, "resume-forest")
    assert_study_complete(study, 8)
    assert {t.number for t in before if t.state in FINISHED} <= {t.number for t in counted(study.get_trials())}
    for number in stuck:
        assert next(t for t in study.get_trials() if t.number == number).state == optuna.trial.TrialState.FAIL
    assert json.loads((features / "r3/tune.json").read_text())["final_fit"] == "done here"


def test_an_unreachable_database_fails_fast_with_a_clear_message(features, capsys):
    url = f"postgresql+psycopg2://user:secret@127.0.0.1:{_closed_port()}/db"
    started = time.monotonic()
    with pytest.raises(StageError, match=r"cannot reach Optuna storage .*user:\*\*\*@127\.0\.0\.1.* after 2 attempts"):
        stores.make_storage(url, heartbeat=1, grace=3, delays=(0.2,))
    assert time.monotonic() - started < 15
    with pytest.raises(SystemExit) as info:   # the CLI: one line naming the masked URL, exit 1, no traceback
        tune.main(["--params", str(features / "params.yaml"), "--features", str(features / "data/features"),
                   "--storage", url])
    err = capsys.readouterr().err
    assert info.value.code == 1 and "error: tune: cannot reach Optuna storage" in err and "secret" not in err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]   # closed again when the block ends: nothing listens there


def test_storage_precedence_and_sqlite_with_parallel_trials(monkeypatch, tmp_path):
    monkeypatch.setenv("OPTUNA_STORAGE", "postgresql+psycopg2://u@h/env")
    assert stores.resolve_url("sqlite:///flag.db", "sqlite:///param.db") == "sqlite:///flag.db"
    assert stores.resolve_url(None, "sqlite:///param.db") == "postgresql+psycopg2://u@h/env"
    monkeypatch.delenv("OPTUNA_STORAGE")
    assert stores.resolve_url(None, "sqlite:///param.db") == "sqlite:///param.db"
    assert stores.resolve_url(None, None) == stores.DEFAULT_STORAGE
    with pytest.raises(InputError, match="not a database URL"):
        stores.make_storage("localhost:5432", heartbeat=1, grace=3)


def test_a_database_error_is_found_behind_optunas_own_clean_up_error():
    """When the server vanishes mid-trial Optuna's clean-up raises UnboundLocalError chained onto the
    database error; tune must still recognise it (one line 'lost the Optuna storage', exit 1)."""
    from sqlalchemy.exc import OperationalError

    def lose_the_server():
        try:
            try:
                raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
            except OperationalError as err:
                raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from err
        except optuna.exceptions.StorageInternalError:
            raise UnboundLocalError("cannot access local variable 'updated_state'")

    with pytest.raises(UnboundLocalError) as info:
        lose_the_server()
    cause = stores.storage_failure(info.value)
    assert isinstance(cause, OperationalError)
    assert stores.first_line(cause) == "server closed the connection unexpectedly"
    assert stores.storage_failure(ValueError("not a database problem")) is None


def _running_trial(study: optuna.Study, tagged: bool) -> int:
    """A RUNNING trial as a worker leaves it when killed right after taking it (tagged: its objective ran
    its first line before the heartbeat thread wrote the first beat)."""
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    if tagged:
        trial.set_user_attr(WORKER, "gone:1")
    return trial._trial_id


def test_a_trial_killed_before_its_first_heartbeat_is_requeued_even_if_tagged(tmp_path):
    storage = stores.make_storage(f"sqlite:///{tmp_path / 'dead.db'}", heartbeat=1, grace=1)
    study = optuna.create_study(storage=storage, study_name="dead")
    tagged, untagged, beating = (_running_trial(study, t) for t in (True, False, True))
    storage.record_heartbeat(beating)              # a live worker: left to Optuna's stale-trial check
    fail_dead_trials(study, grace=60)              # too young to be taken for dead
    assert {t._trial_id for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,))} == {
        tagged, untagged, beating}
    fail_dead_trials(study, grace=0)
    states = {t._trial_id: t.state for t in study.get_trials()}
    assert states[tagged] == states[untagged] == optuna.trial.TrialState.FAIL
    assert states[beating] == optuna.trial.TrialState.RUNNING
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 2                        # re-queued with the same params for another worker
    assert all(t.system_attrs[RETRY_HISTORY] for t in waiting)


def test_parallel_trials_on_sqlite_never_take_the_same_enqueued_trial(tmp_path):
    """SQLite ignores SELECT ... FOR UPDATE: without BEGIN IMMEDIATE two threads popped one enqueued trial
    (every start point is one), ran it twice and the second crashed on telling a finished trial."""
    storage = stores.make_storage(f"sqlite:///{tmp_path / 'queue.db'}", heartbeat=1, grace=2)
    study = optuna.create_study(storage=storage, study_name="queue")
    for i in range(40):
        study.enqueue_trial({"x": i / 40})
    ran, errors = [], []

    def objective(trial: optuna.Trial) -> float:
        ran.append(trial.number)
        time.sleep(0.005)
        return trial.suggest_float("x", 0, 1)

    def worker() -> None:
        try:
            for _ in range(10):
                study.optimize(objective, n_trials=1)
        except Exception as err:   # noqa: BLE001 - the assertion below shows it
            errors.append(repr(err))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(ran) == list(range(40))          # each enqueued trial ran exactly once
    assert [t.params["x"] for t in study.trials] == [i / 40 for i in range(40)]
