"""The peers' own virtual environments, bench/.venvs/<peer>/, built from the package registry.

Each peer gets `python3 -m venv` and one `pip install` per step of its spec (pinned versions), never
the project's dependencies. A venv whose marker (.bench-installed) holds the current spec is reused;
a failed build leaves .bench-failed (the spec and pip's last lines) and is retried only by --setup.
After a build, `pip freeze` goes to freeze.txt beside the marker, so every result can name its versions.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

VENVS = Path(__file__).resolve().parents[1] / ".venvs"
INSTALLED, FAILED, FREEZE = ".bench-installed", ".bench-failed", "freeze.txt"
INSTALL_TIMEOUT_S = 45 * 60      # "installs in reasonable time": past this, a peer is reported not installed
# The project's own versions (requirements.lock), so the hand-made peers run the same libraries.
SKLEARN, PANDAS, XGBOOST, OPTUNA = "scikit-learn==1.9.1", "pandas==3.1.1", "xgboost==3.2.0", "optuna==5.0.0"
# The local CPU wheel first: a plain torch requirement of autogluon would pull GBs of CUDA packages.
TORCH = "torch==2.13.0"
AUTOGLUON = "autogluon.tabular[all]==1.6.3"
AUTOGLUON_FALLBACK = "autogluon.tabular[lightgbm,catboost,xgboost,fastai]==1.6.3"

# peer -> pip steps, each step one `pip install` (so torch is in place before autogluon resolves)
SPECS: dict[str, list[list[str]]] = {
    "flaml": [["flaml[automl]==2.7.0"]],
    "xgb_optuna": [[XGBOOST, OPTUNA, SKLEARN, PANDAS]],
    "logreg": [[SKLEARN, PANDAS]],
    "autogluon": [[TORCH], [AUTOGLUON]],
}
FALLBACKS: dict[str, list[list[str]]] = {"autogluon": [[TORCH], [AUTOGLUON_FALLBACK]]}


@dataclass(frozen=True)
class Venv:
    peer: str
    python: Path | None          # None: not installed
    reason: str = ""             # why not, when python is None


def _folder(peer: str) -> Path:
    return VENVS / peer


def _spec_text(steps: list[list[str]]) -> str:
    return json.dumps(steps)


def status(peer: str) -> Venv:
    """The peer's interpreter when its venv is built with the current spec (or its fallback), else why not."""
    folder = _folder(peer)
    specs = {_spec_text(SPECS[peer]), *(_spec_text(f) for f in [FALLBACKS.get(peer)] if f)}
    marker = folder / INSTALLED
    if marker.is_file() and marker.read_text().splitlines()[0] in specs:
        return Venv(peer, folder / "bin" / "python")
    if (folder / FAILED).is_file():
        return Venv(peer, None, "not installed: " + _last_line((folder / FAILED).read_text()))
    return Venv(peer, None, "not installed: run --setup")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def _pip(python: Path, packages: list[str], log: Path, deadline: float) -> None:
    """One pip install step; raises with pip's tail on failure or when the deadline passes."""
    cmd = [str(python), "-m", "pip", "install", "--no-input", *packages]
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        try:
            subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=True,
                           timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(f"pip install {' '.join(packages)} took over {INSTALL_TIMEOUT_S // 60} min") from err
        except subprocess.CalledProcessError as err:
            tail = "\n".join(log.read_text().splitlines()[-15:])
            raise RuntimeError(f"pip install {' '.join(packages)} failed ({err.returncode}):\n{tail}") from err


def _build_steps(peer: str, steps: list[list[str]], log: Path) -> None:
    folder = _folder(peer)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    subprocess.run(["python3", "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    deadline = time.monotonic() + INSTALL_TIMEOUT_S
    for packages in steps:
        _pip(python, packages, log, deadline)
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    (folder / FREEZE).write_text(freeze)
    (folder / INSTALLED).write_text(_spec_text(steps) + "\n")


def build(peer: str, retry_failed: bool) -> tuple[Venv, float]:
    """Build the peer's venv unless it is already built (or failed before and retry_failed is False)."""
    current = status(peer)
    if current.python is not None or ((_folder(peer) / FAILED).is_file() and not retry_failed):
        return current, 0.0
    started = time.monotonic()
    log = VENVS / f"{peer}.log"       # outside the venv folder, which a retry wipes
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    errors = []
    for steps in [SPECS[peer], *([FALLBACKS[peer]] if peer in FALLBACKS else [])]:
        try:
            _build_steps(peer, steps, log)
            return status(peer), time.monotonic() - started
        except (RuntimeError, subprocess.CalledProcessError) as err:   # the bench goes on without this peer
            errors.append(str(err))
    _folder(peer).mkdir(parents=True, exist_ok=True)
    (_folder(peer) / FAILED).write_text("\n\n".join(errors) + "\n")
    return status(peer), time.monotonic() - started


def versions(peer: str, names: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of the named distributions in the peer's venv (from freeze.txt)."""
    path = _folder(peer) / FREEZE
    if not path.is_file():
        return {}
    pins = dict(line.split("==", 1) for line in path.read_text().splitlines() if "==" in line)
    wanted = {n.lower().replace("_", "-") for n in names}
    return {k: v for k, v in pins.items() if k.lower().replace("_", "-") in wanted}
