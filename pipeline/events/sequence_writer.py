"""`SequenceWriter`: one sequence file written chunk by chunk, the bytes `save_sequences` writes for the whole batch.

At 10M customers the sequence tensors (10M x 64 x 7 float32, 18 GB) do not fit in memory beside anything else.
Each appended chunk's arrays go to a raw temp file per array; `close` writes the .npz (one .npy entry per array,
headers for the final shapes) by copying those files in blocks, so memory holds one chunk and one block.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np

from pipeline.core import scratch
from pipeline.core.io import FIXED_TIME, atomic_path
from pipeline.events.sequences import SequenceBatch, _unicode

ROWS = ("types", "values", "lengths", "customer_ids")   # arrays with a row per customer, in save_sequences' order
BLOCK = 64 * 2**20


class SequenceWriter:
    """Append `SequenceBatch` chunks (same channels and types, ids of at most `id_width` characters), then close."""

    def __init__(self, path: str | Path, id_width: int):
        self.path, self.id_width = Path(path), max(1, id_width)
        self.rows, self.tail, self.channels, self.type_names = 0, {}, None, None
        scratch.remove_stale(self.path.parent, "sequences")   # a killed run's (18 GB at 10M customers)
        self._dir = scratch.new_dir(self.path.parent, "sequences")
        self._files = {name: open(self._dir / name, "wb") for name in ROWS}

    def append(self, batch: SequenceBatch) -> None:
        if batch.customer_ids is None:
            raise ValueError("SequenceWriter: the batch has no customer_ids; they fix the row order on disk.")
        if self.channels is None:
            self.channels, self.type_names = list(batch.channels), list(batch.type_names)
        elif (list(batch.channels), list(batch.type_names)) != (self.channels, self.type_names):
            raise ValueError("SequenceWriter: every chunk must come from the same fitted encoder.")
        arrays = {"types": np.ascontiguousarray(batch.types, dtype=np.int32),
                  "values": np.ascontiguousarray(batch.values, dtype=np.float32),
                  "lengths": np.ascontiguousarray(batch.lengths, dtype=np.int32),
                  "customer_ids": np.asarray(batch.customer_ids, dtype=object).astype(f"<U{self.id_width}")}
        for name, array in arrays.items():
            self.tail[name] = (array.dtype, array.shape[1:])
            array.tofile(self._files[name])
        self.rows += len(batch)

    def close(self) -> None:
        """Write the .npz atomically and remove the temp files (also when writing fails)."""
        try:
            for handle in self._files.values():
                handle.close()
            if self.channels is None:
                raise ValueError("SequenceWriter: no chunk was appended.")
            with atomic_path(self.path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
                for name in ROWS:
                    dtype, tail = self.tail[name]
                    with archive.open(zipfile.ZipInfo(f"{name}.npy", FIXED_TIME), "w", force_zip64=True) as out:
                        _write_header(out, dtype, (self.rows, *tail))
                        with open(self._dir / name, "rb") as raw:
                            shutil.copyfileobj(raw, out, BLOCK)
                for name, items in (("channels", self.channels), ("type_names", self.type_names)):
                    with archive.open(zipfile.ZipInfo(f"{name}.npy", FIXED_TIME), "w", force_zip64=True) as out:
                        np.lib.format.write_array(out, _unicode(items), allow_pickle=False)
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


def _write_header(handle, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """The .npy header np.lib.format.write_array writes for a C-ordered array of this dtype and shape."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    try:
        np.lib.format.write_array_header_1_0(handle, header)
    except ValueError:   # a header too long for version 1.0, as write_array falls back
        np.lib.format.write_array_header_2_0(handle, header)
