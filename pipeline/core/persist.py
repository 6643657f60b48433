"""Fitted scikit-learn objects on disk in skops' format: no pickle, and loading builds only trusted types.

`save_object` writes the skops archive deterministically, so the same fitted object gives the same
bytes on every run and machine (DVC hashes it): skops names its entries and back-references after
Python object ids and stamps the zip entries with the current time; both are renumbered and fixed
here. `load_object` refuses a file holding any type outside the caller's explicit trust list.
"""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputError
from pipeline.core.io import FIXED_TIME, atomic_path

SCHEMA = "schema.json"


def save_object(obj: Any, path: str | Path) -> None:
    """skops.io.dump, made byte-reproducible, written atomically."""
    import skops.io as sio   # lazy: only stages that save or load fitted objects pay for it

    with atomic_path(path) as tmp:
        tmp.write_bytes(_canonical(sio.dumps(obj)))


def load_object(path: str | Path, trusted: Collection[str], what: str) -> Any:
    """The object in `path`; every type skops does not trust by itself must be in `trusted`."""
    import skops.io as sio

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
