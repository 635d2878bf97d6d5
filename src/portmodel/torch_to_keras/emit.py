"""Write a translated file: classes, functions, module-level code, imports, notes.

Every top-level class and function is translated (their `Run`s were summarised first, so
the order of definitions does not matter); module classes become Keras `Layer`s, or
`Model`s where a function of the file returns them (factories) or nothing else in the file
builds them. Imports: torch's that nothing reads any more are removed, Keras' added, and a
relative import of a module outside the translated set points at the original package.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from ..core.imports import dotted, sort_block
from ..core.parsing import walk
from ..core.rules import REQUIRED
from .context import ClassInfo, Translator
from .interpret import Run, Todo, code_of
from .kinds import Local as LocalKind
from .nn_layers import WRITERS, Args, NotWritable
from .source import SourceFile
from .support import support_code
from .translator import _DROPPED_DECORATORS, _TORCH_HOOK_METHODS, FileTranslation, _qualified
from .values import Module


@dataclass
class FileResult:
    code: str
    todos: list = field(default_factory=list)  # (node, reason)
    notes: list = field(default_factory=list)  # (node, message)
    models: list = field(default_factory=list)  # (name, kind: "class" | "factory")
    changed: bool = True
    translated: int = 0  # torch layers, ops and classes written in Keras


def translate_file(tr: Translator, src: SourceFile, translated: set[str] | None = None) -> FileResult:
    files = getattr(tr, "files", None) or {}
    ft = files.get(src.path) or FileTranslation(tr, src, translated)
    ft.translated_modules = translated
    ft.tr_files()
    module_classes = []
    for name in src.classes:
        info = tr.class_info(_qual(src, name))
        if info is not None and info.role != "plain":
            module_classes.append(info)
    if not module_classes and not _mentions_torch(src):
        return FileResult(src.text, changed=False)
    for info in module_classes:
        _run_class(ft, info)
    for name, fn in src.functions.items():
        _guard(ft, fn, lambda fn=fn, name=name: ft.outcome(_qual(src, name), fn, None))
    models = _model_classes(ft, module_classes)
    body = []
    for stmt in src.tree.body:
        body += _top_statement(ft, stmt, models)
    new = src.tree.with_changes(body=body)
    new = _imports(ft, new)
    code = new.code
    result = FileResult(code, list(ft.todos), list(ft.notes), translated=ft.count + len(module_classes))
    for key, out in tr.summaries.items():
        if out.node is not None and _belongs(key, src):
            result.todos += out.todos
            result.notes += out.notes
    result.models = [(info.node.name.value, "class") for info in module_classes if info.qual in models]
    for name in src.functions:
        out = tr.summaries.get(_qual(src, name))
        if out is not None and isinstance(out.summary.returns, Module) and isinstance(out.summary.returns.kind, LocalKind):
            result.models.append((name, "factory"))
    return result


def _qual(src: SourceFile, name: str) -> str:
    return f"{src.dotted or _stem(src)}.{name}"


def _stem(src: SourceFile) -> str:
    from pathlib import Path

    return Path(src.path).stem


def _belongs(key: str, src: SourceFile) -> bool:
    prefix = (src.dotted or _stem(src)) + "."
    rest = key[len(prefix):] if key.startswith(prefix) else None
    return rest is not None and (rest.split(".")[0] in src.classes or rest in src.functions)


def _mentions_torch(src: SourceFile) -> bool:
    return any(q.split(".")[0] == "torch" for q in src.names.values())


def _guard(ft: FileTranslation, node, work) -> None:
    try:
        work()
    except Todo as exc:
        ft.todos.append((node, str(exc)))


def _run_class(ft: FileTranslation, info: ClassInfo) -> None:
    _guard(ft, info.node, lambda: ft.ready(info))
    for name, fn in info.methods.items():
        if name == "__init__" or name in _TORCH_HOOK_METHODS:
            continue
        _guard(ft, fn, lambda fn=fn, name=name: ft.outcome(f"{info.qual}.{name}", fn, info))


def _model_classes(ft: FileTranslation, classes: list[ClassInfo]) -> set[str]:
    returned = set()
    for name in ft.src.functions:
        out = ft.tr.summaries.get(_qual(ft.src, name))
        if out is not None and isinstance(out.summary.returns, Module) and isinstance(out.summary.returns.kind, LocalKind):
            returned.add(out.summary.returns.kind.cls)
    if returned:
        return returned
    names = {info.node.name.value: info.qual for info in classes}
    used = set()
    for info in classes:
        for node in walk(info.node):
            if isinstance(node, cst.Name) and node.value in names and node.value != info.node.name.value:
                used.add(names[node.value])
    return {info.qual for info in classes if info.qual not in used}


def _top_statement(ft: FileTranslation, stmt, models: set[str]) -> list:
    try:
        return _top_statement_or_todo(ft, stmt, models)
    except Todo as exc:  # kept as written, with the reason
        ft.todos.append((stmt, str(exc)))
        return [stmt]


def _top_statement_or_todo(ft: FileTranslation, stmt, models: set[str]) -> list:
    if isinstance(stmt, cst.ClassDef):
        info = ft.tr.class_info(_qual(ft.src, stmt.name.value))
        if info is not None and info.role != "plain":
            return [_class_def(ft, info, models)]
        return [_plain_class(ft, stmt)]
    if isinstance(stmt, cst.FunctionDef):
        out = ft.tr.summaries.get(_qual(ft.src, stmt.name.value))
        node = out.node if out is not None and out.node is not None else stmt
        return [_decorators(ft, node)]
    return _module_level(ft, stmt)


def _module_level(ft: FileTranslation, stmt) -> list:
    if _is_import(stmt):
        return [stmt]
    run = Run(ft, _EMPTY_FN, None, {}, emit=True)
    out = run.statement(stmt)
    ft.todos += run.todos
    ft.notes += run.notes
    return out


_EMPTY_FN = cst.parse_statement("def _module():\n    pass\n")


def _is_import(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, cst.Import | cst.ImportFrom) for s in stmt.body)


def _plain_class(ft: FileTranslation, node: cst.ClassDef) -> cst.ClassDef:
    """A class that is not a module (a config dataclass, a weights enum): its code as written,
    torch names in it translated (a layer class given as a default becomes its builder)."""
    run = Run(ft, _EMPTY_FN, None, {}, emit=True)
    run.in_plain_class = True
    body = run.block(node.body.body)
    ft.todos += run.todos
    ft.notes += run.notes
    return node.with_changes(body=node.body.with_changes(body=body))


def _class_def(ft: FileTranslation, info: ClassInfo, models: set[str]) -> cst.ClassDef:
    node = info.node
    bases = []
    init = None
    for arg in node.bases:
        q = _qualified(arg.value, ft.src)
        if q is not None and q.split(".")[0] == "torch":
            keras = {"sequential": "keras.Sequential", "dict": "LayerDict"}.get(info.role)
            if info.role == "dict":
                ft.support.add("LayerDict")
            if info.torch_base is not None and arg is node.bases[0]:
                keras, init = _torch_base(ft, info)
            if keras is None:
                keras = "keras.Model" if info.qual in models else "keras.layers.Layer"
            bases.append(arg.with_changes(value=cst.parse_expression(keras)))
        else:
            bases.append(arg)
    body = []
    if info.torch_base is not None and "__init__" not in info.methods and init is not None:
        body.append(init)
    for stmt in node.body.body:
        if isinstance(stmt, cst.FunctionDef):
            fn = _method(ft, info, stmt)
            if fn is not None:
                body.append(fn)
            continue
        run = Run(ft, _EMPTY_FN, None, {}, emit=True)
        body += run.statement(stmt)
        ft.todos += run.todos
        ft.notes += run.notes
    return node.with_changes(bases=bases, body=node.body.with_changes(body=body))


# torch's own normalisation of a constructor argument it keeps as an attribute
_TORCH_ATTRIBUTES = {
    "normalized_shape": "(normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)",
}


def _torch_base(ft: FileTranslation, info: ClassInfo):
    """`class LayerNorm2d(nn.LayerNorm)`: the Keras layer the torch one becomes is the base, and
    an `__init__` with torch's signature passes it the Keras arguments and keeps torch's
    attributes for the class's own code (`self.eps`, `self.normalized_shape`)."""
    cls = info.torch_base
    rule = ft.tr.rules.torch_layer(cls)
    signature = [(n, d) for n, d in rule.from_torch.signatures[cls] if n not in ("device", "dtype")]
    given = {n: n for n, _ in signature}
    try:
        written = WRITERS[rule.from_torch.write](Args(cls, given, {n: d for n, d in signature if d is not REQUIRED},
                                                       ft.k.layers))
    except NotWritable as exc:
        raise Todo(f"a subclass of nn.{cls}: {exc}") from None
    call = cst.parse_expression(written.code)
    if not isinstance(call, cst.Call):
        raise Todo(f"a subclass of nn.{cls}: its Keras form is not one layer")
    params = ", ".join(n if d is REQUIRED else f"{n}={d!r}" for n, d in signature)
    weights = {t for w in rule.weights for t in w.to}
    args = ", ".join([code_of(a.with_changes(comma=cst.MaybeSentinel.DEFAULT)) for a in call.args] + ["**kwargs"])
    lines = [f"def __init__(self, {params}, **kwargs):", f"    super().__init__({args})"]
    for n, _ in signature:
        if n not in weights:
            lines.append(f"    self.{n} = {_TORCH_ATTRIBUTES.get(n, n)}")
    try:
        init = cst.parse_statement("\n".join(lines) + "\n")
    except cst.ParserSyntaxError:
        raise Todo(f"a subclass of nn.{cls}: its constructor could not be written") from None
    return code_of(call.func), init


def _method(ft: FileTranslation, info: ClassInfo, stmt: cst.FunctionDef) -> cst.FunctionDef | None:
    name = stmt.name.value
    for d in stmt.decorators:
        if _qualified(d.decorator, ft.src) in ("torch.jit._overload_method", "typing.overload"):
            ft.notes.append((stmt, f"{info.node.name.value}.{name}: a TorchScript overload stub, removed"))
            return None
    if name in _TORCH_HOOK_METHODS:
        ft.notes.append((stmt, f"{info.node.name.value}.{name}: a torch.nn.Module hook with no Keras counterpart, removed"))
        return None
    if info.methods.get(name) is not stmt:
        return None
    out = ft.tr.summaries.get(f"{info.qual}.{name}")
    fn = out.node if out is not None and out.node is not None else stmt
    if out is not None and out.summary.training:
        fn = _with_training(fn)
    if name == "__init__" and stmt.params.star_kwarg is None:
        fn = fn.with_changes(params=fn.params.with_changes(star_kwarg=cst.Param(cst.Name("kwargs"), star="**")))
    if name == "forward":
        fn = fn.with_changes(name=cst.Name("call"))
    return _decorators(ft, fn)


def _with_training(fn: cst.FunctionDef) -> cst.FunctionDef:
    params = fn.params
    names = {p.name.value for p in [*params.params, *params.kwonly_params]}
    if "training" in names:
        return fn
    param = cst.Param(cst.Name("training"), default=cst.Name("None"),
                      equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
    if params.star_arg is not cst.MaybeSentinel.DEFAULT and isinstance(params.star_arg, cst.Param) \
            or params.kwonly_params:
        return fn.with_changes(params=params.with_changes(kwonly_params=[*params.kwonly_params, param]))
    last = params.params[-1] if params.params else None
    new_params = list(params.params)
    if last is not None and last.comma is cst.MaybeSentinel.DEFAULT:
        new_params[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return fn.with_changes(params=params.with_changes(params=[*new_params, param]))


def _decorators(ft: FileTranslation, fn: cst.FunctionDef) -> cst.FunctionDef:
    kept = []
    for d in fn.decorators:
        q = _qualified(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator, ft.src)
        if q in _DROPPED_DECORATORS:
            ft.notes.append((fn, f"@{q} removed (TorchScript only)"))
            continue
        kept.append(d)
    return fn.with_changes(decorators=kept) if len(kept) != len(fn.decorators) else fn


# -- imports ---------------------------------------------------------------------------------


def _imports(ft: FileTranslation, module: cst.Module) -> cst.Module:
    used = _names_read(module)
    ft.original_names = _names_read(ft.src.tree)
    body = []
    first_import = None
    for i, stmt in enumerate(module.body):
        if not _is_import(stmt):
            body.append(stmt)
            continue
        kept = []
        for small in stmt.body:
            new = _import(ft, small, used)
            if new is not None:
                kept.append(new)
        if kept:
            kept[-1] = kept[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
            body.append(stmt.with_changes(body=kept))
            if first_import is None:
                first_import = len(body) - 1
        elif first_import is None and stmt.leading_lines:
            first_import = len(body)
    wanted = []
    if "keras" in used or from_keras_needed(ft, used):
        wanted.append("import keras")
    short = [n for n, q in (("layers", ft.k.layers), ("ops", ft.k.ops)) if q == n]
    from_keras = [n for n in short if n in used]  # KerasNames chose the short name: nothing else binds it
    if from_keras:
        wanted.append(f"from keras import {', '.join(from_keras)}")
    wanted += sorted(i for i in ft.imports if i not in module.code)
    support = support_code(ft.support)
    adapters = "".join(ft.adapter_code(cls) for cls in sorted(ft.adapters))
    tail = support + adapters
    insert_at = _last_import(body) + 1 if _last_import(body) >= 0 else _after_docstring(body)
    new_stmts = [cst.parse_statement(w + "\n") for w in wanted]
    extra = list(cst.parse_module(tail).body) if tail.strip() else []
    if extra:
        extra[0] = extra[0].with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
    head = _sorted_imports(body[:insert_at] + new_stmts)
    return module.with_changes(body=head + extra + body[insert_at:])


def _sorted_imports(stmts: list) -> list:
    """The import run at the top, isort-style (`portmodel.core.imports.sort_block`), where every
    statement is a plain import; left as it is otherwise."""
    start = 0
    while start < len(stmts) and not _is_import(stmts[start]):
        start += 1
    run = stmts[start:]
    if not run or not all(_is_import(s) for s in run):
        return stmts
    lines = [code_of(s.with_changes(leading_lines=[])).rstrip("\n") for s in run]
    ordered = sort_block(lines)
    if ordered is None:
        return stmts
    block = list(cst.parse_module("\n".join(ordered) + "\n").body)
    if block and run[0].leading_lines:
        block[0] = block[0].with_changes(leading_lines=run[0].leading_lines)
    return stmts[:start] + block


def from_keras_needed(ft: FileTranslation, used: set[str]) -> bool:
    return any(n in used for n, q in (("layers", ft.k.layers), ("ops", ft.k.ops)) if q == n)


def _last_import(body) -> int:
    last = -1
    for i, stmt in enumerate(body):
        if _is_import(stmt):
            last = i
        elif isinstance(stmt, cst.SimpleStatementLine) and i == 0:
            continue
        elif last >= 0:
            break
    return last


def _after_docstring(body) -> int:
    if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
            and isinstance(body[0].body[0].value, cst.SimpleString | cst.ConcatenatedString):
        return 1
    return 0


def _names_read(module: cst.Module) -> set[str]:
    """Names the module reads outside its top-level imports (string annotations included)."""
    import ast

    tree = ast.parse(module.code)
    out = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name):
                out.add(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value:
                try:  # "OrderedDict[str, torch.Tensor]"
                    out |= {n.id for n in ast.walk(ast.parse(node.value, mode="eval")) if isinstance(n, ast.Name)}
                except SyntaxError:
                    pass
    return out


def _defined_in_translated(ft: FileTranslation, target: str, names) -> tuple[int, str] | None:
    """Where the names a package's `__init__` re-exports are defined, when that module is
    translated too: (dots, module) of a relative import of it."""
    homes = set()
    for a in names:
        found = ft.tr.package.definition(f"{target}.{dotted(a.name)}")
        if found is None or found[0].dotted is None:
            return None
        homes.add(found[0].dotted)
    if len(homes) != 1:
        return None
    home = homes.pop()
    if not any(home == m or home.startswith(m + ".") for m in ft.translated_modules):
        return None
    here = (ft.src.package or "").split(".")
    parts = home.split(".")
    common = 0
    while common < min(len(here), len(parts)) and here[common] == parts[common]:
        common += 1
    return len(here) - common + 1, ".".join(parts[common:])


def _dropped(ft: FileTranslation, local: str, used: set[str]) -> bool:
    """An imported name the translation no longer reads (torch's, or one only torch code read)."""
    return local not in used and local in ft.original_names


def _import(ft: FileTranslation, small, used: set[str]):
    if isinstance(small, cst.Import):
        names = []
        for a in small.names:
            full = dotted(a.name)
            local = a.asname.name.value if a.asname else full.split(".")[0]
            if (full.split(".")[0] == "torch" and local not in used) or _dropped(ft, local, used):
                continue
            names.append(a)
        if not names:
            return None
        names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return small.with_changes(names=names)
    if isinstance(small, cst.ImportFrom):
        if isinstance(small.names, cst.ImportStar):
            return small
        base = dotted(small.module) if small.module is not None else ""
        absolute = ft.src.relative.get("." * len(small.relative) + base) if small.relative else base
        names = []
        for a in small.names:
            local = a.asname.name.value if a.asname else dotted(a.name)
            if ((absolute or "").split(".")[0] == "torch" and local not in used) or _dropped(ft, local, used):
                continue
            names.append(a)
        if not names:
            return None
        names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        small = small.with_changes(names=names)
        top = (ft.src.dotted or "").split(".")[0]
        if not small.relative and absolute and ft.translated_modules is not None and top \
                and absolute.split(".")[0] == top:  # `from torchvision.ops import X` inside torchvision
            moved = _defined_in_translated(ft, absolute, names)
            if moved is not None:
                return small.with_changes(relative=[cst.Dot()] * moved[0],
                                          module=cst.parse_expression(moved[1]) if moved[1] else None)
        if small.relative and absolute and ft.translated_modules is not None:
            target = absolute
            inside = any(target == m or target.startswith(m + ".") for m in ft.translated_modules)
            moved = _defined_in_translated(ft, target, names)
            if not inside and moved is not None:
                return small.with_changes(relative=[cst.Dot()] * moved[0], module=cst.parse_expression(moved[1])
                                          if moved[1] else None)
            if not inside:
                ft.notes.append((small, (f"`from {'.' * len(small.relative)}{base} import ...` kept: non-model "
                                         f"code of the original package, imported as {target}")))
                return small.with_changes(relative=[], module=cst.parse_expression(target))
        return small
    return small


__all__ = ["FileResult", "Todo", "translate_file"]
