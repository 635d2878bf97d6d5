"""Resolve what a name in Keras source refers to (through libcst's QualifiedNameProvider)."""

from __future__ import annotations

import dataclasses
import re

import libcst as cst
from libcst.metadata import QualifiedNameProvider

from ..core.imports import bindings

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
    """Qualified names from a file's import statements: cheap, and exact where an imported
    alias is rebound only inside functions, lambdas and comprehensions (Python's scoping says
    which reads the local binding hides: their Name nodes are `shadowed`). Where one is rebound
    at module or class level, what a read refers to depends on the order the code runs:
    `needs_scopes` is True and callers use libcst's scope-aware QualifiedNameProvider."""

    def __init__(self, module: cst.Module):
        self.aliases: dict[str, str] = {}
        module_scope = _Scope(None, "module")
        scopes = [module_scope]
        reads: list[tuple[cst.Name, _Scope]] = []
        stack: list[tuple[cst.CSTNode, _Scope]] = [(module, module_scope)]
        while stack:
            node, scope = stack.pop()
            if isinstance(node, cst.Name):
                reads.append((node, scope))
            elif isinstance(node, cst.Import) or (
                isinstance(node, cst.ImportFrom) and node.module is not None and not node.relative
            ):
                self.aliases.update(bindings(node))
            elif isinstance(node, _NEW_SCOPE):
                inner = _Scope(scope, "class" if isinstance(node, cst.ClassDef) else "function")
                scopes.append(inner)
                stack += _enter(node, scope, inner)
            else:
                if isinstance(node, cst.Global | cst.Nonlocal):
                    scope.declared.update(n.name.value for n in node.names)
                scope.bound.update(_binds(node))
                stack += [(child, scope) for child in _children(node)]
        self.bound: set[str] = set().union(*(sc.bound for sc in scopes))  # every name the file binds
        self.needs_scopes, self.shadowed = _resolve(scopes, reads, self.bound & set(self.aliases))

    def qualified(self, node: cst.CSTNode) -> str | None:
        parts = []
        while isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        if not isinstance(node, cst.Name) or node.value not in self.aliases or id(node) in self.shadowed:
            return None
        return ".".join([self.aliases[node.value], *reversed(parts)])


class _Scope:
    """A namespace: what it binds, what it declares global/nonlocal, the one it is inside."""

    __slots__ = ("bound", "declared", "kind", "parent")

    def __init__(self, parent: _Scope | None, kind: str):
        self.parent, self.kind = parent, kind  # kind: module | class | function
        self.bound: set[str] = set()
        self.declared: set[str] = set()


_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_NEW_SCOPE = (cst.FunctionDef, cst.Lambda, cst.ClassDef, *_COMPREHENSIONS)


def _enter(node, outer: _Scope, inner: _Scope) -> list[tuple[cst.CSTNode, _Scope]]:
    """The parts of a def, class, lambda or comprehension, each with the scope it runs in."""
    if isinstance(node, _COMPREHENSIONS):
        out, comp = [], node.for_in
        while comp is not None:
            inner.bound.update(_binds(comp))
            out += [(comp.target, inner), (comp.iter, outer if comp is node.for_in else inner)]
            out += [(c, inner) for c in comp.ifs]
            comp = comp.inner_for_in
        parts = [node.key, node.value] if isinstance(node, cst.DictComp) else [node.elt]
        return out + [(c, inner) for c in parts]
    if isinstance(node, cst.ClassDef):
        outer.bound.add(node.name.value)
        parts = [*node.decorators, *node.bases, *node.keywords]
        return [(c, outer) for c in parts] + [(node.body, inner)]
    if isinstance(node, cst.FunctionDef):
        outer.bound.add(node.name.value)
    params = node.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    every += [p for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)]
    inner.bound.update(p.name.value for p in every)
    outside = [part for p in every for part in (p.default, p.annotation) if part is not None]
    if isinstance(node, cst.FunctionDef):
        outside += [*node.decorators] + ([node.returns] if node.returns is not None else [])
    return [(c, outer) for c in outside] + [(node.body, inner)]


def _binds(node: cst.CSTNode) -> list[str]:
    """Names a statement or clause binds where it is (defs, classes, parameters and imports
    are read apart)."""
    if isinstance(node, cst.AssignTarget | cst.AugAssign | cst.AnnAssign | cst.For | cst.CompFor):
        return [n.value for n in _bound_names(node.target)]
    if isinstance(node, cst.WithItem) and node.asname is not None:
        return [n.value for n in _bound_names(node.asname.name)]
    if isinstance(node, cst.ExceptHandler | cst.ExceptStarHandler) and node.name is not None:
        return [n.value for n in _bound_names(node.name.name)]
    if isinstance(node, cst.NamedExpr):
        return [n.value for n in _bound_names(node.target)]
    return []


def _resolve(scopes: list[_Scope], reads, rebound: set[str]) -> tuple[bool, set[int]]:
    """(whether an alias is rebound at module or class level, or declared global and
    assigned in a function; the ids of reads that a local binding hides)."""
    if not rebound:
        return False, set()
    for s in scopes:
        if (s.kind != "function" and s.bound & rebound) or (s.bound & s.declared & rebound):
            return True, set()
    shadowed = set()
    for name, scope in reads:
        if name.value not in rebound:
            continue
        s = scope
        while s is not None and s.kind != "module":
            if s.kind == "function" and name.value in s.bound and name.value not in s.declared:
                shadowed.add(id(name))
                break
            s = s.parent
    return False, shadowed


def calls_in(node: cst.CSTNode):
    """Every Call node in `node`, in no particular order (a walk much cheaper than a visitor)."""
    stack: list[cst.CSTNode] = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            yield node
        stack += _children(node)


# fields of a node that never hold names (whitespace, brackets, commas): not walked
_SKIP_FIELDS = {
    "lpar", "rpar", "comma", "leading_lines", "lines_after_decorators", "header", "footer", "semicolon",
    "trailing_whitespace", "lbracket", "rbracket", "lbrace", "rbrace", "dot", "equal", "colon", "indent",
    "newline", "operator", "asynchronous", "default_indent", "default_newline", "encoding", "star",
}
_FIELDS: dict[type, tuple[str, ...]] = {}


def _children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """A node's children that may hold names, read from its fields (much cheaper than
    libcst's `children`, which rebuilds the node); in no particular order."""
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(
            f.name for f in dataclasses.fields(node) if f.name not in _SKIP_FIELDS and not f.name.startswith("whitespace")
        )
    out: list[cst.CSTNode] = []
    for name in names:
        value = getattr(node, name)
        if type(value) in (list, tuple):
            out += value
        elif isinstance(value, cst.CSTNode):
            out.append(value)
    return out


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
    if not any(names.layer_class(call.func) in FUNCTIONAL_LAYERS for call in calls_in(module)):
        return module  # `np.add(...)` and the like: nothing to rewrite (and no tree to rebuild)

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


__all__ = [
    "FUNCTIONAL_LAYERS", "KERAS_ROOTS", "KerasNames", "QualifiedNameProvider", "calls_in", "canonical",
    "layer_functions_as_classes",
]
