"""dvc.yaml against the code: every stage's deps cover the code it imports (and only that), and every
stage's command line is what `python -m pipeline.<stage>` does with no flags at all.

The import closure is static: every `import pipeline...` / `from pipeline... import ...` anywhere in a
module (lazy imports inside functions included), followed through the modules it reaches, plus the
package `__init__`s on the way and the non-Python files of those packages (templates).
"""
from __future__ import annotations

import argparse
import importlib
import shlex
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from import_graph import closure

STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def code_deps(stage: dict) -> list[Path]:
    return [Path(d if isinstance(d, str) else next(iter(d))) for d in stage.get("deps", [])
            if str(d if isinstance(d, str) else next(iter(d))).startswith("pipeline")]


def covered(file: Path, deps: list[Path]) -> bool:
    return any(file == d or d in file.parents for d in deps)


def holes(module: str, deps: list[Path]) -> list[str]:
    """Files the stage imports (or reads as package data) that no dep covers: edits there would not rerun it."""
    return sorted(str(f) for f in closure(module) if not covered(f, deps))


def excess(module: str, deps: list[Path]) -> list[str]:
    """Deps holding Python files the stage never imports: edits there would rerun it for nothing."""
    needed = {f for f in closure(module) if f.suffix == ".py"}
    out = []
    for dep in deps:
        files = {p.relative_to(REPO) for p in (REPO / dep).rglob("*.py")} if (REPO / dep).is_dir() else {dep}
        if files - needed:
            out.append(f"{dep}: {sorted(map(str, files - needed))[:3]}")
    return out


def stage_module(stage: dict) -> str:
    words = shlex.split(stage["cmd"])
    assert words[:2] == ["python", "-m"], stage["cmd"]
    return words[2]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_deps_cover_exactly_the_code_the_stage_imports(name):
    stage = STAGES[name]
    module, deps = stage_module(stage), code_deps(stage)
    assert not holes(module, deps), f"stage {name}: dvc.yaml deps miss {holes(module, deps)}"
    assert not excess(module, deps), f"stage {name}: dvc.yaml deps include code it never imports: {excess(module, deps)}"


def test_the_check_finds_a_missing_and_a_needless_dep():
    """The checker itself: drop a dep the stage needs, add one it does not, and both are reported."""
    deps = code_deps(STAGES["features"])
    needed = next(d for d in deps if str(d).startswith("pipeline/events"))
    assert holes("pipeline.features", [d for d in deps if d != needed])
    assert excess("pipeline.features", [*deps, Path("pipeline/tuning")])
    assert any("templates" in h for h in holes("pipeline.report", [Path("pipeline/report.py")]))
    assert "pipeline/explanation/event_effects.py" in {str(f) for f in closure("pipeline.explain")}   # lazy, nested imports


def parser_of(module: str) -> argparse.Namespace:
    return importlib.import_module(module).parse_args


@pytest.mark.parametrize("name", sorted(STAGES))
def test_dvc_command_is_the_stage_with_no_flags(name, capsys):
    """Every path dvc.yaml passes is the flag's default, so `python -m pipeline.<stage>` in the project
    root runs exactly what `dvc repro` runs; --help names each default."""
    module = stage_module(STAGES[name])
    parse = parser_of(module)
    given = shlex.split(STAGES[name]["cmd"])[3:]
    assert vars(parse(given)) == vars(parse([])), f"{name}: dvc.yaml passes a path that is not the default"
    with pytest.raises(SystemExit):
        parse(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for value in given[1::2]:
        assert f"default: {value}" in text, f"{name} --help does not name the default {value}"
