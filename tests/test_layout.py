"""The package layout's import rule (docs/architecture.md): no import circles, the core
below everything, neither translation direction importing the other. Lazy imports (inside
functions) count: they are circles all the same, only deferred."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "portmodel"


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(["portmodel", *(parts[:-1] if is_package else parts)])] = (path, is_package)
    return out


MODULES = _modules()


def _imports(module: str) -> set[str]:
    """The portmodel modules `module` imports, anywhere in its code."""
    path, is_package = MODULES[module]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            # `from . import name`: the submodule where `name` is one, else the package
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _cycle() -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(GRAPH):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_circles():
    cycle = _cycle()
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("below, above", [
    ("portmodel.core", "portmodel"),  # the core imports only the core
    ("portmodel.keras_to_torch", "portmodel.torch_to_keras"),
    ("portmodel.torch_to_keras", "portmodel.keras_to_torch"),
])
def test_layers(below, above):
    allowed = {"portmodel.core"} if below == "portmodel.core" else set()
    wrong = sorted(
        f"{m} imports {n}"
        for m, targets in GRAPH.items() if _inside(m, below)
        for n in targets
        if _inside(n, above) and not _inside(n, below) and not any(_inside(n, a) for a in allowed)
    )
    assert not wrong, "\n".join(wrong)


def test_a_planted_circle_is_found(monkeypatch):
    """The check itself: a circle through a lazy import is reported."""
    graph = {k: set(v) for k, v in GRAPH.items()}
    graph["portmodel.core.errors"].add("portmodel.translate")
    monkeypatch.setitem(globals(), "GRAPH", graph)
    cycle = _cycle()
    assert cycle and "portmodel.core.errors" in cycle and "portmodel.translate" in cycle
