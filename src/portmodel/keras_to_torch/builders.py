"""Keras builders (functions or module-level blocks that build a Sequential or functional
model) rewritten as one `nn.Module` class each, plus the shim that keeps the builder's name."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from ..core.errors import Diagnostic
from ..core.result import ModelInfo
from ..core.rules import RuleSet
from ..core.static_eval import UNKNOWN, augmented, is_number, plain, static_eval, symbolic
from .hooks import Untranslatable
from .names import KerasNames
from .reader import Interpreter, canonical_order, input_info, to_boundary
from .subclass import Components
from .values import KerasModelValue, LayerRef, Scope, Tensor, code, names_in, param_text, single
from .writer import class_name, module_class, statement_text

TODO = "# portmodel: TODO"


class FileContext:
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

    def __init__(self, fx: FileContext, source_name: str, params: list[cst.Param]):
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
        positional = ("layers", "trainable", "name")  # keras.Sequential's signature
        if sum(not a.keyword for a in call.args) > len(positional):
            raise Untranslatable(f"keras.Sequential takes at most {len(positional)} positional arguments")
        for i, arg in enumerate(call.args):
            key = arg.keyword.value if arg.keyword else positional[i]
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


def translate_builder(fx: FileContext, fn: cst.FunctionDef, leading: str):
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


def translate_script(fx: FileContext, stmt, adds: list, var: str, leading: str):
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

