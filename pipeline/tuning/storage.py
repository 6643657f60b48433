"""Where the Optuna studies live: the storage URL, and Optuna's RDB storage opened with heartbeats.

Precedence of the URL: --storage flag > OPTUNA_STORAGE environment variable > params tune.storage >
the embedded SQLite file. Any SQLAlchemy URL Optuna supports works; PostgreSQL
(postgresql+psycopg2://user:pass@host/db) is the tested one for several workers.
"""
from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from pipeline.core.errors import InputError, StageError
from pipeline.core.secrets import has_password, mask_url, mask_value, quote_password

log = logging.getLogger(__name__)

DEFAULT_STORAGE = "sqlite:///optuna/studies.db"
SQLITE_BUSY_SECONDS = 60
ENV_VAR = "OPTUNA_STORAGE"
CONNECT_TIMEOUT = 10        # seconds per connection attempt: a server that does not answer fails, never hangs
CONNECT_DELAYS = (1, 2, 4)  # back-off between attempts at start-up (a server restarting, a network blip)
MAX_RETRY = 3               # a trial of a dead worker is re-queued at most this many times


def resolve_url(flag: str | None, param: str | None) -> str:
    """--storage flag, else $OPTUNA_STORAGE, else params tune.storage, else the SQLite file (a password
    holding '@' percent-encoded, so every reader of the URL finds the right host)."""
    return quote_password(flag or os.environ.get(ENV_VAR) or param or DEFAULT_STORAGE)


def safe_url(url: str | None) -> str:
    """The storage URL with any password masked, for reports and logs (parsable or not)."""
    return mask_value(url or DEFAULT_STORAGE)


def warn_password_in_params(param: str | None) -> None:
    """One warning when params.yaml's tune.storage holds a password: reports and logs mask it, but
    dvc.lock (written by DVC, not by us) records the tune params verbatim."""
    if has_password(param):
        log.warning("tune: params tune.storage holds a password, and dvc.lock records params verbatim; "
                    "keep it out with PGPASSWORD (or the whole URL in $%s) instead", ENV_VAR)


def engine_kwargs(url: str) -> dict[str, Any]:
    """Time-outs so a database that is down or unreachable gives an error instead of a hang."""
    if make_url(url).get_backend_name() == "sqlite":
        # Parallel trials of one process (tune.n_jobs) write to the file in turn: a writer waits for the
        # lock (each write takes milliseconds) instead of failing after sqlite3's default 5 s.
        return {"connect_args": {"timeout": SQLITE_BUSY_SECONDS}}
    if make_url(url).get_backend_name() != "postgresql":
        return {}
    # TCP keepalives notice a server that vanished during a query; pre-ping replaces dead pooled connections.
    return {"pool_pre_ping": True, "connect_args": {
        "connect_timeout": CONNECT_TIMEOUT, "keepalives": 1, "keepalives_idle": 30,
        "keepalives_interval": 10, "keepalives_count": 3}}


def make_storage(url: str, heartbeat: int, grace: int, n_jobs: int = 1,
                 delays: tuple[float, ...] = CONNECT_DELAYS) -> RDBStorage:
    """Optuna's RDB storage with heartbeats: a killed worker's RUNNING trial is failed after `grace`
    seconds without a heartbeat and re-queued (same params) for another worker."""
    shown = safe_url(url)
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        # `from None`: SQLAlchemy's message (and so a traceback) holds the raw URL, password and all
        raise InputError(f"tune: storage {shown!r} is not a database URL (e.g. sqlite:///optuna/studies.db, "
                         "postgresql+psycopg2://user:pass@host/db).") from None
    if backend == "sqlite":
        path = make_url(url).database   # never the raw text: 'sqlite://user:pw@/x' must not become a folder
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Heartbeats and the stale-trial retry are marked experimental by Optuna; they are the documented way.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    for attempt, delay in enumerate((*delays, None), start=1):
        try:
            storage = RDBStorage(url, engine_kwargs=engine_kwargs(url), heartbeat_interval=heartbeat,
                                 grace_period=grace,
                                 heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY))
            if backend == "sqlite":
                lock_on_begin(storage.engine)
            return storage
        except (IntegrityError, ProgrammingError) as err:
            # Workers starting together on a fresh database race to create Optuna's tables; the loser
            # gets a duplicate-key error and simply opens the tables the winner made.
            if delay is None or "duplicate" not in str(err) and "already exists" not in str(err):
                raise InputError(f"tune: cannot open Optuna storage {shown}: {first_line(err)}") from err
            log.info("tune: another worker is creating the tables in %s; retrying", shown)
            time.sleep(delay)
        except OperationalError as err:    # server down, refusing, or not answering within the time-out
            if delay is None:
                raise StageError(f"tune: cannot reach Optuna storage {shown} after {attempt} attempts: "
                                 f"{first_line(err)}") from err
            log.warning("tune: storage %s unreachable (attempt %d): %s; retrying in %g s", shown, attempt,
                        first_line(err), delay)
            time.sleep(delay)
        except (SQLAlchemyError, ImportError, ValueError, OSError) as err:   # bad URL, missing driver ...
            raise InputError(f"tune: cannot open Optuna storage {shown}: {first_line(err)}") from err
    raise AssertionError("unreachable")


def lock_on_begin(engine: Engine) -> None:
    """Every SQLite transaction takes the write lock when it begins (BEGIN IMMEDIATE).

    Optuna makes its read-then-write updates atomic with SELECT ... FOR UPDATE, which SQLite ignores: two
    parallel trials (tune.n_jobs) both popped the same enqueued trial, ran it twice and crashed on "Trial#1
    has already finished" (optuna/optuna#4002). With the lock taken first, the second transaction waits
    and then sees the trial taken. SQLAlchemy's recipe for pysqlite: pysqlite's own BEGIN is switched off."""
    @event.listens_for(engine, "connect")
    def _no_pysqlite_begin(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()   # connections opened while Optuna created its tables predate the hooks


def storage_failure(err: BaseException) -> BaseException | None:
    """The database error behind `err`, if any: Optuna may re-raise it wrapped, or chain another error
    onto it (e.g. an UnboundLocalError from its own clean-up when the server vanished mid-trial)."""
    seen: set[int] = set()
    found = None
    while err is not None and id(err) not in seen:   # the deepest one says what happened
        if isinstance(err, (SQLAlchemyError, optuna.exceptions.StorageInternalError)):
            found = err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return found


def first_line(err: BaseException) -> str:
    """The error's first line, any URL or libpq password in it masked (drivers may quote the DSN)."""
    text = str(getattr(err, "orig", None) or err).strip()
    return mask_url(text.splitlines()[0]) if text else type(err).__name__
