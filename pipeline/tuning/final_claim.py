"""Which worker does the final fits: one claim row per run, taken atomically in the study database.

Rule (README, "Tuning on several machines"): every worker runs until all studies are complete;
the first worker to insert the run's claim row (primary key = the run) refits every family on
its study's best params; the others record "final fit done by worker X" and write no model. A
command that ran no trial (the study was already complete: a later command, or a worker that
joined too late) fits on its own machine, from the same best params. On an embedded SQLite file (one
machine, one process) there is nobody to share with: the run always fits. tune.final_fit: false (or
--no-final-fit) makes a worker never fit, e.g. helpers of a `dvc exp run` on a main machine.
"""
from __future__ import annotations

import datetime
import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, ProgrammingError

log = logging.getLogger(__name__)

TABLE = sa.Table("automl_final_fit_claims", sa.MetaData(),
                 sa.Column("claim_key", sa.String(512), primary_key=True),
                 sa.Column("worker", sa.String(255), nullable=False),
                 sa.Column("claimed_at", sa.DateTime, nullable=False))


def _create_table(engine: Engine) -> None:
    try:
        TABLE.create(engine, checkfirst=True)
    except (IntegrityError, ProgrammingError):   # another worker created it at the same moment
        pass


def claim(engine: Engine, key: str, worker: str) -> str:
    """Insert the claim for `key` unless it exists; returns the worker holding it (maybe this one)."""
    _create_table(engine)
    try:
        with engine.begin() as conn:
            conn.execute(TABLE.insert().values(claim_key=key, worker=worker,
                                               claimed_at=datetime.datetime.now(datetime.timezone.utc)))
        return worker
    except IntegrityError:   # the primary key is taken: someone else won
        with engine.connect() as conn:
            return conn.execute(sa.select(TABLE.c.worker).where(TABLE.c.claim_key == key)).scalar_one()


def release(engine: Engine, study_name: str) -> None:
    """Forget the claims of a study that is being deleted (--no-resume), so its new run can claim."""
    _create_table(engine)
    with engine.begin() as conn:
        conn.execute(TABLE.delete().where(TABLE.c.claim_key.contains(study_name, autoescape=True)))


def run_key(study_names: list[str], trials: int) -> str:
    """All workers of one run share the studies and the trial target."""
    return "+".join(study_names) + f"@{trials}"


def who_fits(engine: Engine, key: str, worker: str, *, ran: int, running: int, enabled: bool) -> str | None:
    """None when this worker does the final fit; otherwise the reason it does not."""
    if not enabled:
        return "final fit disabled on this worker (tune.final_fit: false)"
    if running:
        return (f"out of time with {running} trial(s) still running on other workers; "
                "rerun the same command once they are done to fit here")
    if not ran or engine is None or engine.dialect.name == "sqlite":
        # An embedded SQLite file is one machine's study: the parallel trials of this one process share it, so
        # no other worker can be fitting. A claim left by an earlier run on the same (resumed) studies would
        # otherwise stop this run from fitting the models its stage must write.
        return None
    holder = claim(engine, key, worker)
    return None if holder == worker else f"final fit done by worker {holder}"
