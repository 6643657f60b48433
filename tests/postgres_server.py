"""A throwaway PostgreSQL cluster on loopback for the multi-worker tuning tests.

initdb + pg_ctl in a temp dir, a free port, trust auth on 127.0.0.1; as the `postgres` OS user
when run as root (initdb refuses root). Stopped with `pg_ctl stop -m immediate` and removed.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATABASE = "automl"


class NoServer(RuntimeError):
    """No PostgreSQL server could be started here (the message says why)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    if exe := shutil.which("pg_ctl"):
        return Path(exe).parent
    raise NoServer("PostgreSQL binaries (pg_ctl, initdb) not found; install Debian's postgresql package")


def _runner() -> list[str]:
    """As root, run the server commands as the postgres OS user."""
    if os.geteuid() != 0:
        return []
    try:
        import pwd
        pwd.getpwnam("postgres")
    except KeyError as err:
        raise NoServer("running as root and there is no 'postgres' OS user to run initdb as") from err
    return ["runuser", "-u", "postgres", "--"]


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise NoServer(f"{what} failed: {(done.stderr or done.stdout).strip()[-500:]}")


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the SQLAlchemy URL of a fresh database on a fresh cluster; stop and delete it after."""
    bin_dir, run_as = _bin_dir(), _runner()
    root = Path(tempfile.mkdtemp(prefix="automl-pg-"))
    data, port = root / "data", free_port()
    if run_as:
        shutil.chown(root, "postgres")
    try:
        _run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
             "initdb")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} -c fsync=off"
        _run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", options,
              "-w", "-t", "60", "start"], "pg_ctl start")
        try:
            _run([*run_as, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                  DATABASE], "createdb")
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{DATABASE}"
        finally:
            subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate"],
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)
