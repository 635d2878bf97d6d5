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

Helpers and builders of other modules of the same folder are followed (`resnet.ResNet`);
translated in one run, their imports become relative. Not yet: Keras Layer/Model
subclasses, Sequential builders, layer factories, keras.ops on tensors, Lambda layers: each
is a TODO where met, and the first engine stays the default until this one covers what it
does (docs/keras_to_torch.md).
"""

from __future__ import annotations

import ast

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from ...core.errors import Diagnostic
from ...core.result import ModelInfo, TranslationResult
from ...core.rules import RuleSet
from ..assemble import add_support_functions, assemble, is_keras_import
from ..names import ImportTable
from ..subclass import KERAS_BASES, TODO
from ..values import code
from .body import PLUMBING, ClassWriter, closure, plumbed, pure_call
from .functions import FileFunctions, Function, own_nodes
from .layer_class import is_layer_class, write_layer_class


def translate_code(module: cst.Module, source: str, path: str, rules: RuleSet,
                   translated: set[str] | None = None, sizes: bool = False, ranks: dict | None = None,
                   passes: int = 1) -> TranslationResult:
    """One file; `translated`: the dotted modules of the same run (a tree), whose models the
    file may use: imports of them become relative, so the port uses their ports. `sizes`:
    bookkeep spatial sizes in `__init__` (a file whose code reads one there is translated
    again with them). `ranks`: the ranks of helpers' tensor arguments, as their calls give
    them (FileFunctions.param_ranks; a file whose calls tell more is translated again)."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = _Positions(wrapper)
    module = wrapper.module
    files = FileFunctions(module, ImportTable(module), set(rules.layers), path)
    files.sizes = sizes
    files.param_ranks = ranks or {}
    pieces: list[str] = []
    diagnostics = []
    models: list[ModelInfo] = []
    import_slot = None
    layers = 0
    changed = False
    for stmt in module.body:  # Layer subclasses first: the functions applying them read their ports
        if is_layer_class(files, stmt):
            files.layer_ports[stmt.name.value] = write_layer_class(stmt, files, path, positions, rules)
    for stmt in module.body:
        leading = "".join(code(line) for line in getattr(stmt, "leading_lines", ()))
        if isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(s, cst.Import | cst.ImportFrom) and is_keras_import(s) for s in stmt.body
        ):
            rewritten = _package_import(files, stmt, translated or set())
            if rewritten is None:
                import_slot = len(pieces) if import_slot is None else import_slot
                pieces.append(code(stmt))
                continue
            text, moved = rewritten
            if moved:
                changed = True
            else:
                p = positions.get(stmt)
                reason = f"`{code(stmt.with_changes(leading_lines=())).strip()}`: models of that module stay Keras " \
                         "unless it is translated too (translate its folder, or name it)"
                diagnostics.append(Diagnostic(path, p.start.line if p else 1, 1, "PM001", reason))
                text = f"{TODO} {reason}\n{text}"
            pieces.append(text)
            continue
        port = files.layer_ports.get(stmt.name.value) if isinstance(stmt, cst.ClassDef) else None
        if port is not None:
            pieces.append(leading + port.text)
            diagnostics += port.diagnostics
            changed = True
            continue
        fn = files.top.get(stmt.name.value) if isinstance(stmt, cst.FunctionDef) else None
        if fn is None or not _has_models(fn):
            reason = _untranslated_model(files, stmt)
            if reason:  # never silently unchanged: a model the engine does not translate says so
                p = positions.get(stmt)
                diagnostics.append(Diagnostic(path, p.start.line if p else 1, 1, "PM001", reason))
                pieces.append(leading + f"{TODO} {reason}\n" + code(stmt.with_changes(leading_lines=())))
                changed = True
            elif isinstance(stmt, cst.FunctionDef) and stmt.decorators:  # kept as written, less Keras' registration
                decorators, notes = _decorated(files, stmt, path, positions)
                pieces.append(leading + decorators + code(stmt.with_changes(leading_lines=(), decorators=())))
                diagnostics += notes
            else:
                pieces.append(code(stmt))
            continue
        changed = True
        if fn.is_model:
            writer = ClassWriter(files, rules, fn, path, positions)
            decorators, notes = _decorated(files, stmt, path, positions)
            pieces.append(leading + decorators + plumbed(writer.write(), files))
            diagnostics += notes + writer.diagnostics
            layers += writer.translated
            if fn.builder:
                models.append(ModelInfo(fn.name, fn.name, "functional"))
        else:
            text, inner, notes = _factory(files, rules, fn, path, positions)
            pieces.append(plumbed(text, files))
            diagnostics += [d for w in inner for d in w.diagnostics] + notes
            layers += sum(w.translated for w in inner)
            if _returns_model(files, fn):
                models.append(ModelInfo(fn.name, fn.name, "functional"))
    learnt = _agreed_ranks(files.seen_ranks, files.param_ranks)
    if (learnt != files.param_ranks or files.wants_sizes and not sizes) and passes < _PASSES:
        return translate_code(module, source, path, rules, translated, sizes or files.wants_sizes, learnt, passes + 1)
    if not changed:
        return TranslationResult(path, "unchanged", source)
    add_support_functions(pieces, source)
    header = code(module.with_changes(body=[])).rstrip("\n")
    out = _prune_keras_imports(assemble(header, pieces, import_slot), source)
    return TranslationResult(path, "converted", out, diagnostics, models, translated=layers)


class _Positions:
    """The source positions of a file's nodes, resolved when a diagnostic first asks (a file
    with none, most of a package, never pays for them)."""

    def __init__(self, wrapper: MetadataWrapper):
        self.wrapper, self.map = wrapper, None

    def get(self, node, default=None):
        if self.map is None:
            self.map = self.wrapper.resolve(PositionProvider)
        return self.map.get(node, default)


_PASSES = 4  # a helper's rank learnt from its caller may tell the rank of a helper it calls, and so on


def _agreed_ranks(seen: dict, given: dict) -> dict:
    """`given`, and the ranks the calls agree on for a helper's tensor argument where that is
    not an image's (4, what the writers take where they do not know)."""
    out = {node: dict(params) for node, params in given.items()}
    for node, params in seen.items():
        for param, ranks in params.items():
            if len(ranks) == 1 and next(iter(ranks)) not in (None, 4):
                out.setdefault(node, {})[param] = next(iter(ranks))
    return out


def _prune_keras_imports(text: str, source: str) -> str:
    """Keras names the port no longer reads (`layers`: the port's `self.layers` is no use of it),
    and other imports the source read and the port no longer does (`warnings`, for a branch the
    port fixes); an import the source never read (for its side effects) stays."""
    tree = ast.parse(text)
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    was_read = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    lines = text.splitlines(keepends=True)
    ends = [0] + [stmt.end_lineno for stmt in tree.body]
    for i in reversed(range(len(tree.body))):  # each import statement alone, from the end (libcst
        stmt = tree.body[i]                      # parses a few lines, not the whole port)
        if not isinstance(stmt, ast.Import | ast.ImportFrom) or any(a.name == "*" for a in stmt.names) \
                or i + 1 < len(tree.body) and tree.body[i + 1].lineno == stmt.end_lineno:
            continue
        start = ends[i] + 1 if i else stmt.lineno  # its comments and blank lines go with it, as in libcst
        while start < stmt.lineno and lines[start - 1].strip() and not lines[start - 1].lstrip().startswith("#"):
            start += 1
        node = cst.parse_module("".join(lines[start - 1:stmt.end_lineno])).body[-1]
        small = node.body[0] if isinstance(node, cst.SimpleStatementLine) and len(node.body) == 1 else None
        if not (isinstance(small, cst.ImportFrom | cst.Import) and (
                is_keras_import(small) or all(_bound(a) in was_read for a in small.names))):
            continue
        kept = [a for a in small.names if _bound(a) in read]
        if len(kept) == len(small.names):
            continue
        if kept:
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            replacement = cst.Module([node.with_changes(body=[small.with_changes(names=kept)])]).code
            lines[start - 1:stmt.end_lineno] = [replacement]
        else:
            del lines[start - 1:stmt.end_lineno]
    return "".join(lines)


def _bound(alias: cst.ImportAlias) -> str:
    """The name an import binds (`import a.b` binds `a`)."""
    return code(alias.asname.name) if alias.asname else code(alias.name).split(".")[0]


def _package_import(files: FileFunctions, stmt, translated: set[str]) -> tuple[str, bool] | None:
    """`from keras.src.applications import resnet` where that module holds models this file
    uses: (the import relative to this file, True) when the module is translated in the same
    run, (the import as written, False) when it is not; None for any other import."""
    node = stmt.body[0] if len(stmt.body) == 1 else None
    if not isinstance(node, cst.ImportFrom) or node.relative or node.module is None or not files.dotted \
            or isinstance(node.names, cst.ImportStar):
        return None
    base = code(node.module)
    homes = set()
    for alias in node.names:
        name = code(alias.name)
        module = f"{base}.{name}" if f"{base}.{name}" in files.others else base
        other = files.others.get(module)
        if other is None or other is files or not any(f.is_model for f in other.all):
            return None
        homes.add(module)
    if not homes <= translated:
        return code(stmt), False
    here = files.dotted.split(".")[:-1]
    parts = base.split(".")
    common = 0
    while common < min(len(here), len(parts)) and here[common] == parts[common]:
        common += 1
    dots = "." * (len(here) - common + 1)
    moved = node.with_changes(relative=[cst.Dot()] * len(dots), module=(
        cst.parse_expression(".".join(parts[common:])) if parts[common:] else None))
    return code(stmt.with_changes(body=[moved])), True


def _untranslated_model(files: FileFunctions, stmt) -> str | None:
    """Why a class or function that makes Keras models is left as written, if it is one."""
    if isinstance(stmt, cst.ClassDef):
        bases = [files.keras(b.value) or "" for b in stmt.bases]
        if any(b in KERAS_BASES or b.startswith("keras.") and b.rsplit(".", 1)[1] in ("Layer", "Model") for b in bases):
            return f"class {stmt.name.value}: a Keras Model subclass, not translated by the code engine yet"
    elif isinstance(stmt, cst.FunctionDef):
        fn = files.top.get(stmt.name.value)
        nodes = fn.nodes if fn is not None and fn.node is stmt else list(own_nodes(stmt.body))  # walked once
        calls = [files.keras(n.func) for n in nodes if isinstance(n, cst.Call)]
        made = next((c for c in calls if c in ("keras.Model", "keras.Sequential")), None)
        if made:
            return f"{stmt.name.value}() makes a {made} the code engine does not follow yet"
        trained = _training_call(files, nodes)
        if trained:
            return (f"{stmt.name.value}() calls `{trained}` on a model of this file: Keras training code, "
                    "not translated by the code engine (`--engine first` translates compile/fit)")
    return None


TRAINING = frozenset({"compile", "fit", "evaluate", "predict", "train_on_batch", "test_on_batch",
                      "predict_on_batch", "save", "save_weights", "load_weights"})


def _training_call(files: FileFunctions, nodes: list) -> str | None:
    """`model.fit` (and the like) where `model = build_mlp()`, a model function of the file;
    `nodes`: the calling function's own nodes."""
    models = {t.target.value for n in nodes if isinstance(n, cst.Assign) and isinstance(n.value, cst.Call)
              and isinstance(n.value.func, cst.Name) and (f := files.top.get(n.value.func.value)) is not None
              and (f.is_model or _returns_model(files, f)) for t in n.targets if isinstance(t.target, cst.Name)}
    for n in nodes:
        if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and isinstance(n.func.value, cst.Name) \
                and n.func.value.value in models and n.func.attr.value in TRAINING:
            return f"{n.func.value.value}.{n.func.attr.value}"
    return None


def _without_dead_values(files: FileFunctions, node: cst.FunctionDef) -> cst.FunctionDef:
    """A factory less its top-level values nothing reads any more (`bn_axis`, which its layer
    now knows as a constant), where computing them has no effect."""
    tree = ast.parse(code(node.with_changes(leading_lines=(), decorators=())).strip())
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    body = []
    for stmt in node.body.body:
        small = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 else None
        if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name) \
                and small.targets[0].target.value not in read \
                and not any(isinstance(n, cst.Call) and not pure_call(n) and files.keras(n.func) not in PLUMBING
                            for n in [small.value, *own_nodes(small.value)]):
            continue
        body.append(stmt)
    return node.with_changes(body=node.body.with_changes(body=body))


def _has_models(fn: Function) -> bool:
    return fn.is_model or any(_has_models(inner) for inner in fn.nested.values())


def _returns_model(files: FileFunctions, fn: Function) -> bool:
    """A factory: it returns what a builder of this file makes (`return ResNet(...)`)."""
    for node in fn.nodes:
        if isinstance(node, cst.Return) and isinstance(node.value, cst.Call):
            target = files.callee(fn, node.value)
            if target is not None and target.builder:
                return True
    return False


def _decorated(files: FileFunctions, stmt: cst.FunctionDef, path: str, positions) -> tuple[str, list[Diagnostic]]:
    """The function's decorators as the port keeps them, and a note for each that goes:
    those registering it with Keras (`@keras_export`; a port registered under Keras' names
    would stand in for the Keras function)."""
    kept, notes = [], []
    for dec in stmt.decorators:
        target = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
        name = files.keras(target)
        if name is not None and name.startswith("keras."):
            p = positions.get(dec) or positions.get(stmt)
            notes.append(Diagnostic(path, p.start.line if p else 1, p.start.column + 1 if p else 1, "PM002",
                                    f"@{code(target)} registers the function in Keras' API: removed from the port",
                                    "note"))
            continue
        kept.append("@" + code(dec.decorator) + "\n")
    return "".join(kept), notes


def _factory(files: FileFunctions, rules: RuleSet, fn: Function, path: str,
             positions) -> tuple[str, list[ClassWriter], list[Diagnostic]]:
    """A function that is no model itself: its nested model functions become classes (their
    writers, and the notes on its decorators, come back with its text)."""
    writers: list[ClassWriter] = []
    replacements = {}
    known = ClassWriter(files, rules, fn, path, positions).known_locals()
    for inner in fn.nested.values():
        if inner.is_model:
            writer = ClassWriter(files, rules, inner, path, positions, consts=closure(known, inner))
            replacements[inner.node] = cst.parse_statement(writer.write())
            writers.append(writer)
    node = fn.node
    for old, new in replacements.items():
        new = new.with_changes(leading_lines=old.leading_lines)
        node = node.deep_replace(old, new)
    node = _without_dead_values(files, node)
    leading = "".join(code(line) for line in fn.node.leading_lines)
    decorators, notes = _decorated(files, fn.node, path, positions)
    return leading + decorators + code(node.with_changes(leading_lines=(), decorators=())), writers, notes
