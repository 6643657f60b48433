"""Fitted scikit-learn objects on disk in skops' format: no pickle, and loading builds only trusted types.

`save_object` writes the skops archive deterministically, so the same fitted object gives the same
bytes on every run and machine (DVC hashes it): skops names its entries and back-references after
Python object ids and stamps the zip entries with the current time; both are renumbered and fixed
here. `load_object` refuses a file holding any type outside the caller's explicit trust list: each
saved object declares its list (scikit-learn classes included) next to the code that fits it.
"""
from __future__ import annotations

import io
import json
import sys
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputError
from pipeline.core.io import FIXED_TIME, atomic_path

SCHEMA = "schema.json"


def skops_io() -> Any:
    """skops.io, imported without its start-up scan of every scikit-learn module.

    On import skops lists every scikit-learn estimator as trusted by default, walking all of
    scikit-learn's packages (sklearn.utils.all_estimators); that imports torch through scikit-learn's
    array-API shims and cost 4-5 s per process on a 2-core machine, in every stage that saves or loads
    a fitted object. The loads here name every type they trust explicitly, so the default list is not
    needed: the scan is skipped (nothing else changes) and the trusted sets stay small.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    import sklearn.utils

    scan = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda *args, **kwargs: []
    try:
        import skops.io
    finally:
        sklearn.utils.all_estimators = scan
    return skops.io


def save_object(obj: Any, path: str | Path) -> None:
    """skops.io.dump, made byte-reproducible, written atomically."""
    sio = skops_io()
    with atomic_path(path) as tmp:
        tmp.write_bytes(_canonical(sio.dumps(obj)))


def load_object(path: str | Path, trusted: Collection[str], what: str) -> Any:
    """The object in `path`; every type outside skops' own short list must be in `trusted`."""
    sio = skops_io()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found; run the pipeline first (dvc repro).")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a skops file ({err}); rerun the stage that writes it.") from err
    if unexpected := sorted(set(untrusted) - set(trusted)):
        raise InputError(f"{path}: {what} holds types outside the trusted list, refusing to load it: "
                         f"{unexpected[:5]}; rebuild it with this version of the pipeline (dvc repro).")
    return sio.load(path, trusted=untrusted)


def qualified_names(*objects: Any) -> tuple[str, ...]:
    """The names skops gives these classes and functions (module + name), for trust lists."""
    return tuple(f"{o.__module__}.{o.__qualname__}" for o in objects)


def _canonical(data: bytes) -> bytes:
    """The archive with object ids renumbered in schema order and fixed entry times and order."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read(SCHEMA))
        ids: dict[int, int] = {}
        schema = _renumber(schema, ids)
        entries = {f"{ids[int(name.removesuffix('.npy'))]}.npy": archive.read(name)
                   for name in archive.namelist() if name != SCHEMA}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(entries):
            archive.writestr(zipfile.ZipInfo(name, FIXED_TIME), entries[name])
        archive.writestr(zipfile.ZipInfo(SCHEMA, FIXED_TIME), json.dumps(schema, indent=2))
    return out.getvalue()


def _renumber(node: Any, ids: dict[int, int]) -> Any:
    """Replace every object id ("__id__" values, "<id>.npy" file names) by its order of first appearance."""
    def new(old: int) -> int:
        return ids.setdefault(old, len(ids) + 1)

    if isinstance(node, list):
        return [_renumber(item, ids) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "__id__" and isinstance(value, int):
            out[key] = new(value)
        elif key == "file" and isinstance(value, str) and value.endswith(".npy"):
            out[key] = f"{new(int(value.removesuffix('.npy')))}.npy"
        else:
            out[key] = _renumber(value, ids)
    return out
