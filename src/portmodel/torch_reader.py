"""Read PyTorch model source statically: nn.Module classes, their __init__ and forward.

The reader interprets the source without importing it: `__init__` (with helper methods
and functions such as `_make_layer`, loops and static `if`s) builds a tree of symbolic
modules; every torch.nn constructor it meets is built on torch's meta device from its
constant arguments, so torch itself normalises them and computes every output shape. Then
`forward` runs on symbolic tensors (`KTensor`: the Keras expression, the torch meta tensor,
the layout the Keras port holds it in), and each statement records its Keras form.

A construct met several times (a block class instantiated per stage, a loop body) must
give the same Keras code each time; otherwise it becomes a TODO, never a silent guess.
"""

from __future__ import annotations

import inspect
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
import libcst.matchers as m

from .hooks import ANY, CHANNELS_LAST, RAISINGS, TORCH_ORDER, Arg, Raised, TorchCtx, Untranslatable
from .hooks.torch_ops import OpCall, apply_op
from .keras_layout import (
    KTensor,
    boundary_layout,
    dim_size,
    keras_axis,
    perm,
    permute_layer,
    to_layout,
)
from .keras_reader import code, single
from .layout import atom
from .parsing import walk as _walk
from .static_eval import UNKNOWN, SymInt, static_eval

TORCH_MODULE = "torch.nn.Module"
TORCH_SEQUENTIAL = "torch.nn.Sequential"
_MATH = frozenset({"sqrt", "log", "exp", "pow", "floor", "ceil", "prod"})
SEQUENTIAL, MODULE_LIST = "<keras.Sequential>", "<list>"  # rewritten from the rewritten elements
SEQUENTIAL_INIT = "<keras.Sequential.__init__>"  # super().__init__(a, b) of an nn.Sequential subclass
META_BATCH = 2


# -- values of the interpretation -----------------------------------------------------------


@dataclass(eq=False)
class Leaf:
    """A torch.nn layer: its constructor call, the meta module, its Keras form."""

    node: cst.Call
    cls: str
    module: Any
    raised: Raised


@dataclass(eq=False)
class Seq:
    node: cst.Call | None
    items: list


@dataclass(eq=False)
class ModList:
    node: cst.Call | None
    items: list


@dataclass(eq=False)
class ClassInfo:
    name: str
    node: cst.ClassDef
    methods: dict[str, cst.FunctionDef]
    attrs: dict[str, Any]  # class-level constants (`expansion = 4`)
    sequential: bool = False  # `class ConvBNReLU(nn.Sequential)`: its modules go to super().__init__


@dataclass(frozen=True)
class ConfigClass:
    """A dataclass of constants the models take as their configuration (Hugging Face style)."""

    name: str
    fields: dict[str, Any]

    def build(self, args: list, kwargs: dict) -> ConfigValue:
        names = list(self.fields)
        if len(args) > len(names) or set(kwargs) - set(names):
            raise Untranslatable(f"{self.name}(...) with arguments it does not have")
        values = {**self.fields, **dict(zip(names, args)), **kwargs}
        if any(v is UNKNOWN for v in values.values()):
            raise Untranslatable(f"{self.name}: a field without a constant value")
        return ConfigValue(self, values)


@dataclass(frozen=True, eq=False)
class ConfigValue:
    """`BertConfig()`: its fields are read as constants (`config.hidden_size`)."""

    cls: ConfigClass
    values: dict[str, Any]


@dataclass(eq=False)
class Instance:
    """An instance of an nn.Module class of this file."""

    cls: ClassInfo
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Method:
    owner: Any  # Instance, or None for a module-level function
    fn: cst.FunctionDef


@dataclass(eq=False)
class TupleOut:
    """A torch call that returns (output, state...): the Keras layer returns the output."""

    items: list


class _Return(Exception):
    def __init__(self, value):
        self.value = value


# -- the file-wide context ----------------------------------------------------------------


class TorchFile:
    """Names, rules and the rewrites recorded for one file."""

    def __init__(self, module: cst.Module, names, rules, diag):
        self.module = module
        self.names = names  # ImportTable
        self.rules = rules
        self.diag = diag  # (node, message, code, severity) -> None
        self.classes: dict[str, ClassInfo] = {}
        self.functions: dict[str, cst.FunctionDef] = {}
        self.configs: dict[str, ConfigClass] = {}  # dataclasses of constants: model configurations
        self.env: dict[str, Any] = {}
        self.call_texts: dict[int, set[str]] = {}  # id(cst.Call) -> Keras expressions
        self.call_uses: dict[int, list] = {}  # id(cst.Call) -> [(Keras expression, the constants in scope)]
        self.general_texts: dict[int, set[str | None]] = {}  # the same, in forms right for every use
        self.visited: set[int] = set()  # id() of every statement the interpreter followed
        self.stmt_texts: dict[int, set] = {}  # id(statement) -> new source (None: remove)
        self.todo: dict[int, str] = {}  # id(statement) -> reason
        self.nodes: dict[int, cst.CSTNode] = {}
        self.uses_training: set[str] = set()  # classes whose forward reads self.training
        self.reached: set[str] = set()  # classes interpreted at least once
        self.bound = names.bound  # names the file binds: `layers = []` shadows keras.layers

    def keras_text(self, text: str) -> str:
        """Generated code says `layers.X`/`ops.x`; where the file uses those names itself,
        it says `keras.layers.X`/`keras.ops.x` instead."""
        for name in ("layers", "ops"):
            if name in self.bound:
                text = re.sub(rf"(?<![\w.]){name}\.", f"keras.{name}.", text)
        return text

    def qualified(self, node) -> str | None:
        name = self.names.qualified(node) if isinstance(node, cst.Name | cst.Attribute) else None
        if name and name.startswith("torch.nn.modules."):  # torch.nn.modules.conv.Conv2d
            name = "torch.nn." + name.rsplit(".", 1)[1]
        return name

    def record_call(self, node: cst.Call, text: str, general: str | None = None, env: dict | None = None) -> None:
        self.nodes[id(node)] = node
        self.call_texts.setdefault(id(node), set()).add(text)
        self.general_texts.setdefault(id(node), set()).add(general)
        if env is not None:  # the constants in scope at this use: conditions for uses that differ
            values = {k: v for k, v in env.items() if k.isidentifier() and isinstance(v, int | float | str | bool | tuple)}
            self.call_uses.setdefault(id(node), []).append((text, values))

    def record_stmt(self, stmt, text) -> None:
        self.nodes[id(stmt)] = stmt
        self.stmt_texts.setdefault(id(stmt), set()).add(text)
        if text is None:  # removed with everything in it (a weight-init loop): nothing left to reach
            self.visited.update(id(n) for n in m.findall(stmt, m.SimpleStatementLine() | m.For() | m.If()))

    def mark_todo(self, stmt, reason: str) -> None:
        reason = " ".join(reason.split())  # one line: it becomes a comment
        if id(stmt) not in self.todo:
            self.todo[id(stmt)] = reason
            self.nodes[id(stmt)] = stmt
            self.diag(stmt, reason)

    def scan(self) -> None:
        for stmt in self.module.body:
            bases = {self.qualified(b.value) for b in stmt.bases} if isinstance(stmt, cst.ClassDef) else set()
            if bases & {TORCH_MODULE, TORCH_SEQUENTIAL}:
                methods = {s.name.value: s for s in stmt.body.body if isinstance(s, cst.FunctionDef)}
                attrs = {}
                for s in stmt.body.body:
                    small = single(s)
                    if isinstance(small, cst.Assign) and isinstance(small.targets[0].target, cst.Name):
                        attrs[small.targets[0].target.value] = static_eval(small.value, self.env)
                self.classes[stmt.name.value] = ClassInfo(
                    stmt.name.value, stmt, methods, attrs, sequential=TORCH_SEQUENTIAL in bases
                )
            elif isinstance(stmt, cst.ClassDef) and (config := self._config_class(stmt)) is not None:
                self.configs[stmt.name.value] = config
            elif isinstance(stmt, cst.FunctionDef):
                self.functions[stmt.name.value] = stmt
            else:
                small = single(stmt)
                if isinstance(small, cst.Assign):
                    value = static_eval(small.value, self.env)
                    if value is UNKNOWN and isinstance(small.value, cst.Dict):
                        value = _literal(small.value)  # a configuration table: cfgs = {"A": [64, "M"]}
                    for t in small.targets:
                        self._bind_constant(t.target, value)

    def _config_class(self, cls: cst.ClassDef) -> ConfigClass | None:
        """A `@dataclass` of constant fields (`hidden_size: int = 32`): a model's configuration."""
        if not any(self.qualified(d.decorator) == "dataclasses.dataclass" for d in cls.decorators):
            return None
        fields: dict[str, Any] = {}
        for stmt in cls.body.body:
            small = single(stmt)
            if isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString):
                continue
            if not (isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name)):
                return None
            value = static_eval(small.value, self.env) if small.value is not None else UNKNOWN
            fields[small.target.value] = value
        return ConfigClass(cls.name.value, fields)

    def _bind_constant(self, target, value) -> None:
        """`N = 4` and `VOCAB, DIM = 100, 8` at module level: constants the modules may read."""
        if value is UNKNOWN:
            return
        if isinstance(target, cst.Name):
            self.env[target.value] = value
        elif (
            isinstance(target, cst.Tuple | cst.List)
            and isinstance(value, tuple | list)
            and len(target.elements) == len(value)
            and not any(isinstance(e, cst.StarredElement) for e in target.elements)
        ):
            for element, item in zip(target.elements, value):
                self._bind_constant(element.value, item)

    def components(self) -> set[str]:
        """Classes other modules of the file build (directly, as `block=BasicBlock`, or through
        a helper function a module calls); the rest are models (a factory function may
        build those)."""
        classes = set(self.classes)

        def names_in(node) -> set[str]:
            found: set[str] = set()

            class V(cst.CSTVisitor):
                def visit_Name(self, n: cst.Name) -> None:
                    found.add(n.value)

            node.visit(V())
            return found

        used: set[str] = set()
        helpers: set[str] = set()
        for info in self.classes.values():
            inside = set().union(*(names_in(s) for s in info.node.body.body))
            used |= (inside & classes) - {info.name}
            helpers |= inside & set(self.functions)
        for name in helpers:
            used |= names_in(self.functions[name]) & classes
        for fn in self.functions.values():  # `def densenet(): return DenseNet(Bottleneck, ...)`
            # a class handed to another class of the file is its component; one merely built
            # (`model = Net()` in a training function) is not
            for call in m.findall(fn, m.Call(func=m.Name())):
                if call.func.value in classes:
                    used |= set().union(set(), *(names_in(a.value) for a in call.args)) & classes
        return used

    # -- the interpreter ----------------------------------------------------------------------


class Interpreter:
    """Runs __init__/forward bodies symbolically; records the Keras rewrites in `tf`."""

    def __init__(self, tf: TorchFile):
        self.tf = tf

    # -- constructing ----------------------------------------------------------------------
    def instantiate(self, info: ClassInfo, args: list, kwargs: dict) -> Instance:
        self.tf.reached.add(info.name)
        inst = Instance(info)
        init = info.methods.get("__init__")
        if init is not None:
            env = self.bind(init, [inst, *args], kwargs)
            self.block(init.body.body, env, "init")
        return inst

    def bind(self, fn: cst.FunctionDef, args: list, kwargs: dict) -> dict:
        params = list(fn.params.params)
        env: dict[str, Any] = {}
        for i, p in enumerate(params):
            name = p.name.value
            if i < len(args):
                env[name] = args[i].named(name) if isinstance(args[i], KTensor) else args[i]
            elif name in kwargs:
                env[name] = kwargs.pop(name)
            elif p.default is not None:
                env[name] = self.eval(p.default, dict(self.tf.env))
            else:
                raise Untranslatable(f"{fn.name.value}() is called without its argument '{name}'")
        for p in fn.params.kwonly_params:
            name = p.name.value
            env[name] = kwargs.pop(name) if name in kwargs else self.eval(p.default, dict(self.tf.env))
        star = fn.params.star_arg
        if isinstance(star, cst.Param):  # *args
            env[star.name.value] = tuple(args[len(params):])
        if fn.params.star_kwarg is not None:  # **kwargs: the rest, passed on as a dict
            env[fn.params.star_kwarg.name.value] = dict(kwargs)
            kwargs.clear()
        if kwargs:
            raise Untranslatable(f"{fn.name.value}() got unexpected arguments {sorted(kwargs)}")
        return env

    def run_factory(self, fn: cst.FunctionDef):
        """Call a module-level function with no arguments (a factory such as `vgg11()`)."""
        try:
            self.block(fn.body.body, self.bind(fn, [], {}), "init")
        except _Return as r:
            return r.value
        return None

    # -- statements ------------------------------------------------------------------------
    def block(self, stmts, env: dict, mode: str) -> None:
        for stmt in stmts:
            self.tf.visited.add(id(stmt))
            try:
                self.statement(stmt, env, mode)
            except Untranslatable as exc:
                self.tf.mark_todo(stmt, str(exc))

    def statement(self, stmt, env: dict, mode: str) -> None:
        if isinstance(stmt, cst.If):
            return self.branch(stmt, env, mode)
        if isinstance(stmt, cst.For):
            return self.loop(stmt, env, mode)
        if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
            raise Untranslatable("nested definitions in a model are not translated yet")
        small = single(stmt)
        if small is None:
            raise Untranslatable("this statement is not translated yet")
        if isinstance(small, cst.Pass):
            return None
        if isinstance(small, cst.Expr):
            return self.expression_statement(stmt, small, env, mode)
        if isinstance(small, cst.Return):
            value = self.eval(small.value, env) if small.value is not None else None
            if mode == "forward":
                self.tf.record_stmt(stmt, self.return_text(value, env.get("__boundary__", False)))
            raise _Return(value)
        if isinstance(small, cst.Assign | cst.AnnAssign):
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
            if small.value is None:
                return None
            value = self.eval(small.value, env)
            for target in targets:
                self.assign(target, value, env)
            if mode == "forward":
                self.record_assign(stmt, targets, small.value, value, env)
            return None
        if isinstance(small, cst.AugAssign):
            target = small.target
            left = self.eval(target, env)
            right = self.eval(small.value, env)
            if isinstance(left, KTensor) or isinstance(right, KTensor):
                op = code(small.operator).strip()[:-1].strip()
                result = self.binary(op, left, right, code(target), code(small.value))
                self.assign(target, result, env)
                self.tf.record_stmt(stmt, f"{code(target)} = {result.expr}")
                return None
            self.assign(target, self.binop(small.operator, left, right), env)
            return None
        if isinstance(small, cst.Assert | cst.Raise):
            return None
        raise Untranslatable(f"'{code(small).strip()}' is not translated yet")

    def expression_statement(self, stmt, small: cst.Expr, env: dict, mode: str) -> None:
        value = small.value
        if isinstance(value, cst.SimpleString | cst.ConcatenatedString):
            return  # docstring
        if isinstance(value, cst.Call):
            qual = self.tf.qualified(value.func) or ""
            if qual.startswith("torch.nn.init."):
                self.tf.record_stmt(stmt, None)  # the checkpoint provides the weights
                self.tf.diag(stmt, f"{qual} dropped: {INIT_DROPPED}", "PM002", "note")
                return
            func = code(value.func)
            if func.startswith("super(") and func.endswith(".__init__"):
                inst = env.get("self")
                if isinstance(inst, Instance) and inst.cls.sequential:
                    args, kwargs = self.arguments(value, env)
                    if kwargs or len(args) == 1 and isinstance(args[0], _OrderedPairs):
                        raise Untranslatable("an nn.Sequential subclass is translated from its modules as arguments")
                    self.tf.record_call(value, SEQUENTIAL_INIT)
                    inst.attrs["__items__"] = Seq(value, list(args))
                return
            if func.endswith(".register_buffer"):
                self.buffer(stmt, value, env)
                return
            if func == "setattr" and self._set_attribute(value, env):
                return
            if self._in_place(stmt, value, env):
                return
        self.eval(value, env)
        return

    def _set_attribute(self, call: cst.Call, env: dict) -> bool:
        """`setattr(self, f"layer{i}", nn.Linear(...))` with a constant name: an attribute like
        `self.name = ...` (the statement stays as written: Keras tracks layers set so too)."""
        args = [a.value for a in call.args]
        if len(args) != 3 or code(args[0]) != "self" or any(a.keyword for a in call.args):
            return False
        args = args[1:]
        name = self.eval(args[0], env)
        if not isinstance(name, str) or not name.isidentifier():
            raise Untranslatable("an attribute set by a name the translator cannot read")
        self.assign(cst.Attribute(cst.Name("self"), cst.Name(name)), self.eval(args[1], env), env)
        return True

    def buffer(self, stmt, call: cst.Call, env: dict) -> None:
        """`self.register_buffer("position_ids", torch.arange(n).expand((1, -1)), persistent=False)`:
        a constant the module computes from its arguments -> the same tensor as a Keras
        attribute (`self.position_ids = ops.broadcast_to(...)`). A persistent buffer is part of
        the checkpoint and needs a Keras weight: not translated yet."""
        args = {a.keyword.value if a.keyword else ("name", "tensor", "persistent")[i]: a.value
                for i, a in enumerate(call.args) if i < 3 or a.keyword}
        name = self.eval(args["name"], env) if "name" in args else None
        persistent = self.eval(args["persistent"], env) if "persistent" in args else True
        if not isinstance(name, str) or not name.isidentifier() or "tensor" not in args:
            raise Untranslatable("register_buffer with a name the translator cannot read")
        if persistent is not False:
            raise Untranslatable("a persistent buffer (saved in the checkpoint) is not translated yet; "
                                 "persistent=False buffers are")
        value = self.eval(args["tensor"], env)
        if not isinstance(value, KTensor):
            raise Untranslatable(f"buffer '{name}': its value is not a tensor the translator can follow")
        self.assign(cst.parse_expression(f"self.{name}"), value.named(f"self.{name}"), env)
        self.tf.record_stmt(stmt, f"self.{name} = {value.expr}")

    def _in_place(self, stmt, call: cst.Call, env: dict) -> bool:
        """`t.floor_()` on a tensor named t: `t = ops.floor(t)` (Keras tensors are immutable)."""
        f = call.func
        if not (isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name) and f.attr.value.endswith("_")):
            return False
        name, method = f.value.value, f.attr.value[:-1]
        t = env.get(name)
        if not isinstance(t, KTensor) or method.startswith("_") or f"Tensor.{method}" not in self.tf.rules.ops:
            return False
        args, kwargs = self.arguments(call, env)
        out = self.tensor_method(call, _BoundTensorMethod(t, method), args, kwargs)
        self.assign(f.value, out, env)
        self.tf.record_stmt(stmt, f"{name} = {out.expr}")
        return True

    def assign(self, target, value, env: dict) -> None:
        if isinstance(target, cst.Name):
            if isinstance(value, KTensor):
                value = value.named(target.value)
            elif isinstance(value, SymInt):  # a batch size read from a tensor: by its name from now on
                value = SymInt(int(value), target.value)
            env[target.value] = value
        elif isinstance(target, cst.Attribute) and code(target.value) == "self":
            owner = env.get("self")
            if not isinstance(owner, Instance):
                raise Untranslatable("assignment to self outside a module")
            owner.attrs[target.attr.value] = value
            env[f"self.{target.attr.value}"] = value
        elif isinstance(target, cst.Tuple | cst.List):
            items = value.items if isinstance(value, TupleOut) else value
            if isinstance(value, _Shape):  # b, t, c = x.shape: every size by its name
                items = [SymInt(int(n), "") for n in value.t.meta.shape]
            if not isinstance(items, tuple | list) or len(items) < len(target.elements):
                raise Untranslatable("cannot unpack this value statically")
            for el, item in zip(target.elements, items):
                self.assign(el.value, item, env)
        else:
            raise Untranslatable(f"assignment to '{code(target)}' is not translated yet")

    def record_assign(self, stmt, targets, value_node, value, env: dict) -> None:
        if isinstance(value, TupleOut):
            first = targets[0].elements[0].value if isinstance(targets[0], cst.Tuple | cst.List) else None
            if first is None:
                raise Untranslatable("use the first element of this call's result (output, state)")
            self.tf.record_stmt(stmt, f"{code(first)} = {value.items[0].expr}")
            return
        if isinstance(value, KTensor):
            lhs = " = ".join(code(t) for t in targets)
            self.tf.record_stmt(stmt, f"{lhs} = {value.expr}")
        elif isinstance(value, _Shape):
            lhs = " = ".join(code(t) for t in targets)
            t = value.t
            if t.layout == CHANNELS_LAST and t.rank >= 3:  # Keras holds the sizes in another order
                where = {d: i for i, d in enumerate(perm(t.rank, True))}
                rhs = ", ".join(f"ops.shape({t.expr})[{where[d]}]" for d in range(t.rank))
            else:
                rhs = f"ops.shape({t.expr})"
            self.tf.record_stmt(stmt, f"{lhs} = {rhs}")
        elif isinstance(value, SymInt):
            lhs = " = ".join(code(t) for t in targets)
            self.tf.record_stmt(stmt, f"{lhs} = {value.code}")
        elif isinstance(value, tuple) and value and all(isinstance(v, int) for v in value) and _reads_sizes(value_node):
            # `shape = x.size()[:-1] + (heads, size)`: the sizes, the batch by ops.shape
            lhs = " = ".join(code(t) for t in targets)
            texts = [v.code if isinstance(v, SymInt) else str(v) for v in value]
            self.tf.record_stmt(stmt, f"{lhs} = ({texts[0]},)" if len(texts) == 1 else f"{lhs} = ({', '.join(texts)})")
        elif isinstance(value, int) and (read := self._size_read(value_node, env)) is not None:
            t, dim = read  # `c = x.shape[1]`: the axis the Keras port holds that size on
            lhs = " = ".join(code(t_) for t_ in targets)
            self.tf.record_stmt(stmt, f"{lhs} = {atom(t.expr)}.shape[{keras_axis(dim, t)}]")
        elif isinstance(value, tuple | list) and any(isinstance(v, KTensor) for v in value):
            lhs = " = ".join(code(t) for t in targets)
            self.tf.record_stmt(stmt, f"{lhs} = {', '.join(v.expr if isinstance(v, KTensor) else repr(v) for v in value)}")

    def _size_read(self, node, env: dict) -> tuple[KTensor, int] | None:
        """(tensor, dim) for `x.shape[dim]` / `x.size(dim)` on a tensor of the forward pass."""
        if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Attribute) and node.value.attr.value == "shape":
            base, index = node.value.value, node.slice[0].slice if len(node.slice) == 1 else None
            index = index.value if isinstance(index, cst.Index) else None
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "size":
            base, index = node.func.value, node.args[0].value if len(node.args) == 1 else None
        else:
            return None
        t = self.eval(base, env)
        dim = self.eval(index, env) if index is not None else None
        return (t, int(dim)) if isinstance(t, KTensor) and isinstance(dim, int) else None

    def return_text(self, value, boundary: bool) -> str:
        """A model's outputs follow the boundary convention; a component's go on as they are."""

        def out(t: KTensor) -> str:
            return to_layout(t, boundary_layout(t.rank)).expr if boundary else t.expr

        if isinstance(value, KTensor):
            return f"return {out(value)}"
        if isinstance(value, tuple | list) and all(isinstance(v, KTensor) for v in value):
            return "return " + ", ".join(out(v) for v in value)
        raise Untranslatable("forward() returns something the translator cannot follow")

    def run_forward(self, inst: Instance, inputs: list[KTensor]):
        """The model's forward on its boundary inputs; returns its output (or None)."""
        forward = inst.cls.methods.get("forward")
        if forward is None:
            raise Untranslatable(f"{inst.cls.name} has no forward()")
        scope = self.bind(forward, [inst, *inputs], {})
        scope["__boundary__"] = True
        try:
            self.block(forward.body.body, scope, "forward")
        except _Return as r:
            return r.value
        return None

    def branch(self, stmt: cst.If, env: dict, mode: str) -> None:
        test = self.eval(stmt.test, env)
        if test is UNKNOWN or test is _TRAINING:
            if mode != "forward":
                raise Untranslatable("a condition the translator cannot evaluate")
            before = dict(env)
            try:
                self.block(stmt.body.body, env, mode)
            except _Return:
                if stmt.orelse is not None:
                    raise Untranslatable("a return inside an if/else on training is not translated yet") from None
                # `if not training: return x`: that path ends here, the statements after the
                # `if` are the other one (followed from the state before the `if`)
                env.clear()
                env.update(before)
                return
            if stmt.orelse is not None:
                other = dict(before)
                body = [stmt.orelse] if isinstance(stmt.orelse, cst.If) else stmt.orelse.body.body
                self.block(body, other, mode)
                for key, v in other.items():
                    mine = env.get(key)
                    if isinstance(v, KTensor) and isinstance(mine, KTensor) and (
                        v.layout != mine.layout or tuple(v.meta.shape) != tuple(mine.meta.shape)
                    ):
                        raise Untranslatable(f"'{key}' differs in shape or layout between the branches")
            return
        if test:
            self.block(stmt.body.body, env, mode)
        elif isinstance(stmt.orelse, cst.If):
            self.branch(stmt.orelse, env, mode)
        elif stmt.orelse is not None:
            self.block(stmt.orelse.body.body, env, mode)

    def loop(self, stmt: cst.For, env: dict, mode: str) -> None:
        if mode == "init" and code(stmt.iter).startswith(("self.modules()", "self.children()")):
            self.tf.record_stmt(stmt, None)  # weight initialisation: the checkpoint replaces it
            self.tf.diag(stmt, f"the initialisation loop over {code(stmt.iter)} dropped: {INIT_DROPPED}", "PM002", "note")
            return
        items = self.eval(stmt.iter, env)
        if isinstance(items, Seq | ModList):
            items = items.items
        if not isinstance(items, list | tuple | range):
            raise Untranslatable("only loops over constants, ranges or module lists are translated")
        for item in items:
            self.assign(stmt.target, item, env)
            self.block(stmt.body.body, env, mode)

    # -- expressions -------------------------------------------------------------------------
    def eval(self, node, env: dict):
        if isinstance(node, cst.Name):
            if node.value in env:
                return env[node.value]
            if node.value in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.value]
            if node.value in self.tf.classes:
                return self.tf.classes[node.value]
            if node.value in self.tf.configs:
                return self.tf.configs[node.value]
            if node.value in self.tf.functions:
                return Method(None, self.tf.functions[node.value])
            if node.value in self.tf.env:
                return self.tf.env[node.value]
            return UNKNOWN
        if isinstance(node, cst.Attribute):
            return self.attribute(node, env)
        if isinstance(node, cst.Call):
            return self.call(node, env)
        if isinstance(node, cst.BinaryOperation):
            left, right = self.eval(node.left, env), self.eval(node.right, env)
            if isinstance(left, KTensor) or isinstance(right, KTensor):
                op = code(node.operator).strip()
                return self.binary(op, left, right, code(node.left), code(node.right))
            return self.binop(node.operator, left, right)
        if isinstance(node, cst.UnaryOperation):
            v = self.eval(node.expression, env)
            if v is _TRAINING:  # `not training`: both paths are translated, as for `training`
                return UNKNOWN
            if isinstance(v, KTensor) and isinstance(node.operator, cst.Minus):
                return KTensor(f"-{atom(v.expr)}", -v.meta, v.layout)
            return static_eval(node, {**self.tf.env, **_plain_env(env)}) if v is not UNKNOWN else UNKNOWN
        if isinstance(node, cst.Subscript):
            return self.subscript(node, env)
        if isinstance(node, cst.List | cst.Tuple):
            vals = []
            for el in node.elements:
                v = self.eval(el.value, env)
                if isinstance(el, cst.StarredElement):
                    if not isinstance(v, list | tuple):
                        return UNKNOWN
                    vals += list(v)
                else:
                    vals.append(v)
            return vals if isinstance(node, cst.List) else tuple(vals)
        if isinstance(node, cst.BooleanOperation):
            left = self.eval(node.left, env)
            if left is UNKNOWN or left is _TRAINING:
                return UNKNOWN
            if isinstance(node.operator, cst.And):
                return self.eval(node.right, env) if left else left
            return left if left else self.eval(node.right, env)
        if isinstance(node, cst.Comparison):
            return static_eval_comparison(self, node, env)
        if isinstance(node, cst.ListComp | cst.GeneratorExp):  # a generator is consumed at once: a list
            return self.list_comp(node, env)
        if isinstance(node, cst.IfExp):  # `s if i == 0 else 1` on constants
            test = self.eval(node.test, env)
            if test is UNKNOWN or test is _TRAINING or isinstance(test, KTensor):
                return UNKNOWN
            return self.eval(node.body if test else node.orelse, env)
        return static_eval(node, {**self.tf.env, **_plain_env(env)})

    def binop(self, operator_node, left, right):
        ops = {cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul,
               cst.FloorDivide: operator.floordiv, cst.Divide: operator.truediv, cst.Modulo: operator.mod,
               cst.Power: operator.pow,
               # `x += y` on constants and lists (a list is extended in place, as Python does)
               cst.AddAssign: operator.iadd, cst.SubtractAssign: operator.isub, cst.MultiplyAssign: operator.imul,
               cst.FloorDivideAssign: operator.ifloordiv, cst.DivideAssign: operator.itruediv,
               cst.ModuloAssign: operator.imod, cst.PowerAssign: operator.ipow}
        fn = ops.get(type(operator_node))
        if fn is None or left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        try:
            result = fn(left, right)
        except Exception:  # noqa: BLE001 - a value we cannot fold is unknown
            return UNKNOWN
        if isinstance(left, SymInt) or isinstance(right, SymInt):
            text = f"{_code_of(left)} {code(operator_node).strip()} {_code_of(right)}"
            return SymInt(int(result), text) if isinstance(result, int) else result
        return result

    def binary(self, op: str, left, right, left_src: str, right_src: str) -> KTensor:
        fns = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "@": operator.matmul}
        if op not in fns:
            raise Untranslatable(f"the operator '{op}' on tensors is not translated yet")
        if isinstance(left, KTensor) and isinstance(right, KTensor):
            layout = left.layout if left.rank == right.rank else TORCH_ORDER
            if op == "@":
                layout = TORCH_ORDER
            left, right = to_layout(left, layout), to_layout(right, layout)
        try:
            meta = fns[op](_meta(left), _meta(right))
        except Exception as exc:  # noqa: BLE001 - shapes that do not broadcast
            raise Untranslatable(f"'{left_src} {op} {right_src}': {str(exc).splitlines()[0][:100]}") from None
        tensor = left if isinstance(left, KTensor) else right
        layout = tensor.layout if meta.dim() == tensor.rank else TORCH_ORDER
        a = left.expr if isinstance(left, KTensor) else _scalar_code(left, left_src)
        b = right.expr if isinstance(right, KTensor) else _scalar_code(right, right_src)
        return KTensor(f"{_operand(a, op, False)} {op} {_operand(b, op, True)}", meta, layout)

    def list_comp(self, node: cst.ListComp | cst.GeneratorExp, env: dict):
        comp = node.for_in
        if comp.inner_for_in is not None or comp.ifs:
            return UNKNOWN
        items = self.eval(comp.iter, env)
        if isinstance(items, Seq | ModList):
            items = items.items
        if not isinstance(items, list | tuple | range):
            return UNKNOWN
        out = []
        for item in items:
            scope = dict(env)
            self.assign(comp.target, item, scope)
            out.append(self.eval(node.elt, scope))
        return out

    def attribute(self, node: cst.Attribute, env: dict):
        key = code(node)
        if key in env:
            return env[key]
        if key == "self.training":
            return _TRAINING
        qual = self.tf.qualified(node) or ""
        if qual.startswith("torch.") and qual.count(".") == 1:  # torch.long, torch.float32: a dtype
            import torch

            value = getattr(torch, qual[len("torch."):], None)
            if isinstance(value, torch.dtype):
                return value
        base = self.eval(node.value, env)
        name = node.attr.value
        if isinstance(base, Instance):
            if name in base.attrs:
                return base.attrs[name]
            if name in base.cls.methods:
                return Method(base, base.cls.methods[name])
            if name in base.cls.attrs:
                return base.cls.attrs[name]
            return UNKNOWN
        if isinstance(base, ClassInfo):
            return base.attrs.get(name, UNKNOWN)
        if isinstance(base, ConfigValue):
            return base.values.get(name, UNKNOWN)
        if name in ("append", "extend") and isinstance(base, list | ModList):
            return _ListAppend(base.items if isinstance(base, ModList) else base, name == "extend")
        if isinstance(base, KTensor):
            if name == "shape":
                return _Shape(base)
            if name == "ndim":
                return base.rank
            if name in ("dtype", "device"):  # passed on to ops that create tensors like this one
                return getattr(base.meta, name)
            return _BoundTensorMethod(base, name)
        if isinstance(base, Leaf) and hasattr(base.module, name):
            value = getattr(base.module, name)
            return value if isinstance(value, int | float | tuple | bool) else UNKNOWN
        return UNKNOWN

    def subscript(self, node: cst.Subscript, env: dict):
        base = self.eval(node.value, env)
        if isinstance(base, TupleOut):
            index = self.eval(node.slice[0].slice.value, env) if isinstance(node.slice[0].slice, cst.Index) else None
            if index == 0:
                return base.items[0]
            raise Untranslatable("only the output (element 0) of this call is translated")
        if isinstance(base, Seq | ModList):
            index = self.eval(node.slice[0].slice.value, env) if isinstance(node.slice[0].slice, cst.Index) else None
            if isinstance(index, int):
                return base.items[index]
            raise Untranslatable("a module list indexed by a value the translator cannot read")
        if isinstance(base, _Shape):
            index = self.eval(node.slice[0].slice.value, env) if isinstance(node.slice[0].slice, cst.Index) else None
            if not isinstance(index, int):
                raise Untranslatable("x.shape indexed by a value the translator cannot read")
            return dim_size(base.t, index)
        if isinstance(base, KTensor):
            return self.tensor_slice(base, node, env)
        if isinstance(base, list | tuple) and len(node.slice) == 1:  # `x.size()[:-1]`, `cfg[2]`
            index = node.slice[0].slice
            if isinstance(index, cst.Index):
                i = self.eval(index.value, env)
                return base[int(i)] if isinstance(i, int) and -len(base) <= i < len(base) else UNKNOWN
            bounds = [None if b is None else self.eval(b, env) for b in (index.lower, index.upper, index.step)]
            if any(b is not None and not isinstance(b, int) for b in bounds):
                return UNKNOWN
            return base[slice(*bounds)]
        if isinstance(base, dict) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
            key = self.eval(node.slice[0].slice.value, env)  # cfgs["A"]: a configuration table
            return base[key] if isinstance(key, str | int) and key in base else UNKNOWN
        return UNKNOWN

    def tensor_slice(self, t: KTensor, node: cst.Subscript, env: dict) -> KTensor:
        t = to_layout(t, TORCH_ORDER)
        index = []
        names: dict[int, list] = {}  # index position -> the bounds written as names
        for el in node.slice:
            s = el.slice
            if isinstance(s, cst.Index):
                v = self.eval(s.value, env)
                if v is None:
                    index.append(None)
                elif isinstance(v, int):
                    index.append(int(v))
                else:
                    raise Untranslatable("a tensor index the translator cannot read")
            else:
                parts = [None if p is None else self.eval(p, env) for p in (s.lower, s.upper, s.step)]
                if any(p is UNKNOWN for p in parts):
                    raise Untranslatable("a tensor slice the translator cannot read")
                index.append(slice(*[None if p is None else int(p) for p in parts]))
                # a bound named in the source (`[:, :seq_length]`) keeps its name: the length may vary
                named = [code(p) if isinstance(p, cst.Name) and isinstance(env.get(p.value), int) else None
                         for p in (s.lower, s.upper, s.step)]
                if any(named):
                    names[len(index) - 1] = named
        try:
            meta = t.meta[tuple(index)]
        except Exception as exc:  # noqa: BLE001 - an index out of range for the shape
            raise Untranslatable(f"cannot index a tensor of shape {tuple(t.meta.shape)}: {exc}") from None
        text = ", ".join(_slice_code(i, names.get(k)) for k, i in enumerate(index))
        return KTensor(f"{atom(t.expr)}[{text}]", meta, TORCH_ORDER)

    # -- calls -----------------------------------------------------------------------------
    def call(self, node: cst.Call, env: dict):
        qual = self.tf.qualified(node.func)
        func = None if qual else self.eval(node.func, env)
        args, kwargs = self.arguments(node, env)
        if qual is not None:
            return self.library_call(node, qual, args, kwargs, env)
        if isinstance(func, ClassInfo):
            inst = self.instantiate(func, args, kwargs)
            return inst
        if isinstance(func, ConfigClass):
            return func.build(args, kwargs)
        if isinstance(func, Method):
            fn_args = [func.owner, *args] if func.owner is not None else args
            scope = self.bind(func.fn, fn_args, dict(kwargs))
            mode = "forward" if any(isinstance(v, KTensor) for v in [*args, *kwargs.values()]) else "init"
            result = None
            try:
                self.block(func.fn.body.body, scope, mode)
            except _Return as r:
                result = r.value
            if mode == "forward" and isinstance(result, KTensor):  # the caller calls the helper
                call_args = ", ".join(
                    v.expr if isinstance(v, KTensor) else "training" if v is _TRAINING else code(a.value)
                    for a, v in zip(node.args, args)
                )
                return KTensor(f"{code(node.func)}({call_args})", result.meta, result.layout)
            return result
        if isinstance(func, Leaf | Seq | Instance | ModList):
            return self.call_module(node, func, args, kwargs)
        if isinstance(func, _BoundTensorMethod):
            return self.tensor_method(node, func, args, kwargs)
        if isinstance(func, _ListAppend):
            if func.extend and not isinstance(args[0], list | tuple | Seq | ModList):
                raise Untranslatable(f"'{code(node.func)}' of something the translator cannot list")
            if func.extend:
                func.target.extend(args[0].items if isinstance(args[0], Seq | ModList) else args[0])
            else:
                func.target.append(args[0])
            return None
        if code(node.func) == "getattr" and len(args) in (2, 3) and not kwargs:
            return self.attribute_by_name(args, node)
        if code(node.func) in _BUILTINS:
            return _builtin(code(node.func), args)
        raise Untranslatable(f"call of '{code(node.func)}' is not translated yet")

    def attribute_by_name(self, args: list, node: cst.Call):
        """`getattr(self, f"layer{i}")`: the attribute, when the name is a constant (the call
        stays as written: Keras reads attributes the same way)."""
        owner, name = args[0], args[1]
        if not isinstance(name, str) or not isinstance(owner, Instance):
            raise Untranslatable(f"'{code(node)}': getattr of a name the translator cannot read")
        if name in owner.attrs:
            return owner.attrs[name]
        if len(args) == 3:
            return args[2]
        raise Untranslatable(f"'{code(node)}': the module has no attribute {name!r}")

    def arguments(self, node: cst.Call, env: dict) -> tuple[list, dict]:
        args, kwargs = [], {}
        for a in node.args:
            v = self.eval(a.value, env)
            if a.star == "*":
                if not isinstance(v, list | tuple):
                    raise Untranslatable(f"cannot expand '*{code(a.value)}' statically")
                args += list(v)
            elif a.star == "**":
                if not isinstance(v, dict):
                    raise Untranslatable(f"cannot expand '**{code(a.value)}' statically")
                kwargs.update(v)
            elif a.keyword is not None:
                kwargs[a.keyword.value] = v
            else:
                args.append(v)
        return args, kwargs

    def library_call(self, node: cst.Call, qual: str, args: list, kwargs: dict, env: dict):
        rules = self.tf.rules
        if qual.startswith("torch.nn.") and qual.count(".") == 2 and qual[len("torch.nn."):][:1].isupper():
            return self.construct(node, qual.rsplit(".", 1)[1], args, kwargs, env)
        op = rules.ops.get(qual)
        if op is not None:
            return self.op_call(node, op, qual, args, kwargs)
        if qual.startswith("math.") and qual[5:] in _MATH:  # pure arithmetic on constants
            if any(a is UNKNOWN or isinstance(a, KTensor) for a in [*args, *kwargs.values()]):
                raise Untranslatable(f"{qual} of a value the translator cannot read")
            return getattr(math, qual[5:])(*[_plain(a) for a in args])
        if qual in ("collections.OrderedDict",):
            pairs = args[0] if len(args) == 1 and not kwargs else None
            if not isinstance(pairs, list | tuple) or not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
                raise Untranslatable("OrderedDict(...) must be given a list of (name, module) pairs")
            return _OrderedPairs(list(pairs))
        raise Untranslatable(f"{qual} has no PyTorch -> Keras rule yet")

    def construct(self, node: cst.Call, cls: str, args: list, kwargs: dict, env: dict):
        if cls == "Sequential":
            if len(args) == 1 and isinstance(args[0], _OrderedPairs):
                items = [v for _, v in args[0].pairs]
            else:
                items = list(args)
            self.tf.record_call(node, SEQUENTIAL)
            return Seq(node, items)
        if cls in ("ModuleList",):
            if args and not isinstance(args[0], list | tuple):
                raise Untranslatable("nn.ModuleList of modules the translator cannot list (a size it cannot read?)")
            self.tf.record_call(node, MODULE_LIST)
            return ModList(node, list(args[0]) if args else [])
        rule = self.tf.rules.torch_layer(cls)
        if rule is None:
            raise Untranslatable(f"nn.{cls} has no PyTorch -> Keras rule yet")
        module, bound = _meta_module(cls, args, kwargs, node)
        ctx = TorchCtx(rule, cls, module, bound)
        raised = RAISINGS[rule.from_torch.raise_](ctx)
        for note in raised.notes:
            self.tf.diag(node, note, "PM002", "note")
        leaf = Leaf(node, cls, module, raised)
        self.tf.record_call(node, raised.keras, raised.general, env)
        return leaf

    def op_call(self, node: cst.Call, op, qual: str, args: list, kwargs: dict, self_tensor=None):
        import importlib

        values, codes, given = {}, {}, set()
        signature = list(op.signature)
        positional = ([self_tensor] if self_tensor is not None else []) + list(args)
        arg_nodes = ([None] if self_tensor is not None else []) + [a.value for a in node.args if a.keyword is None]
        for i, v in enumerate(positional):
            if i >= len(signature):
                raise Untranslatable(f"too many arguments for {qual}")
            name = signature[i]
            if name.startswith("*"):
                values[name[1:]] = tuple(positional[i:])
                codes[name[1:]] = [_arg_code(v, n) for v, n in zip(positional[i:], arg_nodes[i:])]
                given.add(name[1:])
                break
            values[name] = v
            given.add(name)
            if arg_nodes[i] is not None:
                codes[name] = _arg_code(v, arg_nodes[i])
        for a in node.args:
            if a.keyword is not None:
                name = a.keyword.value
                if name not in signature:
                    raise Untranslatable(f"argument '{name}' of {qual} is not in its rule")
                values[name] = kwargs[name]
                codes[name] = _arg_code(kwargs[name], a.value)
                given.add(name)
        # the torch result on meta tensors gives the output's shape and dtype
        if self_tensor is not None:
            fn = getattr(self_tensor.meta, qual.rsplit(".", 1)[1])
            meta_args = [_meta(v) for v in args]
        else:
            mod, _, attr = qual.rpartition(".")
            fn = getattr(importlib.import_module(mod), attr)
            meta_args = [_meta(v) for v in args]
        meta_kwargs = {k: _meta(v) for k, v in kwargs.items()}
        flat = [t for v in [*positional, *kwargs.values()] for t in (v if isinstance(v, list | tuple) else [v])]
        if not any(isinstance(t, KTensor) for t in flat):
            meta_kwargs["device"] = "meta"  # a factory (torch.rand(size)): make it where the rest is
        try:
            out = fn(*meta_args, **meta_kwargs)
        except Exception as exc:  # noqa: BLE001 - torch rejects the call: report it
            raise Untranslatable(f"{qual}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}") from None
        for name in signature:
            name = name.lstrip("*")
            if name not in values and name in op.defaults:
                values[name] = static_eval(cst.parse_expression(op.defaults[name]), {})
        return apply_op(OpCall(op, values, codes, out, given))

    def tensor_method(self, node: cst.Call, bound, args: list, kwargs: dict):
        op = self.tf.rules.ops.get(f"Tensor.{bound.name}")
        if op is None:
            raise Untranslatable(f"tensor method .{bound.name}() has no PyTorch -> Keras rule yet")
        return self.op_call(node, op, f"Tensor.{bound.name}", args, kwargs, self_tensor=bound.tensor)

    def call_module(self, node: cst.Call, mod, args: list, kwargs: dict):
        ref = code(node.func)
        if isinstance(mod, Instance):
            return self.call_instance(node, mod, args, kwargs)
        tensors = [a for a in args if isinstance(a, KTensor)]
        if not tensors or len(tensors) != len(args):
            raise Untranslatable(f"'{ref}' is called with something other than tensors")
        if isinstance(mod, Leaf):
            allowed = {"need_weights"} if mod.cls == "MultiheadAttention" else set()
            extra = set(kwargs) - allowed
            if extra:
                raise Untranslatable(f"argument(s) {sorted(extra)} of {mod.cls} are not translated yet")
            return self.apply_leaf(mod, tensors, ref)
        if isinstance(mod, Seq):
            x = tensors[0]
            for item in mod.items:
                x = self.apply_in_sequence(item, x)
            return KTensor(f"{ref}({tensors[0].expr})", x.meta, x.layout)
        raise Untranslatable(f"'{ref}' cannot be called")

    def apply_leaf(self, leaf: Leaf, tensors: list[KTensor], ref: str):
        raised = leaf.raised
        xs = [to_layout(t, raised.layout) if raised.layout != ANY else t for t in tensors]
        import torch

        try:
            with torch.no_grad():
                if leaf.cls == "MultiheadAttention":
                    out = leaf.module(*[t.meta for t in xs], need_weights=False)
                else:
                    out = leaf.module(*[t.meta for t in xs])
        except Exception as exc:  # noqa: BLE001 - torch rejects the input: say which layer and shape
            shapes = ", ".join(str(tuple(t.meta.shape)) for t in xs)
            raise Untranslatable(
                f"{ref} (nn.{leaf.cls}) rejects an input of shape {shapes}: {str(exc).splitlines()[0][:100]}; "
                "check --input-shape"
            ) from None
        meta = out[0] if isinstance(out, tuple) else out
        layout = xs[0].layout if meta.dim() >= 3 else TORCH_ORDER
        if raised.layout == CHANNELS_LAST and meta.dim() >= 3:
            layout = CHANNELS_LAST
        if callable(raised.call):
            template = raised.call([t.expr for t in xs])
        else:
            template = raised.call
        expr = template.replace("{m}", ref).replace("{x}", xs[0].expr)
        result = KTensor(expr, meta, layout)
        return TupleOut([result, UNKNOWN]) if raised.returns_tuple else result

    def apply_in_sequence(self, item, x: KTensor) -> KTensor:
        """One element of an nn.Sequential: its layout need is met by a Permute before it."""
        if isinstance(item, Seq):
            for sub in item.items:
                x = self.apply_in_sequence(sub, x)
            return x
        if isinstance(item, Instance):
            out = self.call_instance(None, item, [x], {})
            return out
        if not isinstance(item, Leaf):
            raise Untranslatable("an nn.Sequential element the translator cannot follow")
        want = item.raised.layout
        if item.raised.call != "{m}({x})":
            raise Untranslatable(f"nn.{item.cls} with these arguments cannot sit inside nn.Sequential in Keras yet")
        if want != ANY and x.rank >= 3 and x.layout != want:
            permute = permute_layer(x.rank, want == CHANNELS_LAST)
            general = item.raised.general and f"keras.Sequential([{permute}, {item.raised.general}])"
            self.tf.record_call(item.node, f"keras.Sequential([{permute}, {item.raised.keras}])", general)
            self.tf.call_texts[id(item.node)].discard(item.raised.keras)
            self.tf.general_texts[id(item.node)].discard(item.raised.general)
            x = KTensor(x.expr, x.meta, want)
        out = self.apply_leaf(item, [x], "_")
        return out.items[0] if isinstance(out, TupleOut) else out

    def call_instance(self, node, inst: Instance, args: list, kwargs: dict):
        forward = inst.cls.methods.get("forward")
        if forward is None and inst.cls.sequential:
            items = inst.attrs.get("__items__")
            if not isinstance(items, Seq):
                raise Untranslatable(f"{inst.cls.name}: its modules are not passed to super().__init__")
            x = self.apply_in_sequence(items, args[0]) if len(args) == 1 and not kwargs else None
            if x is None:
                raise Untranslatable(f"{inst.cls.name} (an nn.Sequential) is called with one tensor only")
            return x if node is None else KTensor(f"{code(node.func)}({args[0].expr})", x.meta, x.layout)
        if forward is None:
            raise Untranslatable(f"{inst.cls.name} has no forward()")
        scope = self.bind(forward, [inst, *args], dict(kwargs))
        result = None
        try:
            self.block(forward.body.body, scope, "forward")
        except _Return as r:
            result = r.value
        if not isinstance(result, KTensor | tuple | list):
            raise Untranslatable(f"could not follow {inst.cls.name}.forward(); see its TODOs")
        if node is None:
            return result
        ref = code(node.func)
        call_args = ", ".join(code(a.value) if not isinstance(v, KTensor) else v.expr for a, v in zip(node.args, args))
        if isinstance(result, KTensor):
            return KTensor(f"{ref}({call_args})", result.meta, result.layout)
        raise Untranslatable(f"{inst.cls.name}.forward() returning several tensors is not translated yet")


_TRAINING = type("Training", (), {"__repr__": lambda self: "self.training", "__bool__": lambda self: False})()


@dataclass
class _Shape:
    """`x.shape` of a tensor: indexed, it gives `dim_size`."""

    t: KTensor


@dataclass
class _BoundTensorMethod:
    tensor: KTensor
    name: str


@dataclass
class _ListAppend:
    """`layers.append` / `layers.extend` of a list of modules being built."""

    target: list
    extend: bool = False


@dataclass
class _OrderedPairs:
    pairs: list


INIT_DROPPED = (
    "the port's weights come from the checkpoint (portmodel weights); to train from scratch, "
    "give the Keras layers matching initializers (kernel_initializer=...)"
)


def _literal(node) -> Any:
    """A literal written in the source (dicts, lists, numbers, strings), or UNKNOWN."""
    import ast

    try:
        return ast.literal_eval(code(node))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return UNKNOWN


def sequential_elements(node: cst.Call) -> list[cst.BaseExpression] | cst.BaseExpression:
    """Elements of nn.Sequential(a, b) / nn.Sequential(OrderedDict([...])), or the list
    expression of nn.Sequential(*layers)."""
    if node.args and node.args[0].star == "*":
        return node.args[0].value
    if len(node.args) == 1 and isinstance(node.args[0].value, cst.Call):
        inner = node.args[0].value
        if code(inner.func).endswith("OrderedDict") and inner.args and isinstance(inner.args[0].value, cst.List | cst.Tuple):
            return [
                el.value.elements[1].value
                for el in inner.args[0].value.elements
                if isinstance(el.value, cst.Tuple) and len(el.value.elements) == 2
            ]
    return [a.value for a in node.args]


def _meta_module(cls: str, args: list, kwargs: dict, node: cst.Call):
    """Build torch.nn.<cls> on the meta device; bind the arguments as written."""
    import torch
    from torch import nn

    ctor = getattr(nn, cls, None)
    if ctor is None:
        raise Untranslatable(f"torch.nn has no '{cls}'")
    values = [_plain(v) for v in args]
    kw = {k: _plain(v) for k, v in kwargs.items()}
    if any(v is UNKNOWN for v in [*values, *kw.values()]):
        raise Untranslatable(f"nn.{cls}: an argument is not a constant the translator can read")
    try:
        with torch.device("meta"):
            module = ctor(*values, **kw)
    except Exception as exc:  # noqa: BLE001 - torch rejects the arguments: report it
        raise Untranslatable(f"nn.{cls}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}") from None
    params = [p.name for p in inspect.signature(ctor.__init__).parameters.values() if p.name != "self"]
    if "args" in params:  # nn.LSTM/GRU/RNN take *args: their documented order
        params = _RNN_PARAMS
    bound: dict[str, Arg] = {}
    positional = [a for a in node.args if a.keyword is None]
    for p, a, v in zip(params, positional, values):
        bound[p] = Arg(v, code(a.value))
    for a in node.args:
        if a.keyword is not None:
            bound[a.keyword.value] = Arg(kw[a.keyword.value], code(a.value))
    return module.eval(), bound


_RNN_PARAMS = ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional"]


def _plain(v):
    if isinstance(v, SymInt):
        return int(v)
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _meta(v):
    if isinstance(v, KTensor):
        return v.meta
    if isinstance(v, list | tuple):
        return type(v)(_meta(x) for x in v)
    return _plain(v)


def _plain_env(env: dict) -> dict:
    return {k: v for k, v in env.items() if isinstance(v, int | float | str | bool | tuple | list) or v is None}


def _code_of(v) -> str:
    return v.code if isinstance(v, SymInt) else repr(v)


def _scalar_code(v, src: str) -> str:
    if isinstance(v, SymInt):
        return v.code
    if isinstance(v, int | float):
        return src if _is_plain_source(src) else repr(v)
    raise Untranslatable(f"'{src}' in tensor arithmetic is not a value the translator can follow")


def _is_plain_source(src: str) -> bool:
    return not any(root in src for root in ("torch", "F.", "nn."))


def _arg_code(value, node) -> str | None:
    if isinstance(value, SymInt):
        return value.code
    src = code(node)
    if _is_plain_source(src) and not isinstance(value, KTensor):
        return src
    return repr(_plain(value))


def _reads_sizes(node) -> bool:
    """The expression reads a tensor's sizes with torch's `x.size()` (Keras tensors have none;
    `x.shape[0]` is written as it is)."""
    return any(isinstance(n, cst.Attribute) and n.attr.value == "size" for n in _walk(node))


def _slice_code(i, names: list | None = None) -> str:
    if i is None:
        return "None"
    if isinstance(i, int):
        return str(i)
    names = names or [None, None, None]
    parts = [names[k] or ("" if p is None else str(p)) for k, p in enumerate((i.start, i.stop))]
    text = ":".join(parts)
    step = names[2] or i.step
    return text + (f":{step}" if step is not None else "")


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2}


def _operand(expr: str, op: str, right: bool) -> str:
    try:
        node = cst.parse_expression(expr)
    except cst.ParserSyntaxError:
        return f"({expr})"
    if isinstance(node, cst.BinaryOperation) and not node.lpar:
        inner = _PRECEDENCE.get(code(node.operator).strip(), 0)
        mine = _PRECEDENCE[op]
        if inner < mine or (right and inner == mine):
            return f"({expr})"
    return expr


_BUILTINS = ("range", "len", "int", "float", "round", "min", "max", "sum", "abs", "tuple", "list", "enumerate", "zip")


def _builtin(name: str, args: list):
    if any(a is UNKNOWN for a in args):
        return UNKNOWN
    plain = [_plain(a) for a in args]
    fns = {"range": range, "len": len, "int": int, "float": float, "round": round, "min": min, "max": max,
           "sum": sum, "abs": abs, "tuple": tuple, "list": list, "enumerate": lambda x: list(enumerate(x)),
           "zip": lambda *x: list(zip(*x))}
    if name in ("enumerate", "zip", "list", "tuple"):
        plain = [a.items if isinstance(a, Seq | ModList) else a for a in args]
    try:
        return fns[name](*plain)
    except Exception:  # noqa: BLE001
        return UNKNOWN


def static_eval_comparison(it: Interpreter, node: cst.Comparison, env: dict):
    left = it.eval(node.left, env)
    ops = {cst.Equal: operator.eq, cst.NotEqual: operator.ne, cst.LessThan: operator.lt,
           cst.GreaterThan: operator.gt, cst.LessThanEqual: operator.le, cst.GreaterThanEqual: operator.ge,
           cst.Is: operator.is_, cst.IsNot: operator.is_not}
    for target in node.comparisons:
        right = it.eval(target.comparator, env)
        fn = ops.get(type(target.operator))
        if fn is None or left is UNKNOWN or right is UNKNOWN or isinstance(left, KTensor):
            return UNKNOWN
        if not fn(_plain(left) if not isinstance(left, Instance | Seq | Leaf) else left,
                  _plain(right) if not isinstance(right, Instance | Seq | Leaf) else right):
            return False
        left = right
    return True


__all__ = ["Interpreter", "KTensor", "TorchFile", "boundary_layout"]
