"""Crash safety: a killed run's temp names are removed at the next start (a live run's never), and atomic
writes fsync the bytes before the rename and the directory after it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline import prepare as prepare_entry
from pipeline.core import scratch
from pipeline.core.io import atomic_dir, write_json, write_text


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped: what a SIGKILLed run leaves in its names."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def left_behind(parent: Path, kind: str, pid: int, host: str | None = None, suffix: str = "", folder: bool = True):
    """A temp name as a run with `pid` on `host` (default: this one) would have left it, with some content."""
    host = host or scratch.owner().rsplit("-", 1)[0]
    path = parent / f".{kind}.{host}-{pid}.k3x9q2{suffix}"
    if folder:
        path.mkdir()
        (path / "part-00000.parquet").write_bytes(b"x" * 100)
    else:
        path.write_bytes(b"half a file")
    return path


def test_next_start_removes_a_killed_runs_scratch_and_keeps_live_and_foreign_ones(tmp_path):
    dead = dead_pid()
    stale = left_behind(tmp_path, "prepare", dead)
    live = left_behind(tmp_path, "predict", os.getpid())           # e.g. a concurrent run of this process
    other_host = left_behind(tmp_path, "prepare", dead, host="another-machine")   # its pids mean nothing here
    other_kind = left_behind(tmp_path, "prepared", dead)             # another command's (a prefix of the name)
    with scratch.scratch_dir(tmp_path, "prepare") as mine:
        assert mine.is_dir() and mine.name.startswith(f".prepare.{scratch.owner()}.")
        assert not stale.exists()
    assert not mine.exists()
    assert live.exists() and other_host.exists() and other_kind.exists()


def test_a_live_runs_scratch_of_the_same_kind_is_never_removed(tmp_path):
    live = left_behind(tmp_path, "prepare", os.getpid())
    assert scratch.remove_stale(tmp_path, "prepare") == []
    assert live.exists()


def test_prepare_removes_a_killed_prepares_scratch_at_its_next_start(tmp_path):
    """SIGKILL gives no chance to clean up; the next prepare does, even one that then fails on its params."""
    (tmp_path / "data").mkdir()
    stale = left_behind(tmp_path / "data", "prepare", dead_pid())
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"data": {"source": "nowhere"}}))
    with pytest.raises(SystemExit):
        prepare_entry.main(["--params", str(params), "--out", str(tmp_path / "data" / "prepared")])
    assert not stale.exists()
    assert list((tmp_path / "data").iterdir()) == []


def test_atomic_writers_remove_a_killed_writers_temp_copies(tmp_path):
    dead = dead_pid()
    torn = left_behind(tmp_path, "meta.json", dead, suffix=".tmp", folder=False)
    half_dir = left_behind(tmp_path, "prepared", dead)
    parked = left_behind(tmp_path, "prepared", dead, suffix=".old")   # killed between its two renames
    write_json({"v": 1}, tmp_path / "meta.json")
    with atomic_dir(tmp_path / "prepared") as tmp:
        write_text("x", tmp / "a.txt")
    assert not torn.exists() and not half_dir.exists() and not parked.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json", "prepared"]


@pytest.fixture
def synced(monkeypatch) -> list[int]:
    """Inodes passed to os.fsync, in order (a rename keeps the inode, so they name the final files)."""
    calls: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(os.fstat(fd).st_ino))
    return calls


def test_atomic_path_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path, synced):
    path = tmp_path / "out" / "meta.json"
    write_json({"v": 1}, path)
    file_ino, folder_ino = path.stat().st_ino, path.parent.stat().st_ino
    assert synced == [file_ino, folder_ino]


def test_atomic_dir_fsyncs_every_file_and_folder_inside_then_the_parent(tmp_path, synced):
    out = tmp_path / "prepared"
    with atomic_dir(out) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "a.parquet").write_bytes(b"a")
        (tmp / "sub" / "b.json").write_bytes(b"b")
    inside = {p.stat().st_ino for p in (out / "a.parquet", out / "sub" / "b.json", out / "sub", out)}
    assert inside <= set(synced[:-1])
    assert synced[-1] == tmp_path.stat().st_ino   # the parent, after the rename


def test_output_bytes_are_unchanged(tmp_path):
    """Only the temp names changed: the written bytes (dvc.lock's hashes) are the same as a plain write."""
    write_json({"b": [1, 2.5], "a": "x"}, tmp_path / "m.json")
    assert (tmp_path / "m.json").read_text() == '{\n  "b": [\n    1,\n    2.5\n  ],\n  "a": "x"\n}\n'
