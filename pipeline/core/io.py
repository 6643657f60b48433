"""Atomic writes (temp file, then rename); user tables are read by pipeline.core.reader (re-exported here).

Written files are byte-reproducible: the same data gives the same bytes (DVC hashes them).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.reader import TABLE_SUFFIXES, read_table  # noqa: F401  (the one reader)
from pipeline.core import scratch

FIXED_TIME = (1980, 1, 1, 0, 0, 0)   # the earliest time a zip entry can carry: no wall-clock time in outputs


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds.

    The bytes reach the disk before the rename and the rename before we return (fsync), so a crash leaves
    the old file or the new one, never an empty or torn one. A killed writer's temp copy is removed by the
    next write of the same path (pipeline/core/scratch.py)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch.remove_stale(path.parent, path.name)
    tmp = scratch.new_file(path.parent, path.name, ".tmp")
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get normal file permissions
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temp directory; it replaces `path` whole only if the block succeeds (every file in it and
    the directory itself fsynced before the rename, the parent after it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch.remove_stale(path.parent, path.name)   # a killed writer's temp copy or parked old version
    tmp = scratch.new_dir(path.parent, path.name)
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        _fsync_tree(tmp)
        if path.exists():
            old = scratch.old_name(path)
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            _fsync(path.parent)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
            _fsync(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fsync(path: Path) -> None:
    """Flush a file's bytes, or a directory's entries (a rename in it), to the disk."""
    if path.is_dir() and os.name != "posix":
        return   # directories cannot be opened for fsync there
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() and hasattr(os, "O_DIRECTORY") else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Every file below `root`, then every directory bottom-up (its entries name those files)."""
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in files:
            if not os.path.islink(os.path.join(folder, name)):
                _fsync(Path(folder, name))
        _fsync(Path(folder))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_npz(arrays: Mapping[str, np.ndarray], path: str | Path) -> None:
    """np.savez's layout (one .npy entry per array, no pickle) without its wall-clock entry times."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(zipfile.ZipInfo(f"{name}.npy", FIXED_TIME), "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)


def write_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def _json_default(value: Any) -> Any:
    """numpy scalars and timestamps in JSON outputs."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
