"""PyTorch source as the translator reads it: one file, and the package it belongs to.

A file's names are resolved from its imports (relative imports included, through the
package its folder belongs to: the folders above it holding an `__init__.py`), so
`from ..ops.misc import Conv2dNormActivation` names the class defined in `ops/misc.py`
of the same package. Modules of the package are read from disk on demand, parsed, never
imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from ..core.imports import bindings, dotted
from ..core.parsing import parse_python


@dataclass(eq=False)
class SourceFile:
    """One parsed file: its top-level definitions and what its names refer to."""

    path: str
    dotted: str | None  # `torchvision.models.resnet`; None outside a package
    text: str
    tree: cst.Module
    names: dict[str, str] = field(default_factory=dict)  # local name -> qualified name
    classes: dict[str, cst.ClassDef] = field(default_factory=dict)
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    constants: dict[str, cst.BaseExpression] = field(default_factory=dict)  # top-level NAME = value
    relative: dict[str, str] = field(default_factory=dict)  # relative module text -> absolute

    @property
    def package(self) -> str | None:
        if self.dotted is None:
            return None
        is_init = Path(self.path).stem == "__init__"
        return self.dotted if is_init else self.dotted.rpartition(".")[0]

    def qualify(self, name: str) -> str | None:
        """The qualified name a module-level name refers to (`nn` -> `torch.nn`,
        `BasicBlock` -> `torchvision.models.resnet.BasicBlock`)."""
        if name in self.names:
            return self.names[name]
        if name in self.classes or name in self.functions or name in self.constants:
            return f"{self.dotted or Path(self.path).stem}.{name}"
        return None


def read_file(path: str, text: str, dotted_name: str | None, tree: cst.Module | None = None) -> SourceFile:
    tree = tree if tree is not None else parse_python(text, path)
    src = SourceFile(path, dotted_name, text, tree)
    for stmt in tree.body:
        _top_level(src, stmt)
    return src


def _top_level(src: SourceFile, stmt) -> None:
    if isinstance(stmt, cst.ClassDef):
        src.classes[stmt.name.value] = stmt
    elif isinstance(stmt, cst.FunctionDef):
        src.functions[stmt.name.value] = stmt
    elif isinstance(stmt, cst.If | cst.Try):  # `try: import x except ImportError: ...`
        for block in _blocks(stmt):
            for inner in block:
                if isinstance(inner, cst.SimpleStatementLine):
                    for small in inner.body:
                        _imports(src, small)
    elif isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            _imports(src, small)
            if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
                src.constants[small.targets[0].target.value] = small.value
            elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value is not None:
                src.constants[small.target.value] = small.value


def _blocks(stmt):
    if isinstance(stmt, cst.If):
        yield stmt.body.body
        if stmt.orelse is not None:
            yield from _blocks(stmt.orelse) if isinstance(stmt.orelse, cst.If) else [stmt.orelse.body.body]
    elif isinstance(stmt, cst.Try):
        yield stmt.body.body
        for h in stmt.handlers:
            yield h.body.body


def _imports(src: SourceFile, small) -> None:
    if isinstance(small, cst.Import):
        src.names.update(bindings(small))
    elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
        base = dotted(small.module) if small.module is not None else ""
        if small.relative:
            absolute = _absolute(src, len(small.relative), base)
            if absolute is None:
                return
            src.relative["." * len(small.relative) + base] = absolute
            base = absolute
        src.names.update(bindings(small, base))


def _absolute(src: SourceFile, level: int, base: str) -> str | None:
    package = src.package
    if package is None:
        return None
    parts = package.split(".")
    if level - 1 > len(parts) - 1:
        return None
    anchor = parts[: len(parts) - (level - 1)]
    return ".".join(anchor + ([base] if base else []))


class Package:
    """The files of one package, read on demand (for names imported from sibling modules)."""

    def __init__(self, root: Path | None, texts: dict[str, str] | None = None, tops: set[str] | None = None):
        self.root = root  # the folder holding the top package
        self.texts = texts or {}  # dotted name -> source text given in memory
        self._files: dict[str, SourceFile | None] = {}
        # the top packages read from disk (a package installed beside torch must not make
        # torch's own sources "the package")
        self.tops = tops

    def add(self, src: SourceFile) -> None:
        if src.dotted:
            self._files[src.dotted] = src

    def file(self, dotted_name: str) -> SourceFile | None:
        if dotted_name in self._files:
            return self._files[dotted_name]
        self._files[dotted_name] = None  # guards against import cycles while reading
        found = self._read(dotted_name)
        self._files[dotted_name] = found
        return found

    def _read(self, dotted_name: str) -> SourceFile | None:
        if dotted_name in self.texts:
            return read_file(f"<{dotted_name}>", self.texts[dotted_name], dotted_name)
        if self.root is None or (self.tops is not None and dotted_name.split(".")[0] not in self.tops):
            return None
        base = self.root.joinpath(*dotted_name.split("."))
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.is_file():
                try:
                    return read_file(str(path), path.read_text(encoding="utf-8"), dotted_name)
                except Exception:  # noqa: BLE001 - an unreadable sibling is only an unknown name
                    return None
        return None

    def definition(self, qualified: str, depth: int = 0):
        """(file, class or function node) defined in the package under `qualified`, following
        re-exports (`from .misc import X` in a package's `__init__`), or None."""
        if depth > 8 or "." not in qualified:
            return None
        module, _, name = qualified.rpartition(".")
        src = self.file(module)
        if src is None:
            return None
        node = src.classes.get(name) or src.functions.get(name)
        if node is not None:
            return src, node
        target = src.names.get(name)
        if target and target != qualified:
            return self.definition(target, depth + 1)
        return None

    def constant(self, qualified: str):
        module, _, name = qualified.rpartition(".")
        src = self.file(module) if module else None
        if src is None:
            return None
        value = src.constants.get(name)
        return (src, value) if value is not None else None
