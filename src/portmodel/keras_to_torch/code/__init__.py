"""Keras -> PyTorch, code-directed (`--engine code`): the functions of a file as code.

The first Keras -> PyTorch translator follows the model the default arguments build. This
engine translates the code instead, as `portmodel.torch_to_keras` does the other way:
every builder (`def ResNet(stack_fn, preact, ..., include_top=True, pooling=None, ...)`) and
every tensor helper (`def residual_block_v1(x, filters, ...)`) becomes an `nn.Module`
class with the same parameters (a tensor parameter becomes its channel count), every
branch and loop kept (`functions.py` finds them, `body.py` writes them, `layers.py` writes
each layer for any value of its arguments). Factories (`def ResNet50(...)`: `return
ResNet(stack_fn, ...)`) stay functions, their nested helpers classes. Everything else in the
file is kept as written.

Not yet: Keras Layer/Model subclasses, Sequential builders, keras.ops on tensors, Lambda
layers, helpers from other modules of a package: each is a TODO where met, and the
first engine stays the default until this one covers what it does.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from ...core.result import ModelInfo, TranslationResult
from ...core.rules import RuleSet
from ..assemble import add_support_functions, assemble, is_keras_import
from ..names import ImportTable
from ..values import code
from .body import ClassWriter
from .functions import FileFunctions, Function, own_nodes


def translate_code(module: cst.Module, source: str, path: str, rules: RuleSet) -> TranslationResult:
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    module = wrapper.module
    files = FileFunctions(module, ImportTable(module), set(rules.layers))
    pieces: list[str] = []
    diagnostics = []
    models: list[ModelInfo] = []
    import_slot = None
    translated = 0
    changed = False
    for stmt in module.body:
        leading = "".join(code(line) for line in getattr(stmt, "leading_lines", ()))
        if isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(s, cst.Import | cst.ImportFrom) and is_keras_import(s) for s in stmt.body
        ):
            import_slot = len(pieces) if import_slot is None else import_slot
            pieces.append(code(stmt))
            continue
        fn = files.top.get(stmt.name.value) if isinstance(stmt, cst.FunctionDef) else None
        if fn is None or not _has_models(fn):
            pieces.append(code(stmt))
            continue
        changed = True
        if fn.is_model:
            writer = ClassWriter(files, rules, fn, path, positions)
            pieces.append(leading + _decorated(files, stmt, writer) + writer.write())
            diagnostics += writer.diagnostics
            translated += writer.translated
            if fn.builder:
                models.append(ModelInfo(fn.name, fn.name, "functional"))
        else:
            text, inner = _factory(files, rules, fn, path, positions)
            pieces.append(text)
            diagnostics += [d for w in inner for d in w.diagnostics]
            translated += sum(w.translated for w in inner)
            if _returns_model(files, fn):
                models.append(ModelInfo(fn.name, fn.name, "functional"))
    if not changed:
        return TranslationResult(path, "unchanged", source)
    add_support_functions(pieces, source)
    header = code(module.with_changes(body=[])).rstrip("\n")
    return TranslationResult(path, "converted", assemble(header, pieces, import_slot), diagnostics, models,
                             translated=translated)


def _has_models(fn: Function) -> bool:
    return fn.is_model or any(_has_models(inner) for inner in fn.nested.values())


def _returns_model(files: FileFunctions, fn: Function) -> bool:
    """A factory: it returns what a builder of this file makes (`return ResNet(...)`)."""
    for node in own_nodes(fn.node.body):
        if isinstance(node, cst.Return) and isinstance(node.value, cst.Call) and isinstance(node.value.func, cst.Name):
            target = files.top.get(node.value.func.value)
            if target is not None and target.builder:
                return True
    return False


def _decorated(files: FileFunctions, stmt: cst.FunctionDef, writer: ClassWriter) -> str:
    """Decorators that register the function with Keras (`@keras_export`) go, with a note."""
    kept = []
    for dec in stmt.decorators:
        target = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
        name = files.keras(target)
        if name is not None and name.startswith("keras."):
            writer.note(dec, f"@{code(target)} registers the function in Keras' API: removed from the port")
            continue
        kept.append("@" + code(dec.decorator) + "\n")
    return "".join(kept)


def _factory(files: FileFunctions, rules: RuleSet, fn: Function, path: str, positions) -> tuple[str, list[ClassWriter]]:
    """A function that is no model itself: its nested model functions become classes."""
    writers: list[ClassWriter] = []
    replacements = {}
    for inner in fn.nested.values():
        if inner.is_model:
            writer = ClassWriter(files, rules, inner, path, positions)
            replacements[inner.node] = cst.parse_statement(writer.write())
            writers.append(writer)
    node = fn.node
    for old, new in replacements.items():
        new = new.with_changes(leading_lines=old.leading_lines)
        node = node.deep_replace(old, new)
    leading = "".join(code(line) for line in fn.node.leading_lines)
    return leading + code(node.with_changes(leading_lines=())), writers
