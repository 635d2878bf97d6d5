"""Keras -> PyTorch, one file (static: the input is never imported or run).

Per file: parse with libcst, find the models (builder functions with Sequential or
functional code, module-level Sequential models, keras.Model/Layer subclasses), rewrite
each through `reader` + `writer`, keep everything else byte-for-byte, and tidy the
imports once. Whatever the rules cannot translate stays in place under a
`# portmodel: TODO <reason>` comment and is reported as a diagnostic.
"""

from __future__ import annotations

import ast
import re
import textwrap

import libcst as cst
from libcst.metadata import MetadataWrapper

from ..core.parsing import walk
from ..core.result import ModelInfo, TranslationResult
from ..core.rules import RuleSet
from ..core.static_eval import UNKNOWN, static_eval, symbolic
from .assemble import add_support_functions, assemble, is_keras_import
from .builders import FileContext, translate_builder, translate_script
from .helpers import rewrite_helpers
from .names import KERAS_ROOTS, layer_functions_as_classes
from .subclass import SubclassTranslator, is_keras_class
from .training import TrainingCode, TrainingRewriter
from .values import code, single


def translate_keras(module: cst.Module, source: str, path: str, input_shape, rules: RuleSet) -> TranslationResult:
    if not any(root in source for root in KERAS_ROOTS):  # fast path: no Keras here at all
        return TranslationResult(path, "unchanged", source)
    # the tree was just parsed and is not shared: no need for the wrapper's defensive copy
    fx = FileContext(path, MetadataWrapper(module, unsafe_skip_copy=True), rules, input_shape)
    # model-zoo helpers (functions from tensor to tensor) become Layer classes first
    fx.module = layer_functions_as_classes(fx.module, fx.names, source, fx.origin)
    fx.module, _, origin = rewrite_helpers(fx.module, fx.names, fx.rules, source)
    fx.origin.update(origin)

    pieces: list[str] = []
    models: list[ModelInfo] = []
    deferred: dict[int, cst.ClassDef] = {}
    functions: dict[int, cst.FunctionDef] = {}  # piece index -> a module-level function kept as written
    fx.components.scan(fx.module)
    training_code = TrainingCode(rules, fx.names)
    trainer = TrainingRewriter(fx, training_code, set())
    changed = False
    import_slot: int | None = None
    body = list(fx.module.body)
    i = 0
    while i < len(body):
        stmt = body[i]
        kind = _classify(fx, stmt)
        leading = "".join(code(line) for line in getattr(stmt, "leading_lines", ()))
        if kind == "keras_import":
            import_slot = len(pieces) if import_slot is None else import_slot
            pieces.append(code(stmt))  # pruned in assemble if nothing uses it any more
            changed = True
        elif kind == "builder":
            text, info = translate_builder(fx, stmt, leading)
            pieces.append(text)
            models += [info] if info else []
            changed = True
        elif kind == "class" and stmt.name.value in fx.components.used:
            deferred[len(pieces)] = stmt  # translated per instance, filled in below
            pieces.append("")
            changed = True
        elif kind == "class":
            text, info = SubclassTranslator(fx, stmt).translate()
            pieces.append(text)
            models += [info] if info else []
            changed = True
        elif kind == "script":
            j = i + 1
            var = single(stmt).targets[0].target.value
            while j < len(body) and _is_add(body[j], var):
                j += 1
            text, info = translate_script(fx, stmt, body[i + 1 : j], var, leading)
            pieces.append(text)
            models += [info] if info else []
            changed = True
            i = j
            continue
        else:
            _collect_constants(fx, stmt)
            if isinstance(stmt, cst.FunctionDef):
                functions[len(pieces)] = stmt
            pieces.append(_training_code(trainer, stmt, models))
        i += 1
    helpers = training_code.helpers()
    if helpers:  # the training loop and loss functions, before the `if __name__` block that runs them
        main = next((k for k, p in enumerate(pieces) if p.lstrip().startswith("if __name__")), len(pieces))
        pieces.insert(main, "\n\n" + helpers + "\n")
        changed = True

    for index, cls in deferred.items():
        text = fx.components.texts.get(cls.name.value)
        if text is None:  # never reached through a model: translate it on its own
            text, info = SubclassTranslator(fx, cls).translate()
        pieces[index] = text
    _drop_consumed_functions(fx, pieces, functions)
    add_support_functions(pieces, source)
    fx.diagnostics = list(dict.fromkeys(fx.diagnostics))  # a component used twice reports once
    if not changed:
        return TranslationResult(path, "unchanged", source, fx.diagnostics, models)
    header = code(fx.module.with_changes(body=[])).rstrip("\n")
    out = assemble(header, pieces, import_slot)
    status = "converted"
    return TranslationResult(path, status, out, fx.diagnostics, models)


def _drop_consumed_functions(fx: FileContext, pieces: list[str], functions: dict[int, cst.FunctionDef]) -> None:
    """Functions on Keras tensors that the translation evaluated (`correct_pad(x, 3)`: the
    port writes out the padding it computed) and nothing in the port calls any more are
    removed, with a note: they need Keras and would only mislead in a torch file."""
    for index, fn in functions.items():
        name = fn.name.value
        if name not in fx.evaluated or not any(fx.names.of(n) for n in _attributes(fn)):
            continue
        if any(_reads_name(p, name) for k, p in enumerate(pieces) if k != index):
            continue
        fx.diag(fn, f"{name}() computed sizes for the translation (written out in the port) and needs "
                    "Keras; removed", "PM002", "note")
        pieces[index] = ""


def _reads_name(text: str, name: str) -> bool:
    """`text` (a piece of the output) uses `name` as code, not just in a docstring."""

    if not re.search(rf"\b{re.escape(name)}\b", text):
        return False
    try:
        tree = ast.parse(textwrap.dedent(text))
    except SyntaxError:
        return True
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(tree))


def _attributes(node):
    return (n for n in walk(node) if isinstance(n, cst.Attribute))


def _training_code(trainer, stmt, models: list[ModelInfo]) -> str:
    """A statement outside the models, with compile/fit/evaluate/predict on variables bound
    to this file's models translated (`training.py`)."""
    trainer.models = {name for m in models for name in (m.source, m.target)}
    return cst.Module(body=[stmt]).visit(trainer).code


def _classify(fx: FileContext, stmt) -> str:
    if isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, cst.Import | cst.ImportFrom) for s in stmt.body
    ):
        return "keras_import" if any(is_keras_import(s) for s in stmt.body) else "other"
    if isinstance(stmt, cst.FunctionDef) and _builds_model(fx, stmt):
        return "builder"
    if isinstance(stmt, cst.ClassDef) and is_keras_class(fx, stmt):
        return "class"
    small = single(stmt)
    if (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and isinstance(small.value, cst.Call)
        and fx.names.of(small.value.func) == "keras.Sequential"
    ):
        return "script"
    return "other"


def _builds_model(fx: FileContext, fn: cst.FunctionDef) -> bool:
    """Does the function itself (not nested defs) call keras.Sequential/Model/Input?"""
    stack = list(fn.body.children)
    while stack:
        node = stack.pop()
        if isinstance(node, cst.FunctionDef | cst.ClassDef):
            continue
        if isinstance(node, cst.Call) and fx.names.of(node.func) in ("keras.Sequential", "keras.Model", "keras.Input"):
            return True
        stack.extend(node.children)
    return False


def _is_add(stmt, var: str) -> bool:
    small = single(stmt)
    return (
        isinstance(small, cst.Expr)
        and isinstance(small.value, cst.Call)
        and isinstance(small.value.func, cst.Attribute)
        and code(small.value.func) == f"{var}.add"
    )


def _collect_constants(fx: FileContext, stmt) -> None:
    """Module-level NAME = constant: usable for shape inference, kept by name."""
    small = single(stmt)
    if isinstance(small, cst.Assign):
        for t in small.targets:
            if isinstance(t.target, cst.Name):
                value = symbolic(static_eval(small.value, fx.env), t.target.value)
                fx.keep.add(t.target.value)
                if value is not UNKNOWN:
                    fx.env[t.target.value] = value
    elif isinstance(stmt, cst.FunctionDef | cst.ClassDef):
        fx.keep.add(stmt.name.value)

