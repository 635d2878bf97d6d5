"""Resolve what a name in Keras source refers to (through libcst's QualifiedNameProvider)."""

from __future__ import annotations

import re

import libcst as cst
from libcst.metadata import QualifiedNameProvider

_PREFIXES = (
    ("keras.src.", "keras."),  # Keras' own sources (keras.applications) import its internals
    ("tensorflow.python.keras.", "keras."),
    ("tensorflow.keras.", "keras."),
    ("tf_keras.", "keras."),
    ("keras.api.", "keras."),
)
_ALIASES = {
    "keras.models.Sequential": "keras.Sequential",
    "keras.models.Model": "keras.Model",
    "keras.layers.Input": "keras.Input",
    "keras.engine.training.Model": "keras.Model",
    "keras.Layer": "keras.layers.Layer",
    "keras.models.Functional": "keras.Model",  # keras.applications builds Functional(inputs, x)
    "keras.models.functional.Functional": "keras.Model",
}
KERAS_ROOTS = ("keras", "tensorflow", "tf_keras")


def canonical(name: str) -> str:
    for prefix, repl in _PREFIXES:
        if name.startswith(prefix):
            name = repl + name[len(prefix) :]
            break
    return _ALIASES.get(name, name)


class ImportTable:
    """Qualified names from a file's import statements: cheap, and exact unless an imported
    alias is also rebound in the file (then `needs_scopes` is True and callers use libcst's
    scope-aware QualifiedNameProvider instead)."""

    def __init__(self, module: cst.Module):
        self.aliases: dict[str, str] = {}
        bound: set[str] = set()
        stack: list[cst.CSTNode] = [module]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Import):
                for a in node.names:
                    full = _dotted(a.name)
                    if a.asname:
                        self.aliases[a.asname.name.value] = full
                    else:
                        top = full.split(".")[0]
                        self.aliases[top] = top
                continue
            if isinstance(node, cst.ImportFrom):
                if node.module is not None and not node.relative and not isinstance(node.names, cst.ImportStar):
                    base = _dotted(node.module)
                    for a in node.names:
                        local = a.asname.name.value if a.asname else _dotted(a.name)
                        self.aliases[local] = f"{base}.{_dotted(a.name)}"
                continue
            if isinstance(node, cst.AssignTarget | cst.AugAssign | cst.AnnAssign | cst.For | cst.CompFor):
                target = node.target
                bound.update(n.value for n in _bound_names(target))
            elif isinstance(node, cst.Param | cst.FunctionDef | cst.ClassDef):
                bound.add(node.name.value)
            stack.extend(node.children)
        self.needs_scopes = bool(bound & set(self.aliases))

    def qualified(self, node: cst.CSTNode) -> str | None:
        parts = []
        while isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        if not isinstance(node, cst.Name) or node.value not in self.aliases:
            return None
        return ".".join([self.aliases[node.value], *reversed(parts)])


def _dotted(node) -> str:
    return cst.Module([]).code_for_node(node)


def _bound_names(target) -> list[cst.Name]:
    if isinstance(target, cst.Name):
        return [target]
    if isinstance(target, cst.Tuple | cst.List):
        return [n for el in target.elements for n in _bound_names(el.value)]
    return []


class KerasNames:
    """Answers 'is this node keras.X?' for nodes of one parsed module."""

    def __init__(self, qnames: dict | None = None, table: ImportTable | None = None):
        self._qnames = qnames
        self._table = table

    @classmethod
    def for_module(cls, wrapper) -> KerasNames:
        """Import-table resolution, or libcst's scope analysis where aliases are rebound."""
        table = ImportTable(wrapper.module)
        if table.needs_scopes:
            return cls(qnames=wrapper.resolve(QualifiedNameProvider))
        return cls(table=table)

    def all_of(self, node: cst.CSTNode) -> set[str]:
        """Every qualified name `node` may refer to (not canonicalised)."""
        if not isinstance(node, cst.Name | cst.Attribute):
            return set()
        if self._table is not None:
            name = self._table.qualified(node)
            return {name} if name else set()
        found = self._qnames.get(node, ())
        if callable(found):  # libcst resolves QualifiedNameProvider lazily
            found = found()
        return {q.name for q in found}

    def of(self, node: cst.CSTNode) -> str | None:
        for raw in sorted(self.all_of(node)):
            name = canonical(raw)
            if name.split(".")[0] == "keras":
                return name
        return None

    def layer_class(self, node: cst.CSTNode) -> str | None:
        """'Dense' for keras.layers.Dense (any alias), else None."""
        name = self.of(node)
        if name and name.startswith("keras.layers.") and name.count(".") == 2:
            return name.rsplit(".", 1)[1]
        return None


# keras.layers' functional forms: `layers.add([x, y], name=...)` is `layers.Add(name=...)([x, y])`
FUNCTIONAL_LAYERS = {
    "add": "Add", "subtract": "Subtract", "multiply": "Multiply", "average": "Average",
    "maximum": "Maximum", "minimum": "Minimum", "concatenate": "Concatenate", "dot": "Dot",
}


def layer_functions_as_classes(module: cst.Module, names: KerasNames, source: str, origin: dict) -> cst.Module:
    """The module with keras.layers' functional forms written as layer applications
    (`origin`: each rewritten statement's id -> the statement it was, for positions)."""
    if not re.search(r"\.(" + "|".join(FUNCTIONAL_LAYERS) + r")\(", source):
        return module

    class Rewrite(cst.CSTTransformer):
        def on_leave(self, original, updated):
            out = super().on_leave(original, updated)
            if isinstance(original, cst.BaseStatement) and out is not original and isinstance(out, cst.CSTNode):
                origin[id(out)] = original
            return out

        def leave_Call(self, original, updated):
            fn = names.layer_class(original.func)
            if fn not in FUNCTIONAL_LAYERS or not updated.args or updated.args[0].keyword is not None:
                return updated
            func = updated.func
            cls = func.with_changes(attr=cst.Name(FUNCTIONAL_LAYERS[fn])) if isinstance(func, cst.Attribute) else None
            if cls is None:
                return updated
            rest = list(updated.args[1:])
            if rest:
                rest[-1] = rest[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return cst.Call(cst.Call(cls, rest), [updated.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)])

    return module.visit(Rewrite())


__all__ = ["FUNCTIONAL_LAYERS", "KERAS_ROOTS", "KerasNames", "QualifiedNameProvider", "canonical", "layer_functions_as_classes"]
