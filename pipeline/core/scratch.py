"""Temp names beside outputs that say who owns them, so a killed run's leftovers are removed at the next start.

Scratch folders (prepare's sorted event log, predict's partitioned events, the features stage's sequence
tensors) and the atomic writers' temp copies can reach gigabytes, and a run killed with SIGKILL never gets
to delete them. Every such name is `.<kind>.<host>-<pid>.<random>[suffix]`: the next start of the same
command (`remove_stale(parent, kind)`) removes those of a process of this host that no longer runs, and
never a live one's (a concurrent run, or another thread of this process).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def owner() -> str:
    """This process, as written in its temp names (computed per call: a forked worker has its own pid)."""
    return f"{_host()}-{os.getpid()}"


def new_file(parent: Path, kind: str, suffix: str = "") -> Path:
    """An empty owned temp file in `parent`."""
    fd, name = tempfile.mkstemp(prefix=f".{kind}.{owner()}.", suffix=suffix, dir=parent)
    os.close(fd)
    return Path(name)


def new_dir(parent: Path, kind: str) -> Path:
    """An empty owned temp folder in `parent`."""
    return Path(tempfile.mkdtemp(prefix=f".{kind}.{owner()}.", dir=parent))


def old_name(path: Path) -> Path:
    """Where atomic_dir parks the previous `path` while the new one takes its place."""
    return path.with_name(f".{path.name}.{owner()}.old")


@contextlib.contextmanager
def scratch_dir(parent: str | Path, kind: str) -> Iterator[Path]:
    """An owned scratch folder in `parent` (which must exist), removed on exit; stale ones of `kind` first."""
    parent = Path(parent)
    remove_stale(parent, kind)
    path = new_dir(parent, kind)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale(parent: str | Path, kind: str) -> list[Path]:
    """Remove the temp names of `kind` in `parent` whose owner ran on this host and is gone; return them."""
    parent = Path(parent)
    pattern = re.compile(rf"\.{re.escape(kind)}\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.")
    try:
        names = [entry.name for entry in os.scandir(parent)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    host, stale = _host(), []
    for name in names:
        match = pattern.match(name)
        if match and match["host"] == host and not _alive(int(match["pid"])):
            _remove(parent / name)
            stale.append(parent / name)
    if stale:
        log.info("removed %d temp item(s) a killed run left in %s: %s", len(stale), parent,
                 ", ".join(p.name for p in stale))
    return stale


def _host() -> str:
    # Another machine's pids mean nothing here (a shared network folder): only this host's names are judged.
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True   # no cheap, safe liveness probe: leave it
    try:
        os.kill(pid, 0)   # signal 0: delivers nothing, only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True   # exists, owned by another user
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
