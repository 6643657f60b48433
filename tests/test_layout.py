"""The house: stage entries on top of pipeline/, a subpackage per concept below, library code never imports
an entry, no import cycles, a one-line docstring per package, no module and package sharing a name."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO
from import_graph import imported, module_file

PIPELINE = REPO / "pipeline"
ENTRIES = {p.stem for p in PIPELINE.glob("*.py") if p.stem != "__init__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PIPELINE.rglob("*.py")}


def test_the_top_holds_only_entries_and_every_concept_is_a_package():
    assert ENTRIES == {"prepare", "eda", "impute", "outliers", "features", "resample", "tune", "evaluate", "explain",
                       "report", "predict", "app", "simulate", "cells"}
    for path in PIPELINE.glob("*.py"):
        if path.stem != "__init__":   # an entry parses flags and calls the library: main() and little else
            tree = ast.parse(path.read_text())
            assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), path.name
            assert len(path.read_text().splitlines()) <= 100, f"{path.name}: an entry is a thin module"


def test_library_code_never_imports_an_entry():
    offenders = [f"{name} -> {target}" for name, path in modules().items() if name.count(".") >= 2
                 for target in imported(path) if target.count(".") == 1 and target.split(".")[1] in ENTRIES]
    assert not offenders, offenders


def test_no_import_cycles():
    """Depth-first search over every import of every module (lazy ones included)."""
    graph = {name: {t for t in imported(path) if t != name and module_file(t) is not None and t in modules()}
             for name, path in modules().items()}
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_every_package_says_in_a_line_what_lives_there():
    for init in PIPELINE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and doc.strip() and "TODO" not in doc, f"{init.relative_to(REPO)} has no docstring"
        assert len(doc.splitlines()[0]) <= 130, init


def test_no_module_and_package_share_a_name():
    packages = {p.name for p in PIPELINE.rglob("*") if p.is_dir() and (p / "__init__.py").is_file()}
    module_stems = {p.stem for p in PIPELINE.rglob("*.py") if p.stem != "__init__"}
    assert not packages & module_stems, packages & module_stems
