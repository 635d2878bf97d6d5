"""Translate one Keras source file to PyTorch (static: the input is never imported or run).

Per file: parse with libcst, find the models (builder functions with Sequential or
functional code, module-level Sequential models, keras.Model/Layer subclasses), rewrite
each through `keras_reader` + `torch_writer`, keep everything else byte-for-byte, and tidy
the imports once. Whatever the rules cannot translate stays in place under a
`# portmodel: TODO <reason>` comment and is reported as a diagnostic.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .errors import Diagnostic, PortmodelError
from .hooks import Untranslatable
from .imports import sort_block
from .keras_names import KERAS_ROOTS, KerasNames
from .keras_reader import (
    Interpreter,
    KerasModelValue,
    LayerRef,
    ModelInfo,
    Scope,
    Tensor,
    canonical_order,
    code,
    input_info,
    names_in,
    param_text,
    single,
    to_boundary,
)
from .parsing import TOO_DEEP, parse_python, walk
from .rules import RuleSet, load_rules
from .static_eval import UNKNOWN, augmented, is_number, plain, static_eval, symbolic
from .torch_writer import class_name, import_block, module_class, statement_text

TODO = "# portmodel: TODO"


@dataclass
class TranslationResult:
    path: str
    status: str  # converted | failed | unchanged
    code: str | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    models: list[ModelInfo] = field(default_factory=list)
    translated: int | None = None  # layers and ops translated, where the engine counts them

    @property
    def todos(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "todo"]


class _FileContext:
    def __init__(self, path: str, wrapper: MetadataWrapper, rules: RuleSet, input_shape):
        self.path = path
        self.wrapper = wrapper
        self.module = wrapper.module
        self.names = KerasNames.for_module(wrapper)
        self._pos = None  # positions are resolved only when a diagnostic needs them
        self.rules = rules
        self.input_shape = input_shape
        self.diagnostics: list[Diagnostic] = []
        self.origin: dict[int, cst.CSTNode] = {}  # rewritten node -> the original (for positions)
        self.env: dict = {}
        self.keep: set[str] = set()
        self.functions = {s.name.value: s for s in self.module.body if isinstance(s, cst.FunctionDef)}
        self.evaluated: set[str] = set()  # functions of the file the translation evaluated statically
        from .keras_subclass import Components

        self.components = Components(self)

    @property
    def pos(self):
        if self._pos is None:
            self._pos = self.wrapper.resolve(PositionProvider)
        return self._pos

    def diag(self, node: cst.CSTNode, message: str, code_: str = "PM001", severity: str = "todo"):
        p = self.pos.get(node)
        for _ in range(3):  # rewritten twice at most (functional layers, then helpers)
            if p is not None or id(node) not in self.origin:
                break
            node = self.origin[id(node)]
            p = self.pos.get(node)
        line, col = (p.start.line, p.start.column + 1) if p else (1, 1)
        self.diagnostics.append(Diagnostic(self.path, line, col, code_, message, severity))

    def todo_text(self, stmt: cst.CSTNode, reason: str) -> str:
        self.diag(stmt, reason)
        return f"{TODO} {reason}\n{statement_text(stmt)}"

    def interpreter(self, env: dict, scope: Scope, keep: set[str]) -> Interpreter:
        it = Interpreter(self.names, self.rules, {**self.env, **env}, scope, self.keep | keep)
        it.custom = self.components
        it.functions, it.module_env, it.evaluated = self.functions, self.env, self.evaluated
        return it


def _docstring(body) -> tuple[str | None, list]:
    stmts = list(body)
    if stmts and isinstance(stmts[0], cst.SimpleStatementLine):
        first = stmts[0].body[0]
        if isinstance(first, cst.Expr) and isinstance(first.value, cst.SimpleString | cst.ConcatenatedString):
            return code(first.value), stmts[1:]
    return None, stmts


class BuilderTranslator:
    """A function (or module-level block) that builds a Sequential or functional model."""

    def __init__(self, fx: _FileContext, source_name: str, params: list[cst.Param]):
        self.fx = fx
        self.source_name = source_name
        self.params = params
        env = {}
        for p in params:
            value = static_eval(p.default, fx.env) if p.default else UNKNOWN
            env[p.name.value] = symbolic(value, p.name.value)
        self.scope = Scope()
        self.interp = fx.interpreter(env, self.scope, {p.name.value for p in params})
        # forward() reads the builder's arguments from attributes __init__ keeps them in
        self.interp.forward_names = ({p.name.value: f"self.{p.name.value}" for p in params}, {p.name.value for p in params})
        self.forward: list[str] = []
        self.prelude: list[str] = []  # statements __init__ runs before making the layers
        self.commented: set[int] = set()  # loop body statements whose comments are written
        self.post: list[str] = []
        self.inputs: list[str] = []
        self.outputs: list[Tensor] = []
        self.seq: list | None = None
        self.seq_input = None
        self.model_var: str | None = None
        self.model_name: str | None = None
        self.style = "functional"

    # -- statements ------------------------------------------------------------------------
    def run(self, stmts: list) -> None:
        for stmt in stmts:
            try:
                self.statement(stmt)
            except Untranslatable as exc:
                self.forward.append(self.fx.todo_text(stmt, str(exc)))

    def statement(self, stmt) -> None:
        if isinstance(stmt, cst.For):
            self.unrolled(stmt)
            return
        if isinstance(stmt, cst.If):
            self.branch(stmt)
            return
        small = single(stmt)
        if small is None:
            raise Untranslatable("control flow in a model builder is not translated yet")
        if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
            self.assign(stmt, small.targets[0].target.value, small.value)
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            self.expr(stmt, small.value)
        elif isinstance(small, cst.Return):
            self.ret(small.value)
        elif isinstance(small, cst.Pass):
            return
        elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):  # a counter: `b += 1`
            value = augmented(small.operator, self.interp.env.get(small.target.value, UNKNOWN),
                              self.interp.static(small.value))
            if value is UNKNOWN:
                raise Untranslatable(f"cannot follow the value of '{small.target.value}'")
            self.interp.env[small.target.value] = value
        else:
            raise Untranslatable("statement is not translated yet")

    def unrolled(self, stmt: cst.For) -> None:
        """A loop over constants (`for filters in (32, 64, 128): x = block(x, filters)`),
        written out once per value: each iteration's layers are attributes of their own.
        (A loop inside a helper function stays a loop over an nn.ModuleList.)"""
        if stmt.orelse is not None:
            raise Untranslatable("for ... else in a model builder is not translated yet")
        items = self.interp.static(stmt.iter)
        if isinstance(stmt.iter, cst.Call) and code(stmt.iter.func) in ("range", "enumerate"):
            args = [self.interp.static(a.value) for a in stmt.iter.args]
            if all(a is not UNKNOWN for a in args):
                items = list(range(*args)) if code(stmt.iter.func) == "range" else list(enumerate(args[0]))
        if not isinstance(items, list | tuple):
            raise Untranslatable(f"the loop's values ({code(stmt.iter)}) cannot be read statically")
        for item in items:
            self._bind(stmt.target, item)
            self.run([self._commented_once(s) for s in stmt.body.body])

    def _commented_once(self, stmt):
        """A loop body's statement with its comments the first time it is written out only."""
        if id(stmt) not in self.commented:
            self.commented.add(id(stmt))
            return stmt
        lines = getattr(stmt, "leading_lines", ())
        if all(line.comment is None for line in lines):
            return stmt
        quiet = stmt.with_changes(leading_lines=[line for line in lines if line.comment is None])
        self.fx.origin[id(quiet)] = stmt
        return quiet

    def branch(self, stmt: cst.If) -> None:
        """An `if` on constants. One that only computes sizes from the builder's arguments
        (`if alpha > 1.0: filters = f(alpha) else: filters = 128`) moves to __init__ as
        written, and those sizes are named by it; any other is read for the branch the
        arguments take (said in a note: other arguments need another translation)."""
        test = self.interp.static(stmt.test)
        if test is UNKNOWN:
            raise Untranslatable("an `if` in a model builder whose condition is not a constant")
        assigned = self._sizes_only(stmt)
        if assigned is not None:
            taken = self._taken(stmt)
            self.run(taken)
            for name in assigned:
                value = self.interp.env.get(name)
                self.interp.env[name] = symbolic(plain(value), name)
            self.prelude.append(statement_text(stmt))
            return
        self.fx.diag(stmt, f"`if {code(stmt.test)}` in the builder: translated for the branch the default "
                     "arguments take", "PM002", "note")
        self.run(self._taken(stmt))

    def _taken(self, stmt) -> list:
        """The statements of the branch a constant `if` takes."""
        while isinstance(stmt, cst.If):
            if self.interp.static(stmt.test):
                return list(stmt.body.body)
            if stmt.orelse is None:
                return []
            stmt = stmt.orelse if isinstance(stmt.orelse, cst.If) else stmt.orelse.body.body
        return list(stmt)

    def _sizes_only(self, stmt) -> set[str] | None:
        """Names an `if` assigns when it only assigns numbers computed from the builder's
        arguments and module constants (it can run in __init__ as written), else None."""
        known = self.interp.keep | set(self.fx.functions) | {"True", "False", "None", "int", "max", "min", "round"}
        assigned: set[str] = set()
        stack = [stmt]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.If):
                if not {n.value for n in names_in(node.test)} <= known:
                    return None
                stack += list(node.body.body)
                stack += [node.orelse] if isinstance(node.orelse, cst.If) else (
                    list(node.orelse.body.body) if node.orelse is not None else [])
                continue
            small = single(node)
            if not (isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name)):
                return None
            if not {n.value for n in names_in(small.value)} <= known | assigned:
                return None
            value = self.interp.static(small.value)
            if not is_number(value):
                return None
            assigned.add(small.targets[0].target.value)
        return assigned

    def _bind(self, target, value) -> None:
        if isinstance(target, cst.Name):
            self.interp.env[target.value] = value
            return
        if isinstance(target, cst.Tuple | cst.List) and isinstance(value, list | tuple) and len(value) == len(
            target.elements
        ):
            for el, v in zip(target.elements, value):
                self._bind(el.value, v)
            return
        raise Untranslatable(f"cannot unpack the loop's value into '{code(target)}'")

    def assign(self, stmt, target: str, value) -> None:
        names, it = self.fx.names, self.interp
        if isinstance(value, cst.Call) and names.of(value.func) == "keras.Sequential":
            self.sequential(value, target)
            return
        if isinstance(value, cst.Call) and names.layer_class(value.func) is not None:
            it.env[target] = LayerRef(it.new_site(value, target))
            return
        if it.is_custom(value):
            it.env[target] = LayerRef(it.new_custom_site(value, target))
            return
        v = it.eval(value)
        if isinstance(v, KerasModelValue):
            self.model_var, self.model_name = target, v.name
            self.outputs = self._tensors(v.outputs)
        elif isinstance(v, Tensor) and v.producer is None and v.expr == "":
            if target in self.inputs:
                raise Untranslatable(f"'{target}' is bound to a second keras.Input; give each input its own name")
            it.env[target] = v.named(target)
            self.inputs.append(target)
        elif isinstance(v, Tensor):
            new = stmt.with_changes(body=[stmt.body[0].with_changes(value=cst.parse_expression(v.expr))])
            self.forward.append(statement_text(new))
            it.env[target] = v.named(target)
        elif isinstance(v, list) and v and all(isinstance(t, Tensor) for t in v):
            self.forward.append(f"{target} = [{', '.join(t.expr for t in v)}]")
            it.env[target] = [t.named(t.expr) if t.expr.isidentifier() else t for t in v]
        elif v is UNKNOWN or isinstance(v, LayerRef):
            raise Untranslatable(f"cannot follow the value of '{target}'")
        else:
            it.env[target] = v

    def expr(self, stmt, call: cst.Call) -> None:
        func = call.func
        if (
            self.seq is not None
            and isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == self.model_var
            and func.attr.value == "add"
        ):
            self.seq_element(call.args[0].value)
            return
        self.post.append(self.fx.todo_text(stmt, "training/utility code around the model is left as is"))

    def ret(self, value) -> None:
        if value is None:
            raise Untranslatable("the builder returns nothing")
        if isinstance(value, cst.Name) and value.value == self.model_var:
            return
        if isinstance(value, cst.Call) and self.fx.names.of(value.func) == "keras.Sequential":
            self.sequential(value, "model")
            return
        v = self.interp.eval(value)
        if isinstance(v, KerasModelValue):
            self.model_name = v.name
            self.outputs = self._tensors(v.outputs)
        else:
            raise Untranslatable("the builder does not return a Keras model")

    def _tensors(self, value) -> list[Tensor]:
        vals = value if isinstance(value, list) else [value]
        if not vals or not all(isinstance(t, Tensor) for t in vals):
            raise Untranslatable("the model's outputs are not tensors the translator can follow")
        return vals

    # -- Sequential ----------------------------------------------------------------------
    def sequential(self, call: cst.Call, target: str) -> None:
        self.style, self.seq, self.model_var = "sequential", [], target
        for i, arg in enumerate(call.args):
            key = arg.keyword.value if arg.keyword else ("layers", "trainable", "name")[i]
            if key == "name":
                name = self.interp.static(arg.value)
                self.model_name = name if isinstance(name, str) else None
            elif key == "layers":
                if not isinstance(arg.value, cst.List | cst.Tuple):
                    raise Untranslatable("Sequential's layers must be a literal list")
                for el in arg.value.elements:
                    self.seq_element(el.value)

    def seq_element(self, node) -> None:
        names = self.fx.names
        if isinstance(node, cst.Call) and names.of(node.func) == "keras.Input":
            self.seq_input = self.interp.eval(node).info
            return
        if isinstance(node, cst.Call) and names.layer_class(node.func) == "InputLayer":
            for i, a in enumerate(node.args):
                key = a.keyword.value if a.keyword else ("shape" if i == 0 else "")
                if key in ("shape", "input_shape"):
                    self.seq_input = input_info(tuple(self.interp.static(a.value)), None)
            return
        try:
            site = self.interp.new_site(node)
            self.seq.append(site)
        except Untranslatable as exc:
            self.fx.diag(node, str(exc))
            self.seq.append(("todo", node, str(exc)))

    def finish_sequential(self) -> None:
        info = self.seq_input
        sites = [s for s in self.seq if not isinstance(s, tuple)]
        first = sites[0] if sites else None
        if info is None and first is not None and "input_shape" in first.kwargs:
            shape = first.kwargs["input_shape"].value
            if shape is not UNKNOWN:
                info = input_info(tuple(shape), first.rule.id)
        if info is None and self.fx.input_shape:
            info = input_info(tuple(self.fx.input_shape), first.rule.id if first else None)
        if info is None:
            raise Untranslatable("the model's input shape is unknown; pass --input-shape")
        if first is not None and first.rule.id == "embedding" and not info.dtype.startswith("int"):
            info = info.with_(dtype="int64")
        x = Tensor("x", info)
        self.inputs = ["x"]
        for element in self.seq:
            if isinstance(element, tuple):
                _, node, reason = element
                self.forward.append(f"{TODO} {reason}\nx = {_callee(node)}(x)")
                continue
            try:
                t = self.interp.apply_tensors(element, [x])
            except Untranslatable as exc:
                self.fx.diag(element.node, str(exc))
                self.forward.append(f"{TODO} {exc}\nx = {_callee(element.node)}(x)")
                continue
            self.forward.append(f"x = {t.expr}")
            x = t.named("x")
        self.outputs = [x]

    # -- output --------------------------------------------------------------------------
    def build(self, doc: str | None, leading: str = "") -> tuple[str, ModelInfo]:
        if self.seq is not None:
            self.finish_sequential()
        if not self.outputs:
            raise Untranslatable("no model output found")
        order = canonical_order(self.outputs, self.scope.sites)
        name = class_name(self.model_name or self.source_name)
        params = ", ".join(param_text(p) for p in self.params)
        kept = [p for p in (q.name.value for q in self.params) if p in self.interp.forward_used]
        if set(kept) & self.scope.used:
            raise Untranslatable(f"forward() reads the argument '{min(set(kept) & self.scope.used)}', "
                                 "named like a layer of the model; rename one of them")
        self.prelude += [f"self.{p} = {p}" for p in kept]
        text = module_class(
            name,
            doc,
            params,
            order,
            self.inputs,
            self.forward,
            [to_boundary(t) for t in self.outputs],
            leading,
            self.prelude,
        )
        attrs = [s.attr for s in order if s.lowered is not None and s.lowered.module]
        return text, ModelInfo(self.source_name, name, self.style, attrs)


def _callee(node) -> str:
    """A Sequential element as the callee of `x = ...(x)`: parenthesised unless it is a
    name, attribute or call (a string or a lambda spread over lines stays one expression)."""
    text = code(node)
    return text if isinstance(node, cst.Name | cst.Attribute | cst.Call) else f"({text})"


_TORCH_IMPORT = re.compile(r"^\s*(import torch|from torch[ .])", re.MULTILINE)
_KERAS_IMPORT = re.compile(r"^\s*(import (keras|tensorflow|tf_keras)|from (keras|tensorflow|tf_keras)[ .])", re.MULTILINE)


def guess_target(source: str) -> str:
    """'keras' for a file that imports torch and no Keras, else 'torch'."""
    return "keras" if _TORCH_IMPORT.search(source) and not _KERAS_IMPORT.search(source) else "torch"


def translate_source(
    source: str, path: str = "<string>", *, input_shape=None, rules: RuleSet | None = None, to: str | None = None,
    parsed: cst.Module | None = None, translated: set[str] | None = None,
) -> TranslationResult:
    """Translate Keras source text to PyTorch (`to="torch"`), or PyTorch source to Keras
    (`to="keras"`); by default, away from the framework the file imports. `parsed`: the
    source already parsed (by `parse_python`), when the caller has it.

    PyTorch -> Keras (`portmodel.torch_to_keras`) translates every class and function once, as
    code; `translated`: the modules of the same run (their imports of each other stay relative)."""
    rules = rules or load_rules()
    to = to or guess_target(source)
    module = parsed if parsed is not None else parse_python(source, path)
    try:
        if to == "keras":
            from .torch_to_keras.api import translate_torch as translate_code

            return translate_code(source, path, translated=translated, rules=rules, parsed=module,
                                  input_shape=input_shape)
        return _translate(module, source, path, input_shape, rules)
    except RecursionError:  # a pathological but parseable file: report it, never crash
        raise PortmodelError(TOO_DEEP, path) from None


def _translate(module: cst.Module, source: str, path: str, input_shape, rules: RuleSet) -> TranslationResult:
    if not any(root in source for root in KERAS_ROOTS):  # fast path: no Keras here at all
        return TranslationResult(path, "unchanged", source)
    # the tree was just parsed and is not shared: no need for the wrapper's defensive copy
    fx = _FileContext(path, MetadataWrapper(module, unsafe_skip_copy=True), rules, input_shape)
    from .keras_helpers import rewrite_helpers
    from .keras_names import layer_functions_as_classes
    from .keras_subclass import SubclassTranslator

    # model-zoo helpers (functions from tensor to tensor) become Layer classes first
    fx.module = layer_functions_as_classes(fx.module, fx.names, source, fx.origin)
    fx.module, _, origin = rewrite_helpers(fx.module, fx.names, fx.rules, source)
    fx.origin.update(origin)

    pieces: list[str] = []
    models: list[ModelInfo] = []
    deferred: dict[int, cst.ClassDef] = {}
    functions: dict[int, cst.FunctionDef] = {}  # piece index -> a module-level function kept as written
    fx.components.scan(fx.module)
    from .training import TrainingCode, TrainingRewriter

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
            pieces.append(code(stmt))  # pruned in _assemble if nothing uses it any more
            changed = True
        elif kind == "builder":
            text, info = _translate_builder(fx, stmt, leading)
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
            text, info = _translate_script(fx, stmt, body[i + 1 : j], var, leading)
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
    _add_support_functions(pieces, source)
    fx.diagnostics = list(dict.fromkeys(fx.diagnostics))  # a component used twice reports once
    if not changed:
        return TranslationResult(path, "unchanged", source, fx.diagnostics, models)
    header = code(fx.module.with_changes(body=[])).rstrip("\n")
    out = _assemble(header, pieces, import_slot)
    status = "converted"
    return TranslationResult(path, status, out, fx.diagnostics, models)


def _add_support_functions(pieces: list[str], source: str) -> None:
    """Functions the generated code calls (`tf_same_pad`), each once, before its first use."""
    from .hooks import SUPPORT

    for name, text in SUPPORT.items():
        call = re.compile(rf"(?<![\w.]){name}\(")
        first = next((k for k, p in enumerate(pieces) if call.search(p)), None)
        if first is not None and not re.search(rf"^def {name}\(", source, re.MULTILINE):
            pieces.insert(first, "\n\n" + text)


def _drop_consumed_functions(fx: _FileContext, pieces: list[str], functions: dict[int, cst.FunctionDef]) -> None:
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
    import ast

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


def _classify(fx: _FileContext, stmt) -> str:
    from .keras_subclass import is_keras_class

    if isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, cst.Import | cst.ImportFrom) for s in stmt.body
    ):
        return "keras_import" if any(_is_keras_import(s) for s in stmt.body) else "other"
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


def _is_keras_import(node) -> bool:
    if isinstance(node, cst.Import):
        return any(code(a.name).split(".")[0] in KERAS_ROOTS for a in node.names)
    if node.module is None:
        return False
    return code(node.module).split(".")[0] in KERAS_ROOTS


def _builds_model(fx: _FileContext, fn: cst.FunctionDef) -> bool:
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


def _collect_constants(fx: _FileContext, stmt) -> None:
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


def _translate_builder(fx: _FileContext, fn: cst.FunctionDef, leading: str):
    doc, stmts = _docstring(fn.body.body)
    params = list(fn.params.params) + list(fn.params.kwonly_params)
    tr = BuilderTranslator(fx, fn.name.value, params)
    tr.run(stmts)
    try:
        text, info = tr.build(doc or f'"""Ported from Keras `{fn.name.value}` by portmodel."""', leading)
    except Untranslatable as exc:
        return fx.todo_text(fn, str(exc)) + "\n", None
    call_args = ", ".join(f"{p.name.value}={p.name.value}" for p in params)
    shim = [f"def {fn.name.value}({code(fn.params)}):"]
    if doc:
        shim.append(f"    {doc}")
    if tr.post:
        shim.append(f"    model = {info.target}({call_args})")
        shim += [_indent(p, 4) for p in tr.post]
        shim.append("    return model")
    else:
        shim.append(f"    return {info.target}({call_args})")
    fx.keep.add(fn.name.value)
    fx.keep.add(info.target)
    return text + "\n\n" + "\n".join(shim) + "\n", info


def _translate_script(fx: _FileContext, stmt, adds: list, var: str, leading: str):
    tr = BuilderTranslator(fx, var, [])
    tr.run([stmt, *adds])
    try:
        text, info = tr.build(f'"""Ported from the Keras model `{var}` by portmodel."""', leading)
    except Untranslatable as exc:
        return fx.todo_text(stmt, str(exc)) + "\n" + "".join(code(a) for a in adds), None
    fx.keep.add(var)
    return text + f"\n\n{var} = {info.target}()\n", info


def _indent(text: str, n: int) -> str:
    return "\n".join((" " * n + line) if line.strip() else line for line in text.splitlines())


def _assemble(header: str, pieces: list[str], import_slot) -> str:
    """Join the pieces, prune unused Keras imports, add the torch imports once."""
    draft = "".join(p if p.endswith("\n") else p + "\n" for p in pieces)
    used = _used_names(draft)
    kept: list[str] = []
    for idx, piece in enumerate(pieces):
        stmt = cst.parse_statement(piece) if idx == import_slot or _looks_import(piece) else None
        if stmt is not None and isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(s, cst.Import | cst.ImportFrom) and _is_keras_import(s) for s in stmt.body
        ):
            piece = _prune_import(stmt, used)
        kept.append(piece)
    if import_slot is None:
        import_slot = _first_code_index(pieces)
    kept[import_slot:import_slot] = [line + "\n" for line in import_block(used)]
    kept = _sort_import_run(kept, import_slot)
    text = "".join(p if p.endswith("\n") or p == "" else p + "\n" for p in kept)
    return (header + "\n" if header else "") + text


def _sort_import_run(pieces: list[str], slot: int) -> list[str]:
    """isort the contiguous import statements around `slot` (a no-op when any is unusual)."""
    def is_import(p: str) -> bool:
        return p.strip() == "" or _looks_import(p) and len(p.strip().splitlines()) == 1

    start = slot
    while start > 0 and is_import(pieces[start - 1]):
        start -= 1
    end = slot
    while end < len(pieces) and is_import(pieces[end]):
        end += 1
    run = [p for p in pieces[start:end] if p.strip()]
    if not run:
        return pieces
    first = next(p for p in pieces[start:end] if p.strip())
    leading = first[: len(first) - len(first.lstrip("\n"))]
    ordered = sort_block(run)
    if ordered is None:
        return pieces
    tail = pieces[end:]
    if tail and tail[0].strip() and not tail[0].startswith("\n"):
        tail = ["\n" + tail[0]] + tail[1:]
    return pieces[:start] + [leading + "\n".join(ordered) + "\n"] + tail


def _looks_import(piece: str) -> bool:
    first = piece.lstrip().split("\n", 1)[0]
    return first.startswith(("import ", "from "))


def _first_code_index(pieces: list[str]) -> int:
    for i, p in enumerate(pieces):
        s = p.strip()
        if s.startswith(("from __future__",)) or (s.startswith(('"""', "'''", '"', "'")) and i == 0):
            continue
        return i
    return len(pieces)


def _used_names(text: str) -> set[str]:
    """Identifiers anywhere outside import statements: names, attributes, parameters,
    keywords, definitions (what libcst reads as a Name). Read with Python's own parser,
    which is many times faster than walking a libcst tree on files of thousands of lines."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            used.add(node.name)
        elif isinstance(node, ast.arg):
            used.add(node.arg)
        elif isinstance(node, ast.keyword | ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and _ast_name(node):
            used.add(_ast_name(node))
        elif isinstance(node, ast.Global | ast.Nonlocal):
            used.update(node.names)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            used.add(node.rest)
        elif isinstance(node, ast.MatchClass):
            used.update(node.kwd_attrs)
    return used


def _ast_name(node: ast.AST) -> str | None:
    return node.arg if isinstance(node, ast.keyword) else node.name


def _prune_import(stmt: cst.SimpleStatementLine, used: set[str], is_source=None) -> str:
    """The import without the source framework's names nothing uses any more."""
    is_source = is_source or _is_keras_import
    keep_small = []
    for small in stmt.body:
        if not (isinstance(small, cst.Import | cst.ImportFrom) and is_source(small)):
            keep_small.append(small)
            continue
        if isinstance(small.names, cst.ImportStar):
            continue
        aliases = [
            a
            for a in small.names
            if (code(a.asname.name) if a.asname else code(a.name).split(".")[0]) in used
        ]
        if aliases:
            aliases[-1] = aliases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            keep_small.append(small.with_changes(names=aliases))
    if not keep_small:
        # keep comments that sat above the import
        return "".join(code(line) for line in stmt.leading_lines)
    return code(stmt.with_changes(body=keep_small))
