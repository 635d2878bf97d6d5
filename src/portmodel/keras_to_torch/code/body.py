"""One Keras model function as an `nn.Module` class: `__init__` and `forward` from one body.

Every statement is translated once, for every value of the function's parameters:
- a layer applied to a tensor builds its module in `__init__` (under the Keras layer's
  name: `self.block1_conv1`, or `self.layers[f"{name}_1_conv"]` where the name is computed)
  and calls it in `forward`; layers without weights are functions in `forward`;
- a tensor helper (or a parameter called on a tensor, `stack_fn(x)`) is a module class
  built with the tensor's channel count in place of the tensor;
- the channel count of each tensor variable `x` is bookkept in `__init__` as `x_channels`,
  real code, so branches and loops over any argument give the right sizes; in a file whose
  code reads a spatial size where `__init__` needs it (`p.shape[img_dim] != ip.shape[img_dim]`
  choosing the modules to build), the spatial sizes too, as `x_size` (a tuple, None where
  the builder leaves them open): helpers then take `x_size=` beside `x_channels` and expose
  `self.out_size`; a tensor that may be None (`p = None`) has `p_channels = None`;
- branches and loops are kept in both methods; a branch the port fixes (`input_tensor`
  is always None: the module takes its input in `forward`; `image_data_format()` is
  "channels_last") is resolved;
- other statements (validation, sizes, names) stay in `__init__`, and are copied into
  `forward` where its tensors need them; loading Keras weights becomes a clear error.
"""

from __future__ import annotations

import ast
import keyword
import operator
import re
from dataclasses import dataclass, field

import libcst as cst

from ...core.errors import Diagnostic
from ...core.identifiers import keras_snake
from ..hooks import Untranslatable
from ..values import code
from .functions import FileFunctions, Function, own_nodes
from .ir import Block, Line, has_code, inline_counts, live_in, merge_branches, prune, render, stores
from .layers import (
    CORRECT_PAD,
    CORRECT_PAD_SIZE,
    GET_UID,
    KERAS_ONLY,
    LAYER_KEY,
    SEVERAL_INPUTS,
    SUM_OF_INPUTS,
    UNKNOWN_CHANNELS,
    UNKNOWN_SIZE,
    WRITERS,
    Applied,
    Args,
    Sequence,
    activation,
    paren,
)

TODO = "# portmodel: TODO"
# what Keras' graph plumbing evaluates to in the port
PLUMBING = {"keras.backend.image_data_format": "channels_last", "keras.config.image_data_format": "channels_last"}
# calls that take the builder's `input_tensor`: a Keras tensor, which a torch module never takes
KERAS_TENSOR_CALLS = {"keras.backend.is_keras_tensor", "keras.ops.operation_utils.get_source_inputs",
                      "keras.utils.get_source_inputs"}
# Keras functions of a tensor, as the port's support functions (channels-first tensors)
KERAS_FUNCTIONS = {"keras.applications.imagenet_utils.correct_pad": CORRECT_PAD}
# the same, as `__init__`'s size bookkeeping computes them from the tensor's size (`x_size`)
KERAS_SIZE_FUNCTIONS = {"keras.applications.imagenet_utils.correct_pad": CORRECT_PAD_SIZE}
# Keras calls of plain values, as the port's support functions
KERAS_VALUES = {"keras.backend.get_uid": GET_UID, "keras.utils.get_uid": GET_UID}
DOWNLOADS = {"keras.utils.get_file", "keras.utils.file_utils.get_file"}
WEIGHTS_ERROR = (
    'raise ValueError("pretrained Keras weights are not loaded into the PyTorch port: build it with '
    'weights=None and convert the checkpoint with `portmodel weights CHECKPOINT --to torch` (docs/weights.md)")'
)
# attributes every nn.Module has: a parameter or layer of these names is stored under another
RESERVED = frozenset({
    "training", "forward", "parameters", "modules", "children", "apply", "cuda", "cpu", "to", "train", "eval",
    "float", "half", "double", "type", "state_dict", "load_state_dict", "register_buffer", "add_module",
    "register_parameter", "zero_grad", "extra_repr", "named_modules", "named_parameters", "buffers",
    "named_buffers", "requires_grad_", "get_submodule", "layers", "out_channels", "bfloat16", "compile",
})
_UNSET = object()
_ARITHMETIC = {cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul,
               cst.Divide: operator.truediv, cst.FloorDivide: operator.floordiv, cst.Modulo: operator.mod}


@dataclass
class Tensor:
    rank: int | None
    known: bool = True  # its channel count is known when __init__ runs (not after a Flatten)
    listed: bool = False  # a list of tensors (`branches = [b1, b2]`): channels are their sum
    sized: bool = True  # its spatial size is known when __init__ runs (the size bookkeeping)


@dataclass
class Out:
    """A tensor expression translated: `__init__` lines, the `forward` text, channels
    (an `__init__` expression, or UNKNOWN_CHANNELS) and rank."""

    init: list
    fwd: str
    channels: str
    rank: int | None
    listed: bool = False  # a list of tensors (its channels: their sum)
    size: str = UNKNOWN_SIZE  # its spatial size, an `__init__` expression (files with size bookkeeping)


@dataclass
class Slot:
    """Where a module goes: `build(module)` (`__init__`'s statement), `ref` (`forward`'s
    reference) and `init_ref` (`__init__`'s reference, after it is built)."""

    init: str
    ref: str
    init_ref: str
    close: str = ""

    def build(self, module: str) -> str:
        return f"{self.init}{module}{self.close}"


@dataclass
class ClassWriter:
    files: FileFunctions
    rules: object
    fn: Function
    path: str
    positions: object
    diagnostics: list[Diagnostic] = field(default_factory=list)
    tensors: dict[str, Tensor] = field(default_factory=dict)
    consts: dict[str, object] = field(default_factory=dict)
    pinned: dict[str, object] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    model_var: str | None = None
    attrs: set[str] = field(default_factory=set)
    uses_dict: bool = False
    sequences: list[str] = field(default_factory=list)  # ModuleLists of layers built in loops, unnamed
    ordered: bool = False  # forward takes self.layers in order (some names may be None)
    made_lists: list[str] = field(default_factory=list)  # ModuleLists made before their loop
    loop_list: str | None = None  # the ModuleList of the outermost loop being translated
    lengths: dict[str, int] = field(default_factory=dict)  # names bound to a tuple of known length
    # names bound to a layer built before it is applied: (its output channels, None: its input's; rank;
    # its size, as Applied.size)
    layer_vals: dict[str, tuple] = field(default_factory=dict)
    # names bound to a module class built where applied: the loop depth it was made at, or -1 once applied
    makers: dict[str, int] = field(default_factory=dict)
    # lists of tensors (`skips.append(x)`, read `skips[i]`): their rank. `__init__`'s list of the
    # same name holds the channel counts, appended where forward appends the tensors
    stacks: dict[str, int | None] = field(default_factory=dict)
    loop_nodes: list = field(default_factory=list)  # the loops being translated, outermost first
    loops: int = 0
    translated: int = 0

    # -- entry ------------------------------------------------------------------------------

    def write(self, indent: str = "") -> str:
        fn = self.fn
        self.pinned = {p: None for p in self._keras_tensor_params()}
        ranks = self.files.param_ranks.get(fn.node, {})
        for p in fn.tensor_params:
            self.tensors[p] = Tensor(ranks.get(p))
        body = list(fn.node.body.body)
        doc = _docstring(body)
        if doc is not None:
            body = body[1:]
        init, fwd = self.block(body)
        if init and isinstance(init[-1], Line) and init[-1].text == "return":  # the last statement's
            init = init[:-1]
        fwd_params = self.inputs if fn.builder else fn.tensor_params
        if self.ordered:  # every module of self.layers is then taken in order
            fwd = _ordered(fwd)
        fwd = merge_branches(prune(fwd))
        free = live_in(fwd) - set(fwd_params) - {"self"}
        stored = [p for p in fn.params if p in free and p not in fn.tensor_params]
        assigned = stores(init)
        init = prune(inline_counts(init, lambda name, value: name.endswith("_channels") and (
            value.isdigit() or value in self.fn.params and value not in assigned)), keep={"self"})
        init = merge_branches(init)
        head = [Line(f"self.{_attr(p)} = {p}") for p in stored]
        if self.uses_dict:
            head.append(Line("self.layers = nn.ModuleDict()"))
        head += [Line(f"self.{a} = nn.ModuleList()") for a in self.sequences if a not in self.made_lists]
        guard = [
            Block([(f"if {p} is not None:", [Line(
                f'raise ValueError("{p}: a Keras tensor to build on; the PyTorch module takes its input in '
                'forward() instead")')])])
            for p in self.pinned
        ]
        fwd_head = [Line(f"{p} = self.{_attr(p)}") for p in stored]
        fwd_head += [Line(f"{a}_modules = iter(self.{a})") for a in self.sequences]
        if self.ordered:
            fwd_head.append(Line("modules = iter(self.layers.values())"))
        lines = [f"class {fn.name}(nn.Module):"]
        if doc is not None:
            lines.append(f"    {doc}\n")
        params = self._init_params()
        lines.append(f"    def __init__(self{', ' + params if params else ''}):")
        lines.append("        super().__init__()")
        text = render(guard + head + init, "        ")
        if text.strip():
            lines.append(text)
        lines.append("")
        lines.append(f"    def forward(self, {', '.join(fwd_params)}):")
        text = render(fwd_head + fwd, "        ")
        if not has_code(text):  # nothing, or TODO comments only
            text = (text + "\n" if text.strip() else "") + "        pass"
        lines.append(text)
        return "\n".join(indent + line if line else "" for line in "\n".join(lines).splitlines()) + "\n"

    def known_locals(self) -> dict[str, object]:
        """The values the engine knows of this function's locals bound once, at its top level
        (`bn_axis = 3 if backend.image_data_format() == "channels_last" else 1`): what its
        nested functions read from it (a layer factory's `apply`)."""
        counts: dict[str, int] = {}
        for node in self.fn.nodes:
            for target in (node.targets if isinstance(node, cst.Assign) else
                           [node] if isinstance(node, cst.AugAssign | cst.AnnAssign) else []):
                if isinstance(target.target, cst.Name):
                    counts[target.target.value] = counts.get(target.target.value, 0) + 1
        for stmt in self.fn.node.body.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(
                        small.targets[0].target, cst.Name) and counts.get(small.targets[0].target.value) == 1:
                    value = self.static(small.value)
                    if value is not _UNSET and not isinstance(value, Sequence):
                        self.consts[small.targets[0].target.value] = value
        return dict(self.consts)

    def _keras_tensor_params(self) -> list[str]:
        """Parameters the code hands to Keras as tensors (`input_tensor`): None in the port."""
        found = []
        for node in self.fn.nodes:
            if not isinstance(node, cst.Call):
                continue
            name = self.files.keras(node.func)
            args = [a for a in node.args if name in KERAS_TENSOR_CALLS or (
                self.files.is_input(node) and a.keyword is not None and a.keyword.value == "tensor")]
            for a in args:
                if isinstance(a.value, cst.Name) and a.value.value in self.fn.params and a.value.value not in found:
                    found.append(a.value.value)
        return found

    def _init_params(self) -> str:
        p = self.fn.node.params
        parts = []
        for param in p.posonly_params:
            parts.append(self._param(param))
        if p.posonly_params:
            parts.append("/")
        parts += [self._param(param) for param in p.params]
        if isinstance(p.star_arg, cst.Param):
            parts.append("*" + code(p.star_arg.with_changes(comma=cst.MaybeSentinel.DEFAULT)).lstrip("*"))
        elif p.kwonly_params:
            parts.append("*")
        parts += [self._param(param) for param in p.kwonly_params]
        if self.files.sizes:  # the tensors' spatial sizes, beside their channels
            parts += [f"{t}_size=None" for t in self.fn.tensor_params]
        if p.star_kwarg is not None:
            parts.append("**" + code(p.star_kwarg.with_changes(comma=cst.MaybeSentinel.DEFAULT)).lstrip("*"))
        return ", ".join(parts)

    def _param(self, param: cst.Param) -> str:
        name = param.name.value
        if name in self.fn.tensor_params:
            return f"{name}_channels"
        return code(param.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_param=cst.SimpleWhitespace("")))

    # -- statements -------------------------------------------------------------------------

    def block(self, stmts) -> tuple[list, list]:
        init, fwd = [], []
        for stmt in stmts:
            comments = [line.comment.value for line in getattr(stmt, "leading_lines", ()) if line.comment]
            try:
                i, f = self.statement(stmt)
            except Untranslatable as e:
                self.diag(stmt, str(e))
                todo = f"{TODO} {e}\n{_commented(stmt)}"
                i, f = [Line(todo)], ([Line(todo)] if self._mentions_tensor(stmt) else [])
            if comments:
                for nodes in (i, f):
                    if nodes:
                        nodes[0].comments = comments + nodes[0].comments
            init += i
            fwd += f
            if any(isinstance(n, Line) and n.text.startswith("raise ") for n in i):
                break  # what follows a raise in this block never runs
        return init, fwd

    def statement(self, stmt) -> tuple[list, list]:
        if isinstance(stmt, cst.SimpleStatementLine):
            init, fwd = [], []
            for small in stmt.body:
                i, f = self.small(small, stmt)
                init += i
                fwd += f
            return init, fwd
        if isinstance(stmt, cst.If):
            return self.if_(stmt)
        if isinstance(stmt, cst.For | cst.While):
            return self.loop(stmt)
        if isinstance(stmt, cst.FunctionDef):
            inner = self.fn.nested.get(stmt.name.value)
            if inner is not None and inner.is_model:
                text = ClassWriter(self.files, self.rules, inner, self.path, self.positions,
                                   consts=closure(self.consts, inner)).write()
                return [Line(text.rstrip("\n"), pure=True)], [Line(text.rstrip("\n"), pure=True)]
            return [Line(code(stmt).strip("\n"), pure=True)], [Line(code(stmt).strip("\n"), pure=True)]
        if isinstance(stmt, cst.With) and all(
            isinstance(i.item, cst.Call) and (self.files.keras(i.item.func) or "").startswith("keras.")
            and i.asname is None for i in stmt.items
        ):  # `with backend.name_scope(name):` names Keras' graph only
            return self.block(stmt.body.body)
        if self._mentions_tensor(stmt):
            raise Untranslatable(f"a `{type(stmt).__name__.lower()}` statement on tensors")
        return [Line(code(stmt).strip("\n"))], []

    def small(self, node, stmt) -> tuple[list, list]:
        if isinstance(node, cst.Assign) and len(node.targets) == 1:
            return self.assign(node.targets[0].target, node.value)
        if isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name) and node.target.value in self.tensors:
            value = cst.BinaryOperation(node.target, _binary(node.operator), node.value)
            return self.assign(node.target, value)
        if isinstance(node, cst.Return):
            return self.return_(node)
        if isinstance(node, cst.Expr):
            value = node.value
            if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and len(value.args) == 1 \
                    and isinstance(value.func.value, cst.Name) and value.func.value.value in self.fn.layer_lists \
                    and self.files.sequential(value.args[0].value) is not None:
                # `stages.append(keras.Sequential([...]))`: the list holds the Sequential's module class
                name = f"{value.func.value.value}_item"
                init, _ = self.maker(name, value.args[0].value, self.files.sequential(value.args[0].value))
                return init + [Line(f"{code(value.func)}({name})")], []
            appended = _appended(value)
            if appended in self.stacks or appended and self.is_tensor(value.args[0].value):
                return self.push(value)
            if self._model_method(node.value) or self._downloads(node.value):
                self.note(stmt, "loading pretrained Keras weights: a clear error in the port (use `portmodel weights`)")
                return [Line(WEIGHTS_ERROR)], []
            if self._mentions_tensor(node):
                raise Untranslatable("an expression statement on tensors")
            return [Line(code(node))], []
        if isinstance(node, cst.Pass):
            return [], []
        if isinstance(node, cst.Import | cst.ImportFrom):
            return [Line(code(node), pure=True)], [Line(code(node), pure=True)]
        if self._mentions_tensor(node):
            raise Untranslatable(f"`{code(node)}` on tensors")
        return [Line(code(node))], []

    def assign(self, target, value) -> tuple[list, list]:
        name = target.value if isinstance(target, cst.Name) else None
        if name is not None and self.files.is_input(value):
            return self.input_(name, value)
        if name is not None and self.files.is_model(value):
            return self.model(name, value)
        if name is not None and (self.files.unapplied_layer(value) or self.files.sequential(value) is not None):
            return self.layer_value(name, value)
        if self._downloads(value):
            self.note(value, "downloading pretrained Keras weights: a clear error in the port (use `portmodel weights`)")
            return [Line(WEIGHTS_ERROR)], []
        if name is not None and isinstance(value, cst.Name) and value.value == "None" and name in self._tensor_names():
            # a tensor that may be None (`p = None`, then `x, p = cell(x, p)`): its channels None too
            self.tensors[name] = Tensor(None)
            init = [Line(f"{name}_channels = None", pure=True)]
            if self.files.sizes:
                init.append(Line(f"{name}_size = None", pure=True))
            return init, [Line(f"{name} = None", pure=True)]
        if isinstance(value, cst.IfExp) and (self.is_tensor(value.body) or self.is_tensor(value.orelse)):
            # `x = a if c else b` on tensors: an if statement, so each branch builds its own modules
            def branch(v):
                return cst.IndentedBlock([cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(target)], v)])])

            def same(v):  # `p = p0 if c else p`: no `p = p` branch
                return isinstance(v, cst.Name) and v.value == name
            if same(value.orelse):
                return self.if_(cst.If(value.test, branch(value.body)))
            if same(value.body):
                return self.if_(cst.If(cst.UnaryOperation(cst.Not(), cst.ParenthesizedExpression(value.test)
                                                          if isinstance(value.test, cst.BooleanOperation) else value.test),
                                       branch(value.orelse)))
            return self.if_(cst.If(value.test, branch(value.body), cst.Else(branch(value.orelse))))
        if self.is_tensor(value):
            if name is None:
                return self.unpack(target, value)
            out = self.tensor(value)
            self.tensors[name] = Tensor(out.rank, out.channels != UNKNOWN_CHANNELS, out.listed, out.size != UNKNOWN_SIZE)
            init = list(out.init)
            if out.channels != f"{name}_channels":
                init.append(Line(f"{name}_channels = {out.channels or 'None'}", pure=True))
            if self.files.sizes and out.size != f"{name}_size":
                init.append(Line(f"{name}_size = {out.size or 'None'}", pure=True))
            return init, [Line(f"{name} = {out.fwd}", pure=True)] if out.fwd != name else []  # not `x = x`
        if self._mentions_model(value):
            raise Untranslatable(f"`{code(value)}`: a value the code engine does not follow")
        init_value, fwd_value = self.sides(value)
        if init_value is None:  # a value from a tensor that is no size: a layer without a rule, say
            raise Untranslatable(f"`{code(value)}`: a value the code engine does not follow")
        if name is not None:
            if isinstance(value, cst.Tuple | cst.List) and not any(
                    isinstance(e, cst.StarredElement) for e in value.elements):
                self.lengths[name] = len(value.elements)
            else:
                self.lengths.pop(name, None)
            literal = self.static(value)
            if literal is not _UNSET and self.loops == 0:
                self.consts[name] = literal
            else:
                self.consts.pop(name, None)
        # a call may validate (raise): kept in __init__ unless the engine knows its value
        has_call = any(isinstance(n, cst.Call) and not pure_call(n) for n in [value, *own_nodes(value)]) \
            and self.static(value) is _UNSET
        init = [Line(f"{code(target)} = {init_value}", pure=not has_call)] if init_value is not None else []
        fwd = [Line(f"{code(target)} = {fwd_value}", pure=True)] if fwd_value is not None else []
        return init, fwd

    def unpack(self, target, value) -> tuple[list, list]:
        """`x, p = cell(x, p)`: a helper giving several tensors, their channels a tuple."""
        names = [e.value.value for e in getattr(target, "elements", ()) if isinstance(e.value, cst.Name)]
        if not names or len(names) != len(target.elements) or not isinstance(value, cst.Call) \
                or self.files.helper(self.fn, value) is None:
            raise Untranslatable("tensors unpacked into several names from something other than a helper of the file")
        out = self.tensor(value)
        for n in names:
            self.tensors[n] = Tensor(out.rank, sized=out.size != UNKNOWN_SIZE)
        init = out.init + [Line(f"{', '.join(n + '_channels' for n in names)} = {out.channels}", pure=True)]
        if self.files.sizes:
            sizes = out.size or "(" + ", ".join("None" for _ in names) + ")"
            init.append(Line(f"{', '.join(n + '_size' for n in names)} = {sizes}", pure=True))
        return init, [Line(f"{', '.join(names)} = {out.fwd}", pure=True)]

    def _tensor_names(self) -> set[str]:
        """Names the function binds to tensors somewhere, unpacked ones too (`x, p = cell(x, p)`)."""
        names = self.files.local_tensors(self.fn)
        for node in self.fn.nodes:
            if isinstance(node, cst.Assign) and self.files.is_tensor(self.fn, node.value, names):
                names |= {e.value.value for t in node.targets if isinstance(t.target, cst.Tuple | cst.List)
                          for e in t.target.elements if isinstance(e.value, cst.Name)}
        return names

    def input_(self, name: str, call: cst.Call) -> tuple[list, list]:
        shape = _arg(call, "shape", 0)
        if shape is None or _arg(call, "tensor", None) is not None:
            raise Untranslatable("an Input without a shape, or on a given tensor")
        rank = len(shape.elements) + 1 if isinstance(shape, cst.Tuple | cst.List) else 4
        if rank != 4:
            self.tensors[name] = Tensor(rank)
        else:
            self.tensors[name] = Tensor(4)
        if name not in self.inputs:
            self.inputs.append(name)
        if isinstance(shape, cst.Tuple | cst.List):
            channels = code(shape.elements[-1].value)
            spatial = [code(e.value) for e in shape.elements[:-1]]
            size = "(" + ", ".join(spatial) + ("," if len(spatial) == 1 else "") + ")"
        else:
            channels = f"{code(shape)}[-1]"
            size = f"tuple({code(shape)}[:-1])"
        init = [Line(f"{name}_channels = {channels}", pure=True)]
        if self.files.sizes:
            init.append(Line(f"{name}_size = {size}", pure=True))
        # a sequence comes in as Keras gives it, (batch, steps, channels); inside, channels first
        return init, [Line(f"{name} = {name}.transpose(1, 2)")] if rank == 3 else []

    def model(self, name: str, call: cst.Call) -> tuple[list, list]:
        outputs = _arg(call, "outputs", 1)
        if outputs is None:
            raise Untranslatable("a model without outputs")
        self.model_var = name
        out = self.tensor(outputs)
        fwd = out.fwd
        if out.rank == 3:  # a sequence goes out as Keras gives it, (batch, steps, channels)
            if out.listed or isinstance(outputs, cst.List | cst.Tuple):
                raise Untranslatable("a model with several outputs, sequences among them")
            fwd = f"{_atom(fwd)}.transpose(1, 2)"
        return out.init + self._outs(out.channels or "None", out.size), [Line(f"return {fwd}")]

    def _outs(self, channels: str, size: str) -> list:
        """`self.out_channels = ...`, and `self.out_size = ...` where the file keeps sizes."""
        lines = [Line(f"self.out_channels = {channels}")]
        if self.files.sizes:
            lines.append(Line(f"self.out_size = {size or 'None'}"))
        return lines

    def return_(self, node: cst.Return) -> tuple[list, list]:
        """The returned tensors' channels kept (`self.out_channels`); `__init__` returns there too,
        so a branch that returns builds no more than forward's branch runs."""
        init, fwd = self._returned(node)
        return (init + [Line("return")] if init else init), fwd

    def _returned(self, node: cst.Return) -> tuple[list, list]:
        value = node.value
        if value is None or (isinstance(value, cst.Name) and value.value == self.model_var):
            return [], []
        if self.files.is_model(value):  # `return keras.Model(inputs, x)`
            return self.model("model", value)
        if isinstance(value, cst.Tuple) and self.is_tensor(value):  # several tensors
            outs = [self.tensor(e.value) for e in value.elements]
            channels = ", ".join(o.channels or "None" for o in outs)
            sizes = ", ".join(o.size or "None" for o in outs)
            return ([line for o in outs for line in o.init] + self._outs(f"({channels})", f"({sizes})"),
                    [Line(f"return {', '.join(o.fwd for o in outs)}")])
        if not self.is_tensor(value):
            raise Untranslatable("a model function returning something other than a tensor")
        out = self.tensor(value)
        return out.init + self._outs(out.channels or "None", out.size), [Line(f"return {out.fwd}")]

    def if_(self, node: cst.If) -> tuple[list, list]:
        decided = self.decide(node.test)
        if decided is not _UNSET:
            if decided:
                return self.block(node.body.body)
            if isinstance(node.orelse, cst.If):
                return self.if_(node.orelse)
            if isinstance(node.orelse, cst.Else):
                return self.block(node.orelse.body.body)
            return [], []
        init_branches, fwd_branches, states = [], [], []
        before = (dict(self.tensors), dict(self.consts))
        branch, keyword = node, "if"
        unread = None  # a test on tensors `__init__` cannot read (its branches must build nothing)
        while branch is not None:
            self.tensors, self.consts = dict(before[0]), dict(before[1])
            if isinstance(branch, cst.If):
                init_test, fwd_test = self.sides(branch.test)
                if init_test is None or fwd_test is None:
                    unread = unread or branch.test
                    init_test = fwd_test = code(branch.test)
                init_header, fwd_header = f"{keyword} {init_test}:", f"{keyword} {fwd_test}:"
            else:
                init_header = fwd_header = "else:"
            body = branch.body.body
            i, f = self.block(body)
            init_branches.append((init_header, i))
            fwd_branches.append((fwd_header, f))
            states.append(self.tensors)
            if isinstance(branch, cst.If):
                nxt = branch.orelse
                keyword = "elif"
                branch = nxt if isinstance(nxt, cst.If | cst.Else) else None
            else:
                branch = None
        if unread is not None and any(_builds(b) for _, b in init_branches):
            self.tensors, self.consts = before
            raise Untranslatable(f"`{code(unread)}`: a test on tensors `__init__` cannot read chooses the "
                                 "modules to build")
        if init_branches[-1][0] != "else:":
            states.append(before[0])  # no else: the tensors as they were may come out
        self.tensors = _join(states)
        self.consts = {k: v for k, v in before[1].items() if not any(
            k in stores([*b]) for _, b in init_branches)}
        texts = {render(b, "") for _, b in init_branches}
        if init_branches[-1][0] == "else:" and len(texts) == 1 and next(iter(texts)).startswith("raise "):
            init = init_branches[0][1]  # every branch raises the same error
        else:
            init = [Block(init_branches)]
        return init, [Block(fwd_branches)]

    def loop(self, node) -> tuple[list, list]:
        if node.orelse is not None:
            raise Untranslatable("a loop with an else branch")
        header = (f"for {code(node.target)} in {code(node.iter)}:" if isinstance(node, cst.For)
                  else f"while {code(node.test)}:")
        for n in own_nodes(node):
            if isinstance(n, cst.AssignTarget | cst.AugAssign) and isinstance(n.target, cst.Name):
                self.consts.pop(n.target.value, None)
        self.loops += 1
        self.loop_nodes.append(node)
        before = len(self.sequences)
        outer = self.loops == 1
        if outer:
            self.loop_list = None
        try:
            init, fwd = self.block(node.body.body)
        finally:
            self.loops -= 1
            self.loop_nodes.pop()
        # ModuleLists filled by this loop are made just before it (registration follows the code)
        made = [Line(f"self.{a} = nn.ModuleList()") for a in self.sequences[before:]] if self.loops == 0 else []
        if self.loops == 0:
            self.made_lists += self.sequences[before:]
        return made + [Block([(header, init)])], [Block([(header, fwd)])]

    # -- tensors ----------------------------------------------------------------------------

    def is_tensor(self, node) -> bool:
        if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and node.value.value in self.stacks \
                or isinstance(node, cst.Name) and node.value in self.stacks:
            return True
        return self.files.is_tensor(self.fn, node, set(self.tensors))

    def push(self, call: cst.Call) -> tuple[list, list]:
        """`skips.append(x)`: forward's list gets the tensor, `__init__`'s its channel count."""
        name, out = call.func.value.value, self.tensor(call.args[0].value)
        if name in self.tensors:
            raise Untranslatable(f"`{name}`: a list of tensors built as a literal, then appended to")
        if self.files.sizes:
            raise Untranslatable(f"`{name}`: a list of tensors in a file that bookkeeps spatial sizes")
        known = self.stacks.get(name)
        if known is not None and out.rank is not None and known != out.rank or out.listed:
            raise Untranslatable(f"`{name}`: a list of tensors of different ranks, or of lists")
        self.stacks[name] = known if known is not None else out.rank  # None: a helper's argument
        return out.init + [Line(f"{name}.append({out.channels or 'None'})")], [Line(f"{name}.append({out.fwd})")]

    def tensor(self, node) -> Out:
        if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and node.value.value in self.stacks:
            if any(isinstance(e.slice, cst.Slice) or self._mentions_tensor(e) for e in node.slice):
                raise Untranslatable(f"`{code(node)}`: a list of tensors sliced, or indexed by a tensor")
            return Out([], code(node), code(node), self.stacks[node.value.value])  # `__init__`'s list: channels
        if isinstance(node, cst.Name) and node.value in self.stacks:  # the whole list (`Concatenate()(skips)`)
            return Out([], node.value, f"sum({node.value})", self.stacks[node.value], listed=True)
        if isinstance(node, cst.Name) and node.value in self.tensors:
            t = self.tensors[node.value]
            return Out([], node.value, f"{node.value}_channels" if t.known else UNKNOWN_CHANNELS, t.rank, t.listed,
                       f"{node.value}_size" if t.sized else UNKNOWN_SIZE)
        applied = self.files.applied_layer(node)
        if applied is not None:
            return self.layer(node, *applied)
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and len(node.args) == 1 \
                and node.func.value in self.files.module_sequentials and node.func.value not in self.makers \
                and node.func.value not in self.fn.params:  # a module-level Sequential, applied here
            seq = self.files.module_sequentials[node.func.value]
            made, _ = self.maker(node.func.value, seq, self.files.sequential(seq))
            out = self.maker_call(node)
            return Out(made + out.init, out.fwd, out.channels, out.rank)
        if isinstance(node, cst.Call) and len(node.args) == 1 and (
                isinstance(node.func, cst.Name) and node.func.value in self.makers
                or isinstance(node.func, cst.Subscript) and isinstance(node.func.value, cst.Name)
                and node.func.value.value in self.fn.layer_lists):
            return self.maker_call(node)
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in self.layer_vals \
                and len(node.args) == 1:  # `layer(x)`, the layer built before
            ins = self.tensor(node.args[0].value)
            channels, rank, size = self.layer_vals[node.func.value]
            return Out(ins.init, f"{node.func.value}({ins.fwd})", ins.channels if channels is None else channels,
                       rank or ins.rank, size=_size_after(size, ins.size))
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Call) and self.files.unapplied_layer(node.func) \
                and len(node.args) == 1:  # one of the file's Layer subclasses: `CustomScaleLayer(scale)([x, up])`
            return self.custom_layer(node)
        made = self.files.made(self.fn, node)
        if made:
            if len({tuple(m.params) for m in made}) != 1:
                raise Untranslatable(f"`{code(node.func)}`: layer factories whose layers take different arguments")
            return self.module_call(node, made[0], node.func)
        helper = self.files.helper(self.fn, node)
        if helper is not None or (isinstance(node, cst.Call) and isinstance(node.func, cst.Name)
                                  and node.func.value in self.fn.makers):
            return self.module_call(node, helper)
        if isinstance(node, cst.List | cst.Tuple) and node.elements:
            items = [self.tensor(e.value) for e in node.elements]
            channels = UNKNOWN_CHANNELS if any(i.channels == UNKNOWN_CHANNELS for i in items) else \
                " + ".join(i.channels for i in items)
            text = ", ".join(i.fwd for i in items)
            return Out([line for i in items for line in i.init], f"[{text}]", channels, items[0].rank, listed=True,
                       size=items[0].size)
        if isinstance(node, cst.BinaryOperation):
            left = self.tensor(node.left) if self.is_tensor(node.left) else None
            right = self.tensor(node.right) if self.is_tensor(node.right) else None
            first = left or right
            lt = left.fwd if left else code(node.left)
            rt = right.fwd if right else code(node.right)
            op = code(node.operator).strip()
            return Out((left.init if left else []) + (right.init if right else []), f"{lt} {op} {rt}",
                       first.channels, first.rank, size=first.size)
        raise Untranslatable(f"`{code(node)}` is not a tensor expression the code engine follows")

    def layer(self, node: cst.Call, ctor_args, value, cls: str) -> Out:
        rule = self.rules.layers[cls]
        write = WRITERS.get(rule.lower)
        if write is None:
            raise Untranslatable(f"layers.{cls} has no code writer yet")
        items = value.elements if isinstance(value, cst.List | cst.Tuple) else [value]
        called = [a.value for a in node.args if not a.keyword and not a.star] if isinstance(node.func, cst.Call) else []
        if len(called) > 1:  # `attention(query, value)`: a layer taking several tensors as arguments
            if rule.lower not in SEVERAL_INPUTS:
                raise Untranslatable(f"layers.{cls} called with more than its input")
            items = called
        ins = [self.tensor(i.value if isinstance(i, cst.BaseElement) else i) for i in items]
        given, static, name = self.bind(ctor_args, rule.signature)
        first = ins[0]
        args = Args(given, first.rank, first.channels, self.rules, static, self.sized_args, rule, cls, len(ins))
        applied: Applied = write(args)
        if applied.note:
            self.note(node, applied.note)
        if applied.module is not None and any(t in applied.module for t in self.forward_only):
            raise Untranslatable(f"layers.{cls}: an argument computed from a tensor sizes its weights")
        init = [line for i in ins for line in i.init]
        x = _atom(first.fwd) if re.search(r"\{x\}[.\[]", applied.call) else first.fwd  # `(x + y).movedim(...)`
        xs = first.fwd if first.listed and len(ins) == 1 else "[" + ", ".join(i.fwd for i in ins) + "]"
        if applied.module is not None:
            slot = self.key(name, keras_snake(cls))
            init.append(Line(slot.build(applied.module)))
            call = applied.call.format(m=slot.ref, x=x, xs=xs, **{f"x{i}": t.fwd for i, t in enumerate(ins)})
        elif applied.join and first.listed and len(ins) == 1:  # `layers.Add()(branches)`
            raise Untranslatable(f"a merge ({applied.join.strip()}) of a list variable")
        elif applied.join:
            call = applied.join.join(paren(i.fwd) for i in ins)
        else:
            call = applied.call.format(x=x, xs=xs)
        rank = applied.rank or first.rank
        if rule.activation and args.text("activation") is not None:
            call = activation(self.rules, args.text("activation"), call, rank)
        if applied.channels == SUM_OF_INPUTS:
            channels = UNKNOWN_CHANNELS if any(i.channels == UNKNOWN_CHANNELS for i in ins) else \
                " + ".join(i.channels for i in ins)
        elif applied.channels is None:
            channels = first.channels
        else:
            channels = applied.channels
        self.translated += 1
        return Out(init, call, channels, rank, size=_size_after(applied.size, first.size))

    def _custom(self, call: cst.Call, in_channels: str | None = None) -> tuple[str, str | None, str | None]:
        """One of the file's Layer subclasses built: (the module, its name, None: the output
        keeps its input's channels, else UNKNOWN_CHANNELS)."""
        port = self.files.layer_ports.get(call.func.value)
        if port is None or any(d.severity == "todo" for d in port.diagnostics):
            raise Untranslatable(f"{call.func.value}: a Keras Layer subclass left untranslated")
        if port.in_channels and in_channels is None:
            raise Untranslatable(f"{call.func.value} built before its input, its weights sized by that input")
        name = _arg(call, "name", None)
        args = self._plain_args(call.args) + ([f"{port.in_channels}={in_channels}"] if port.in_channels else [])
        module = f"{call.func.value}({', '.join(args)})"
        return module, code(name) if name is not None else None, None if port.preserves_channels else UNKNOWN_CHANNELS

    def custom_layer(self, node: cst.Call) -> Out:
        value = node.args[0].value
        items = value.elements if isinstance(value, cst.List | cst.Tuple) else [value]
        ins = [self.tensor(i.value if isinstance(i, cst.BaseElement) else i) for i in items]
        module, name, channels = self._custom(node.func, ins[0].channels)
        slot = self.key(name, keras_snake(node.func.func.value))
        x = ins[0].fwd if len(items) == 1 and not isinstance(value, cst.List | cst.Tuple) else \
            ("[" + ", ".join(i.fwd for i in ins) + "]")
        self.translated += 1
        return Out([line for i in ins for line in i.init] + [Line(slot.build(module))], f"{slot.ref}({x})",
                   ins[0].channels if channels is None else channels, ins[0].rank)

    def layer_value(self, name: str, call: cst.Call) -> tuple[list, list]:
        """`layer = layers.Activation("linear")` / `StochasticDepth(rate)`: a layer built before
        it is applied (`inputs + layer(x)`). Its module is built here where its weights do not
        depend on its input's size (forward binds the name to what computes it); a layer whose
        weights do (`conv = layers.Conv2D(8, 3)`) is a module class built where applied."""
        layers = self.files.sequential(call)
        if layers is not None:
            return self.maker(name, call, layers)
        cls = self.files.layer_class(call)
        if cls is None:
            module, layer_name, channels = self._custom(call)
            call_text, rank, size = "{m}({x})", None, UNKNOWN_SIZE
            base = keras_snake(call.func.value)
        else:
            rule = self.rules.layers[cls]
            write = WRITERS.get(rule.lower)
            if write is None:
                raise Untranslatable(f"layers.{cls} has no code writer yet")
            given, static, layer_name = self.bind(call.args, rule.signature)
            applied = write(Args(given, None, OPEN, self.rules, static, self.sized_args, rule, cls))
            if applied.join:
                raise Untranslatable(f"layers.{cls}: a merge built before its inputs")
            if applied.module is not None and OPEN in applied.module:  # sized by its input: built where applied
                return self.maker(name, call, [call])
            module, call_text, rank, base = applied.module, applied.call, applied.rank, keras_snake(cls)
            size = applied.size
            if rule.activation and given.get("activation") is not None:
                call_text = activation(self.rules, given["activation"], call_text, None)
            channels = applied.channels if applied.channels is None or OPEN not in applied.channels else UNKNOWN_CHANNELS
        init = []
        if module is not None:
            slot = self.key(layer_name, base)
            init.append(Line(slot.build(module)))
            ref = slot.ref
        else:
            ref = None
        if call_text == "{m}({x})":
            fwd = f"{name} = {ref}"
        else:  # a layer without a module, or called in its own way: a function of the tensor
            fwd = f"def {name}(t):\n    return " + call_text.format(x="t", xs="t", m=ref or "")
        known = self.layer_vals.get(name, (channels, rank, size))
        self.layer_vals[name] = (channels, rank, size) if known == (channels, rank, size) else \
            (UNKNOWN_CHANNELS, None, UNKNOWN_SIZE)
        self.translated += 1
        return init, [Line(fwd)]

    def maker(self, name: str, call: cst.Call, layers: list) -> tuple[list, list]:
        """`stem = keras.Sequential([layers.Conv2D(...), layers.LayerNormalization(...)])`, applied
        later (`stem(x)`, or from a list: `downsample_layers[i](x)`): a module class taking its
        input's channels, defined here and built where it is applied. Names the enclosing loops
        change (`i`) are bound as the class's defaults, so each class keeps its own."""
        targets = [t for loop in self.loop_nodes for n in [loop, *own_nodes(loop)]
                   for t in ([n.target] if isinstance(n, cst.For | cst.AssignTarget | cst.AugAssign) else [])]
        changing = {n.value for t in targets for n in [t, *own_nodes(t)] if isinstance(n, cst.Name)}
        used = {n.value for n in own_nodes(call) if isinstance(n, cst.Name)}
        bound = sorted((changing & used) - {"x"})
        x = cst.Name("x")
        body = [cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(x)], cst.Call(layer, [cst.Arg(x)]))])
                for layer in layers]
        body.append(cst.SimpleStatementLine([cst.Return(x)]))
        params = cst.Parameters([cst.Param(x)] + [cst.Param(cst.Name(b), default=cst.Name(b), star="", equal=cst.AssignEqual(
            cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))) for b in bound])
        node = cst.FunctionDef(cst.Name(name), params, cst.IndentedBlock(body))
        inner = Function(node, self.fn, ["x", *bound], tensor_params=["x"])
        writer = ClassWriter(self.files, self.rules, inner, self.path, _Anchored(self.positions, call),
                             consts=closure(self.consts, inner))
        text = writer.write().rstrip("\n")
        self.diagnostics += writer.diagnostics
        self.translated += writer.translated
        self.makers[name] = self.loops
        self.layer_vals.pop(name, None)
        return [Line(text, pure=True)], []

    def maker_call(self, node: cst.Call) -> Out:
        ins = self.tensor(node.args[0].value)
        if ins.channels == UNKNOWN_CHANNELS:
            raise Untranslatable(f"`{code(node)}`: a Sequential applied to a tensor of open channels")
        base = node.func.value if isinstance(node.func, cst.Name) else node.func.value.value
        if isinstance(node.func, cst.Name):  # one Keras layer applied twice (or in a loop) shares its weights
            if self.makers[base] < 0 or self.loops > self.makers[base]:
                raise Untranslatable(f"`{base}` applied more than once: Keras shares its weights, the port would not")
            self.makers[base] = -1
        slot = self.key(None, base)
        self.translated += 1
        return Out(ins.init + [Line(slot.build(f"{code(node.func)}({ins.channels})"))], f"{slot.ref}({ins.fwd})",
                   f"{slot.init_ref}.out_channels", ins.rank)

    def module_call(self, node: cst.Call, helper: Function | None, factory: cst.Call | None = None) -> Out:
        """A tensor helper's module (`stack_fn(x)`, `block(x, 64, name=...)`), or a layer
        factory's (`factory`: `Block(64, name=...)` of `Block(64, name=...)(x)`)."""
        tensor_params = helper.tensor_params if helper else []
        init: list = []
        ctor_args, fwd_args, first, sizes = [], [], None, []
        # a helper of this file takes its tensors' sizes where the file keeps them (`x_size=`)
        sized = self.files.sizes and helper is not None and any(f is helper for f in self.files.all)
        for i, arg in enumerate(node.args):
            param = (arg.keyword.value if arg.keyword else
                     helper.params[i] if helper and arg.star == "" and i < len(helper.params) else None)
            is_tensor = param in tensor_params if helper else (i == 0 and self.is_tensor(arg.value))
            if is_tensor:
                out = self.tensor(arg.value)
                if param is not None and any(f is helper for f in self.files.all):  # a helper of this file
                    self.files.seen_ranks.setdefault(helper.node, {}).setdefault(param, set()).add(out.rank)
                init += out.init
                first = first or out
                fwd_args.append(out.fwd)
                channels = out.channels or "None"
                ctor_args.append(f"{arg.keyword.value}_channels={channels}" if arg.keyword else channels)
                if sized:
                    sizes.append(f"{param}_size={out.size or 'None'}")
            else:
                ctor_args += self._plain_args([arg])
        if first is None:
            raise Untranslatable("a tensor helper called without a tensor")
        if sizes:
            ctor_args = [a.rstrip() for a in ctor_args] + sizes
        if factory is None:
            name_arg, callee = _arg(node, "name", None), code(node.func)
            module = f"{callee}({', '.join(ctor_args)})"
        else:  # `Block(filters, name=...)(x)`: the factory's layer class, built with x's channels; its
            # `name` prefixes its layers' names and may be shared (ConvNeXt's PreStem and Head): no key
            name_arg, callee = None, code(factory.func)
            module = f"{callee}({', '.join(self._plain_args(factory.args))})({', '.join(ctor_args)})"
        slot = self.key(code(name_arg) if name_arg is not None else None, callee.rsplit(".", 1)[-1])
        init.append(Line(slot.build(module)))
        self.translated += 1
        return Out(init, f"{slot.ref}({', '.join(fwd_args)})", f"{slot.init_ref}.out_channels", first.rank,
                   size=f"{slot.init_ref}.out_size" if sized else UNKNOWN_SIZE)

    def _plain_args(self, args) -> list[str]:
        """Arguments that are no tensors, as `__init__` reads them (`**args` too)."""
        out = []
        for arg in args:
            text = self.sides(arg.value)[0]
            if text is None:
                raise Untranslatable(f"`{code(arg.value)}`: an argument the code engine does not follow")
            out.append(code(arg.with_changes(value=cst.parse_expression(text), comma=cst.MaybeSentinel.DEFAULT)))
        return out

    def bind(self, args, signature) -> tuple[dict[str, str], dict[str, object], str | None]:
        """A layer constructor's arguments by name: their text, the values the engine knows."""
        given: dict[str, str] = {}
        static: dict[str, object] = {}
        forward_only = self.forward_only = set()
        self.sized_args = {}  # arguments as the size bookkeeping reads them, where `given` has another text
        for i, arg in enumerate(args):
            if arg.star:
                raise Untranslatable("a layer built from *args/**kwargs")
            key = arg.keyword.value if arg.keyword else (signature[i] if i < len(signature) else None)
            if key is None:
                raise Untranslatable("more positional arguments than the rule's signature names")
            init_text, fwd_text = self.sides(arg.value)
            if init_text is None:
                if fwd_text is None:
                    raise Untranslatable(f"`{code(arg.value)}`: an argument the code engine does not follow")
                forward_only.add(fwd_text)
            given[key] = init_text if init_text is not None else fwd_text
            if init_text is None and self.files.sizes:
                self.sized_args[key] = self.sides(arg.value, "size")[0]
            value = self.static(arg.value)
            if value is not _UNSET:
                static[key] = value
        name = given.pop("name", None)
        for key in KERAS_ONLY & set(given):
            given.pop(key)
        return given, static, name

    def sides(self, node, init_side: str = "init") -> tuple[str | None, str | None]:
        """The expression's text in `__init__` and in `forward` (None where it cannot be there):
        `x.shape[channel_axis]` reads `x_channels` in `__init__` and `x.shape[1]` in `forward`,
        a spatial axis `x_size[0]` (files with size bookkeeping); `x is None` reads `x_channels
        is None`; Keras functions on tensors become the port's (`imagenet_utils.correct_pad`;
        `init_side="size"`: as the size bookkeeping computes them, from `x_size`)."""
        if not self._mentions_tensor(node):
            return code(node), code(node)
        sides = []
        for side in (init_side, "fwd"):
            rewriter = _TensorReads(self, side)
            new = node.visit(rewriter)
            sides.append(None if rewriter.failed or self._mentions_tensor(new) and side != "fwd" else code(new))
        return sides[0], sides[1]

    def static(self, node):
        """The value of an expression where the engine knows it (a literal, a local bound to
        one, what the port fixes), else _UNSET; a name bound to a tuple of sizes only known at
        run time gives its length (`Sequence`)."""
        if isinstance(node, cst.Name) and node.value in self.lengths and node.value not in self.consts:
            return Sequence(node.value, self.lengths[node.value])
        value = self.decide(node)
        if value is not _UNSET:
            return value
        if isinstance(node, cst.IfExp):
            test = self.decide(node.test)
            return _UNSET if test is _UNSET else self.static(node.body if test else node.orelse)
        if isinstance(node, cst.BinaryOperation) and type(node.operator) in _ARITHMETIC:
            left, right = self.static(node.left), self.static(node.right)
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right)):
                try:
                    return _ARITHMETIC[type(node.operator)](left, right)
                except (ArithmeticError, ValueError):
                    return _UNSET
            return _UNSET
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            value = self.static(node.expression)
            return -value if isinstance(value, int | float) and not isinstance(value, bool) else _UNSET
        if isinstance(node, cst.Tuple | cst.List):
            items = [self.static(e.value) for e in node.elements]
            return _UNSET if _UNSET in items or any(isinstance(e, cst.StarredElement) for e in node.elements) \
                else (tuple(items) if isinstance(node, cst.Tuple) else items)
        return _literal(code(node))

    def key(self, name: str | None, base: str) -> Slot:
        """Where the module lives: `self.<Keras name>`, `self.layers[<name expression>]`, or,
        for layers without a name built in a loop, a ModuleList `forward` walks in order."""
        literal = _literal(name) if name is not None else _UNSET
        if name is None:
            attr, n = base, 1
            while attr in self.attrs or attr in RESERVED or attr in self.fn.params:
                attr, n = f"{base}_{n}", n + 1
            self.attrs.add(attr)
            if self.loops:  # built once per iteration: one ModuleList per outermost loop, in the order
                # built; forward's loop takes them in that order (the same statements run)
                if self.loop_list is None:
                    self.loop_list = attr
                    self.sequences.append(attr)
                else:
                    self.attrs.discard(attr)
                attr = self.loop_list
                return Slot(f"self.{attr}.append(", f"next({attr}_modules)", f"self.{attr}[-1]", ")")
            return Slot(f"self.{attr} = ", f"self.{attr}", f"self.{attr}")
        if isinstance(literal, str) and literal.isidentifier() and not keyword.iskeyword(literal) \
                and literal not in RESERVED and literal not in self.fn.params and self.loops == 0:
            self.attrs.add(literal)
            return Slot(f"self.{literal} = ", f"self.{literal}", f"self.{literal}")
        self.uses_dict = True
        if _never_none(name):  # `f"{name}_1_conv"`: the key forward reads back
            return Slot(f"self.layers[{name}] = ", f"self.layers[{name}]", f"self.layers[{name}]")
        # a name that may be None (Keras then names the layer itself): keyed by `keras_layer_key`,
        # and forward takes the modules in the order __init__ built them (the same statements run)
        self.ordered = True
        return Slot(f"self.layers[{LAYER_KEY}(self.layers, {name}, {base!r})] = ", ORDERED_REF,
                    "list(self.layers.values())[-1]")

    # -- what the port fixes --------------------------------------------------------------------

    def decide(self, test):
        """The test's value where the port fixes it (`input_tensor is None`), else _UNSET."""
        if isinstance(test, cst.Name):
            if test.value in self.pinned:
                return self.pinned[test.value]
            if test.value in self.consts:
                return self.consts[test.value]
            return {"True": True, "False": False, "None": None}.get(test.value, _UNSET)
        if isinstance(test, cst.SimpleString):
            return test.evaluated_value
        if isinstance(test, cst.Integer):
            return int(test.value)
        if isinstance(test, cst.Call) and not test.args:
            return PLUMBING.get(self.files.keras(test.func) or "", _UNSET)
        if isinstance(test, cst.Call) and self.files.keras(test.func) in KERAS_TENSOR_CALLS:
            return _UNSET
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            v = self.decide(test.expression)
            return _UNSET if v is _UNSET else not v
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            left, right = self.decide(test.left), self.decide(test.comparisons[0].comparator)
            if left is _UNSET or right is _UNSET:
                return _UNSET
            op = test.comparisons[0].operator
            compare = {cst.Equal: lambda a, b: a == b, cst.NotEqual: lambda a, b: a != b,
                       cst.Is: lambda a, b: a is b, cst.IsNot: lambda a, b: a is not b}.get(type(op))
            return _UNSET if compare is None else compare(left, right)
        return _UNSET

    def _model_method(self, node) -> bool:
        return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                and isinstance(node.func.value, cst.Name) and node.func.value.value == self.model_var)

    def _downloads(self, node) -> bool:
        return any(isinstance(n, cst.Call) and self.files.keras(n.func) in DOWNLOADS for n in [node, *own_nodes(node)])

    def _mentions_tensor(self, node) -> bool:
        if isinstance(node, cst.Name):
            return node.value in self.tensors
        names = [n for n in own_nodes(node) if isinstance(n, cst.Name) and n.value in self.tensors]
        if not names:
            return False
        # a comprehension's own variable (`[float(x) for x in sizes]`) is no tensor of the function
        bound = {n.value for c in own_nodes(node) if isinstance(c, cst.CompFor)
                 for n in [c.target, *own_nodes(c.target)] if isinstance(n, cst.Name)}
        return any(n.value not in bound for n in names)

    def _mentions_model(self, node) -> bool:
        return self.model_var is not None and any(
            isinstance(n, cst.Name) and n.value == self.model_var for n in [node, *own_nodes(node)])

    # -- diagnostics --------------------------------------------------------------------------

    def diag(self, node, message: str, code_: str = "PM001", severity: str = "todo") -> None:
        p = self.positions.get(node)
        line, col = (p.start.line, p.start.column + 1) if p else (self.positions.get(self.fn.node).start.line, 1)
        self.diagnostics.append(Diagnostic(self.path, line, col, code_, message, severity))

    def note(self, node, message: str) -> None:
        self.diag(node, message, "PM002", "note")


class _Anchored:
    """Positions for code the engine made up (a Sequential's class): its source's position."""

    def __init__(self, positions, anchor):
        self.positions, self.anchor = positions, anchor

    def get(self, node, default=None):
        return self.positions.get(node) or self.positions.get(self.anchor, default)


class _TensorReads(cst.CSTTransformer):
    """Reads of a tensor's size in one method: its channels (`x.shape[-1]`: `x_channels` in
    `__init__`, `x.shape[1]` in `forward`), other axes in `forward` only (torch's dims);
    Keras functions of tensors (`imagenet_utils.correct_pad`) as the port's own."""

    def __init__(self, writer: ClassWriter, side: str):
        self.writer, self.side, self.failed = writer, side, False

    def leave_Subscript(self, original, updated):
        value = original.value
        if not (isinstance(value, cst.Attribute) and value.attr.value == "shape" and isinstance(value.value, cst.Name)
                and value.value.value in self.writer.tensors and len(original.slice) == 1
                and isinstance(original.slice[0].slice, cst.Index)):
            return updated
        name = value.value.value
        t = self.writer.tensors[name]
        rank = t.rank or 4
        axis = self.writer.static(original.slice[0].slice.value)
        if not isinstance(axis, int) or not -rank <= axis < rank:
            self.failed = True
            return updated
        axis %= rank
        if self.side != "fwd" and rank >= 3 and 0 < axis < rank - 1:  # a spatial axis: the size bookkeeping
            if not self.writer.files.sizes:
                self.writer.files.wants_sizes = True  # the file is translated again, with sizes
            if not self.writer.files.sizes or not t.sized:
                self.failed = True
                return updated
            return cst.parse_expression(f"{name}_size[{axis - 1}]")
        if self.side != "fwd":
            if axis != rank - 1 or not t.known or rank < 3:
                self.failed = axis != rank - 1 or not t.known
                return cst.Name(f"{name}_channels") if not self.failed else updated
            return cst.Name(f"{name}_channels")
        dim = axis if axis == 0 or rank < 3 else (1 if axis == rank - 1 else axis + 1)
        return cst.parse_expression(f"{name}.shape[{dim}]")

    def leave_Comparison(self, original, updated):
        """`p is None` (a tensor that may be None): `p_channels is None` in `__init__`."""
        left = original.left
        if self.side != "fwd" and isinstance(left, cst.Name) and left.value in self.writer.tensors \
                and self.writer.tensors[left.value].known and len(original.comparisons) == 1 \
                and isinstance(original.comparisons[0].operator, cst.Is | cst.IsNot) \
                and isinstance(original.comparisons[0].comparator, cst.Name) \
                and original.comparisons[0].comparator.value == "None":
            return updated.with_changes(left=cst.Name(f"{left.value}_channels"))
        return updated

    def leave_Call(self, original, updated):
        name = self.writer.files.keras(original.func) or ""
        target = KERAS_FUNCTIONS.get(name)
        if target is None:
            return updated
        if self.side == "size" and name in KERAS_SIZE_FUNCTIONS and updated.args:  # correct_pad(x, 3) from x_size
            first = updated.args[0].value
            t = self.writer.tensors.get(first.value) if isinstance(first, cst.Name) else None
            if t is not None and t.sized and self.writer.files.sizes:
                args = [updated.args[0].with_changes(value=cst.Name(f"{first.value}_size")), *updated.args[1:]]
                return updated.with_changes(func=cst.Name(KERAS_SIZE_FUNCTIONS[name]), args=args)
        if self.side != "fwd":
            self.failed = True
            return updated
        return updated.with_changes(func=cst.Name(target))


ORDERED_REF = "next(modules)"


def _ordered(nodes: list) -> list:
    """`self.layers[<key>]` in forward as `next(modules)`: the modules in the order built."""
    pattern = re.compile(r"self\.layers\[[^\]]*\]")
    out = []
    for n in nodes:
        if isinstance(n, Line):
            out.append(Line(pattern.sub(ORDERED_REF, n.text), n.pure, n.comments))
        else:
            out.append(Block([(h, _ordered(b)) for h, b in n.branches], n.comments))
    return out


def plumbed(text: str, files: FileFunctions) -> str:
    """A function's port with Keras' plumbing as the port fixes it: `image_data_format()`
    is "channels_last", `backend.get_uid` the port's own counter (what validation and name
    code around the layers call)."""
    if not any(name in text for name in ("image_data_format", "get_uid")):
        return text
    return cst.parse_module(text).visit(_Plumbing(files)).code


class _Plumbing(cst.CSTTransformer):
    """`plumbed`'s rewrite, with the comparisons and conditional values it makes constant folded."""

    def __init__(self, files: FileFunctions):
        super().__init__()
        self.files = files

    def leave_Call(self, original, updated):
        name = self.files.keras(original.func) or ""
        if name in PLUMBING and not original.args:
            return cst.SimpleString(repr(PLUMBING[name]).replace("'", '"'))
        if name in KERAS_VALUES:
            return updated.with_changes(func=cst.Name(KERAS_VALUES[name]))
        return updated

    def leave_Comparison(self, original, updated):  # `"channels_last" == "channels_last"`: True
        if len(updated.comparisons) == 1 and isinstance(updated.left, cst.SimpleString) and isinstance(
                updated.comparisons[0].comparator, cst.SimpleString) and isinstance(
                updated.comparisons[0].operator, cst.Equal | cst.NotEqual):
            same = updated.left.evaluated_value == updated.comparisons[0].comparator.evaluated_value
            return cst.Name(str(same == isinstance(updated.comparisons[0].operator, cst.Equal)))
        return updated

    def leave_IfExp(self, original, updated):  # `3 if True else 1`: 3
        if isinstance(updated.test, cst.Name) and updated.test.value in ("True", "False"):
            return updated.body if updated.test.value == "True" else updated.orelse
        return updated


OPEN = "__input_channels__"  # a layer's input channels, where it is built before its input is known


PURE_BUILTINS = frozenset({"str", "int", "float", "bool", "round", "len", "abs", "max", "min", "tuple", "list",
                           "sorted", "sum", "range", "enumerate", "zip"})


def pure_call(call: cst.Call) -> bool:
    """A call that only computes a value (`str(alpha)`, `"{}_{}".format(a, b)`): a statement
    made of these may go where nothing reads it."""
    func = call.func
    if isinstance(func, cst.Name):
        return func.value in PURE_BUILTINS
    return isinstance(func, cst.Attribute) and func.attr.value == "format" and isinstance(
        func.value, cst.SimpleString | cst.ConcatenatedString)


def closure(consts: dict[str, object], inner: Function) -> dict[str, object]:
    """What a nested function knows of its enclosing one's locals (its own parameters aside)."""
    return {k: v for k, v in consts.items() if k not in inner.params}


def _never_none(name: str) -> bool:
    """A name expression that is a string whatever the variables: a literal, an f-string, or
    a concatenation with one."""
    try:
        node = cst.parse_expression(name)
    except cst.ParserSyntaxError:
        return False
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
        return isinstance(node.left, cst.SimpleString)  # "conv_dw_%d" % block_id
    while isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        if isinstance(node.right, cst.SimpleString | cst.FormattedString):
            return True
        node = node.left
    return isinstance(node, cst.SimpleString | cst.FormattedString | cst.ConcatenatedString)


def _builds(nodes: list) -> bool:
    """Statements that do more than bind names (build a module, raise)."""
    return any(_builds([x for _, b in n.branches for x in b]) if isinstance(n, Block) else not n.pure for n in nodes)


def _size_after(size: str | None, before: str) -> str:
    """A layer's output size (`Applied.size`: None unchanged, else over `{s}`) after `before`."""
    if size is None:
        return before
    if "{s}" in size and before == UNKNOWN_SIZE:
        return UNKNOWN_SIZE
    return size.replace("{s}", before)


def _join(states: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Tensors after branches: a rank the branches agree on, channels known where all know them."""
    names = set().union(*states)
    out = {}
    for name in names:
        seen = [s[name] for s in states if name in s]
        ranks = {t.rank for t in seen}
        out[name] = Tensor(ranks.pop() if len(ranks) == 1 else None, all(t.known for t in seen),
                           all(t.listed for t in seen), all(t.sized for t in seen))
    return out


def _attr(param: str) -> str:
    return param + "_" if param in RESERVED else param


def _docstring(body) -> str | None:
    if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
            and isinstance(body[0].body[0].value, cst.SimpleString | cst.ConcatenatedString):
        return code(body[0].body[0].value)
    return None


def _commented(stmt) -> str:
    return "\n".join("# " + line for line in code(stmt.with_changes(leading_lines=())).strip("\n").splitlines())


def _arg(call: cst.Call, keyword_: str, position: int | None):
    for i, a in enumerate(call.args):
        if a.keyword is not None and a.keyword.value == keyword_:
            return a.value
        if a.keyword is None and a.star == "" and i == position:
            return a.value
    return None


def _literal(text: str):
    """The value a literal's source text writes, else _UNSET."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError):
        return _UNSET


def _appended(call) -> str | None:
    """`name` of a call `name.append(value)`, else None."""
    if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "append" \
            and isinstance(call.func.value, cst.Name) and len(call.args) == 1 and not call.args[0].keyword:
        return call.func.value.value
    return None


def _atom(text: str) -> str:
    """The expression as the operand of an attribute or subscript: parenthesized unless it is
    a name, call, attribute, subscript or constant already."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return f"({text})"
    return text if isinstance(node, ast.Name | ast.Call | ast.Attribute | ast.Subscript | ast.Constant) else f"({text})"


def _binary(op) -> cst.BaseBinaryOp:
    return {cst.AddAssign: cst.Add, cst.MultiplyAssign: cst.Multiply, cst.SubtractAssign: cst.Subtract}[type(op)]()
