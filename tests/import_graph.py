"""The static import graph of pipeline/: what each module imports (lazy imports inside functions included)
and the closure of files a module needs. Shared by the DVC wiring and the layout tests."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO


def module_file(name: str) -> Path | None:
    path = REPO.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def imported(path: Path) -> set[str]:
    """The pipeline modules one file imports, wherever in the file (lazy imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; the closure walk expects absolute ones"
            names |= {node.module or ""} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n.split(".")[0] == "pipeline" and module_file(n) is not None}


def closure(module: str) -> set[Path]:
    """Files (relative to the repo) a module needs: its imports' closure, package __init__s, package data."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):   # importing a.b.c runs a and a.b first
            parent = ".".join(parts[:i])
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
        todo += [n for n in imported(module_file(name)) if n not in seen]
        seen |= set(todo)
    files = {module_file(n).relative_to(REPO) for n in seen}
    packages = {f.parent for f in files if f.name == "__init__.py" and f.parent != Path("pipeline")}
    data = {p.relative_to(REPO) for pkg in packages for p in (REPO / pkg).rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    return files | data
