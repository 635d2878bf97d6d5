"""Keras Layer subclasses -> `nn.Module` classes (the code engine).

keras.applications defines a few layers of its own (`CustomScaleLayer`, `StochasticDepth`,
`LayerScale`); user code many more. `write_layer_class` translates one such class statement
by statement, for any value of its constructor's arguments, as the rest of the code engine
does:

- `__init__` keeps its signature (Keras callers pass `name=`; `**kwargs` still takes it) and
  its statements; `super().__init__(**kwargs)` becomes `super().__init__()`. A class without
  an `__init__` gets `def __init__(self, **kwargs)`. Assignments of Keras layer state
  (`self.supports_masking`, `self.input_spec`) are dropped with a note.
- `build(self, input_shape)` that does not read its input shape (LayerScale's
  `def build(self, _)`) runs at the end of `__init__`: the port makes its weights when it is
  constructed. One that reads only `input_shape[-1]` (the channel count) does too, with a
  keyword-only `in_channels` parameter added to `__init__`: `LayerClass.in_channels` names
  it, the caller passes the input's channel count. A build that reads its input shape
  otherwise (`input_shape[1:3]`) is a TODO for now: it stays a method (its weights
  translated) that the port never calls, and gets a diagnostic at the read.
- `self.w = self.add_weight(shape=..., initializer=..., trainable=...)` becomes
  `self.w = nn.Parameter(...)`; `trainable=False` a buffer (`register_buffer`), so the port
  lists a layer's tensors as Keras does, trainable first: `portmodel.weights` pairs a custom
  layer's own variables with the module's parameters then buffers, in that order. The
  initial value follows `_INITIALIZERS` (Constant, zeros, ones, random normal / uniform /
  truncated normal); any other initializer starts from normal(0, 0.05) with a note (the
  weights transfer replaces it). `name=` goes (the attribute names the tensor).
- `call` becomes `_call`: its body as written, with keras.ops and keras.random calls ported
  (`_OPS` and `_RANDOM` here, then `rules/ops/` read backwards through `ops.keras_ops`) and
  `training` read as `self.training`. That body is Keras code for channels-last tensors; the
  port holds them channels-first. `forward` therefore moves every tensor input of rank >= 3
  channels-last on entry (a list or tuple input: each element) and every tensor output back
  (the support functions `keras_channels_last` / `keras_channels_first`); rank < 3 tensors
  pass unchanged, and so does a `mask`. Axes the body names stay Keras' axes, weights on the
  last axis (LayerScale's gamma) stay right. Random tensors are made on the device of the
  first input.
- `get_config`, `from_config`, `compute_output_shape` (and the other Keras-only methods of
  `subclass.KERAS_ONLY_METHODS`), Keras registration decorators: dropped with a note.
- Anything else Keras (a sublayer, an op without an entry, Keras layer state read such as
  `self.compute_dtype`) stays as written under a `# portmodel: TODO <why>` comment, with a
  PM001 diagnostic. Nothing raises.

`LayerClass.preserves_channels` says whether the output has the input's channel count: every
`return` of `call` is built from the inputs (`x`, `inputs[0]`) by elementwise arithmetic and
elementwise ops, with attributes, weights, numbers and random tensors as the other operands
(assumed to broadcast against the input, as LayerScale's gamma does).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import libcst as cst

from ...core.errors import Diagnostic
from ..hooks.registry import support_function
from ..names import KERAS_ROOTS
from ..ops import keras_ops
from ..subclass import KERAS_ONLY_METHODS, TODO
from ..values import code, param_text
from .functions import is_layer_base, own_nodes

CHANNELS_LAST = support_function('''
def keras_channels_last(value):
    """A tensor of the port (channels-first, rank >= 3) as the channels-last one Keras code
    reads; lists and tuples element by element; anything else unchanged."""
    if isinstance(value, (list, tuple)):
        return type(value)(keras_channels_last(v) for v in value)
    if isinstance(value, torch.Tensor) and value.dim() >= 3:
        return value.movedim(1, -1)
    return value
''')
CHANNELS_FIRST = support_function('''
def keras_channels_first(value):
    """A channels-last tensor computed by Keras code (rank >= 3) back in the port's
    channels-first order; lists and tuples element by element; anything else unchanged."""
    if isinstance(value, (list, tuple)):
        return type(value)(keras_channels_first(v) for v in value)
    if isinstance(value, torch.Tensor) and value.dim() >= 3:
        return value.movedim(-1, 1)
    return value
''')

_KERAS_ONLY = (*KERAS_ONLY_METHODS, "compute_output_spec", "compute_mask")
# attributes of Keras' Layer that only Keras reads: assigning them is dropped
_KERAS_STATE_SET = frozenset({"supports_masking", "input_spec", "built", "_build_at_init"})
# attributes of Keras' Layer an nn.Module lacks: reading one (the class not setting it) is a TODO
_KERAS_STATE_READ = frozenset({
    "compute_dtype", "variable_dtype", "dtype_policy", "input_spec", "built", "name", "weights",
    "trainable_weights", "non_trainable_weights", "losses", "add_loss", "add_metric",
})
_DTYPES = {
    "float16": "torch.float16", "bfloat16": "torch.bfloat16", "float32": "torch.float32",
    "float64": "torch.float64", "int8": "torch.int8", "uint8": "torch.uint8", "int16": "torch.int16",
    "int32": "torch.int32", "int64": "torch.int64", "bool": "torch.bool",
}

# keras.ops functions written here: name -> (Keras parameters, "name=default" where optional;
# the torch expression over them). Ops not here come from rules/ops/ read backwards.
_OPS: dict[str, tuple[tuple[str, ...], str]] = {
    "shape": (("x",), "tuple({x}.shape)"),
    "add": (("x1", "x2"), "({x1} + {x2})"),
    "subtract": (("x1", "x2"), "({x1} - {x2})"),
    "multiply": (("x1", "x2"), "({x1} * {x2})"),
    "divide": (("x1", "x2"), "({x1} / {x2})"),
    "true_divide": (("x1", "x2"), "({x1} / {x2})"),
    "floor_divide": (("x1", "x2"), "({x1} // {x2})"),
    "power": (("x1", "x2"), "({x1} ** {x2})"),
    "negative": (("x",), "(-{x})"),
    "square": (("x",), "torch.square({x})"),
    "reciprocal": (("x",), "torch.reciprocal({x})"),
    "ceil": (("x",), "torch.ceil({x})"),
    "clip": (("x", "x_min", "x_max"), "torch.clamp({x}, {x_min}, {x_max})"),
    "where": (("condition", "x1", "x2"), "torch.where({condition}, {x1}, {x2})"),
    "cast": (("x", "dtype"), "{x}.to({dtype})"),
    "stop_gradient": (("variable",), "{variable}.detach()"),
    "swish": (("x",), "F.silu({x})"),
    "hard_sigmoid": (("x",), "F.hardsigmoid({x})"),
    "softsign": (("x",), "F.softsign({x})"),
    "selu": (("x",), "F.selu({x})"),
}
# keras.random functions: name -> (Keras parameters, torch expression over them and {like}:
# the dtype and device keywords). A `seed=` is dropped with a note (torch's global generator).
_RANDOM: dict[str, tuple[tuple[str, ...], str]] = {
    "uniform": (("shape", "minval=0.0", "maxval=1.0", "dtype=None", "seed=None"),
                "({minval} + ({maxval} - {minval}) * torch.rand({shape}{like}))"),
    "normal": (("shape", "mean=0.0", "stddev=1.0", "dtype=None", "seed=None"),
               "({mean} + {stddev} * torch.randn({shape}{like}))"),
    "randint": (("shape", "minval", "maxval", "dtype='int32'", "seed=None"),
                "torch.randint({minval}, {maxval}, {shape}{like})"),
    "dropout": (("inputs", "rate", "noise_shape=None", "seed=None"), "F.dropout({inputs}, p={rate})"),
}
# the same draws where the arguments are the unit range (written plainly)
_PLAIN_RANDOM = {"uniform": ({"minval": 0, "maxval": 1}, "torch.rand({shape}{like})"),
                 "normal": ({"mean": 0, "stddev": 1}, "torch.randn({shape}{like})")}
# elementwise keras.ops (and keras.random.dropout): the output has its tensor inputs' shape
_ELEMENTWISE = frozenset({
    "abs", "add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "power", "negative",
    "square", "sqrt", "rsqrt", "reciprocal", "exp", "log", "log2", "log1p", "expm1", "floor", "ceil",
    "round", "sign", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "relu6", "gelu", "silu", "swish",
    "hard_sigmoid", "hard_silu", "elu", "selu", "leaky_relu", "softplus", "softsign", "erf", "maximum",
    "minimum", "clip", "where", "cast", "stop_gradient", "dropout",
})
# Keras initializers (class, or the string id / function of `_INITIALIZER_IDS`) -> (their
# parameters, the torch expression over them, {shape} and {dtype}: the keyword or nothing)
_INITIALIZERS: dict[str, tuple[tuple[str, ...], str]] = {
    "Constant": (("value=0.0",), "torch.full({shape}, {value}{dtype_or_float})"),
    "Zeros": ((), "torch.zeros({shape}{dtype})"),
    "Ones": ((), "torch.ones({shape}{dtype})"),
    "RandomNormal": (("mean=0.0", "stddev=0.05", "seed=None"),
                     "nn.init.normal_(torch.empty({shape}{dtype}), mean={mean}, std={stddev})"),
    "RandomUniform": (("minval=-0.05", "maxval=0.05", "seed=None"),
                      "nn.init.uniform_(torch.empty({shape}{dtype}), a={minval}, b={maxval})"),
    "TruncatedNormal": (("mean=0.0", "stddev=0.05", "seed=None"),
                        ("nn.init.trunc_normal_(torch.empty({shape}{dtype}), mean={mean}, std={stddev}, "
                         "a={mean} - 2 * {stddev}, b={mean} + 2 * {stddev})")),
}
_INITIALIZER_IDS = {"zeros": "Zeros", "ones": "Ones", "constant": "Constant", "random_normal": "RandomNormal",
                    "random_uniform": "RandomUniform", "truncated_normal": "TruncatedNormal"}
_FALLBACK_INIT = "nn.init.normal_(torch.empty({shape}{dtype}), std=0.05)"
# add_weight(shape, initializer, dtype) positionally (Keras 3), the rest by keyword
_ADD_WEIGHT = ("shape=()", "initializer=None", "dtype=None", "trainable=True", "autocast=True",
               "regularizer=None", "constraint=None", "aggregation='none'", "overwrite_with_gradient=False",
               "name=None")
_POSITIONAL_ADD_WEIGHT = 3
_STATEMENTS = (cst.SimpleStatementLine, cst.BaseCompoundStatement)


def is_layer_class(files, stmt: cst.CSTNode) -> bool:
    """`stmt` is a class whose base is Keras' Layer (`layers.Layer`, `keras.src.layers.layer.Layer`).
    `files`: the file's `functions.FileFunctions` (resolves names through its imports)."""
    return isinstance(stmt, cst.ClassDef) and any(is_layer_base(files.keras(b.value)) for b in stmt.bases)


@dataclass
class LayerClass:
    """One Keras Layer subclass as PyTorch source."""

    name: str
    text: str  # the nn.Module class (decorators and all; its leading comments stay with the caller)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    preserves_channels: bool = False  # the output has the input's channel count
    # support functions `text` calls, registered in `hooks.SUPPORT` (assemble.add_support_functions
    # writes them into a port that calls them); the imports follow the names used (torch, nn, F)
    support: tuple[str, ...] = ()
    in_channels: str | None = None  # a keyword-only __init__ parameter: the caller passes the input's channels


def write_layer_class(stmt: cst.ClassDef, files, path: str, positions, rules=None) -> LayerClass:
    """`stmt` (a class `is_layer_class` accepts) as an `nn.Module` class. `files`: the file's
    FileFunctions; `positions`: libcst's PositionProvider mapping of the module `stmt` is a
    node of (diagnostics' lines); `rules`: the RuleSet (default: the project's rules)."""
    if rules is None:
        from ...rulebook import load_rules

        rules = load_rules()
    return _Writer(stmt, files, path, positions, rules).write()


class _Writer:
    def __init__(self, stmt: cst.ClassDef, files, path: str, positions, rules):
        self.stmt, self.files, self.path, self.positions, self.rules = stmt, files, path, positions, rules
        self.diagnostics: list[Diagnostic] = []
        self.in_channels: str | None = None
        self.class_todos: list[str] = []
        self.methods = {s.name.value: s for s in stmt.body.body if isinstance(s, cst.FunctionDef)}
        self.assigned = {  # attributes the class sets itself (`self.name = name` is its own)
            n.target.attr.value for n in _walk(stmt) if isinstance(n, cst.AssignTarget)
            and isinstance(n.target, cst.Attribute) and code(n.target.value) == "self"
        }

    # -- diagnostics -------------------------------------------------------------------------

    def diag(self, node, message: str, code_: str = "PM001", severity: str = "todo") -> None:
        p = self.positions.get(node) if self.positions is not None else None
        if p is None and self.positions is not None:
            p = self.positions.get(self.stmt)
        line, col = (p.start.line, p.start.column + 1) if p else (1, 1)
        self.diagnostics.append(Diagnostic(self.path, line, col, code_, message, severity))

    def note(self, node, message: str) -> None:
        self.diag(node, message, "PM002", "note")

    def keras(self, node) -> str | None:
        """The Keras (or TensorFlow) name `node` refers to, if any."""
        name = self.files.keras(node)
        return name if name and name.split(".", 1)[0] in KERAS_ROOTS else None

    # -- the class ---------------------------------------------------------------------------

    def write(self) -> LayerClass:
        name = self.stmt.name.value
        build_stmts, build_method = self.build()
        body: list[cst.BaseStatement] = []
        has_init = "__init__" in self.methods
        preserves, support = False, ()
        for item in self.stmt.body.body:
            if not isinstance(item, cst.FunctionDef):
                body.append(_Port(self).translate(item))
                continue
            method = item.name.value
            if method == "__init__":
                body.append(self.init(item, build_stmts))
            elif method == "build":
                if build_method is not None:
                    body.append(build_method)
            elif method == "call":
                body += self.call(item)
                preserves, support = self.preserves_channels(item), (CHANNELS_LAST, CHANNELS_FIRST)
            elif method in _KERAS_ONLY:
                self.note(item, f"{name}.{method}() is Keras-only (serialization, shape inference): "
                                "not in the port")
            else:  # a helper method call() uses: Keras code on channels-last tensors too
                body.append(_Port(self).translate(item))
        if not has_init:
            first = next((i for i, s in enumerate(body) if isinstance(s, cst.FunctionDef)), len(body))
            init = self.init(None, build_stmts)
            body.insert(first, init.with_changes(leading_lines=[]) if first == 0 else init)
        if "call" not in self.methods:
            self.class_todo(self.stmt, f"class {name} has no call(): the port has no forward()")
        bases = [self.base(b) for b in self.stmt.bases]
        decorators = [d for d in self.stmt.decorators if not self.registration(d)]
        cls = self.stmt.with_changes(
            bases=bases, decorators=decorators, leading_lines=[],
            body=self.stmt.body.with_changes(body=body),
        )
        if self.class_todos:
            comments = [cst.EmptyLine(comment=cst.Comment(f"{TODO} {r}")) for r in self.class_todos]
            if decorators:
                first = decorators[0]
                decorators = [first.with_changes(leading_lines=[*first.leading_lines, *comments]), *decorators[1:]]
                cls = cls.with_changes(decorators=decorators)
            else:
                cls = cls.with_changes(leading_lines=comments)
        return LayerClass(name, code(cls), self.diagnostics, preserves, support, self.in_channels)

    def class_todo(self, node, reason: str) -> None:
        self.diag(node, reason)
        self.class_todos.append(reason)

    def base(self, arg: cst.Arg) -> cst.Arg:
        name = self.keras(arg.value)
        if is_layer_base(name):
            return arg.with_changes(value=cst.parse_expression("nn.Module"))
        if name:
            self.class_todo(arg, f"base class `{code(arg.value)}` ({name}) has no PyTorch counterpart")
        return arg

    def registration(self, dec: cst.Decorator) -> bool:
        """A Keras decorator (`@keras_export(...)`, `@register_keras_serializable()`): dropped."""
        target = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
        if self.keras(target):
            self.note(dec, f"@{code(target)} registers the class with Keras: removed from the port")
            return True
        return False

    # -- __init__ and build() ----------------------------------------------------------------

    def init(self, fn: cst.FunctionDef | None, extra: list[cst.BaseStatement]) -> cst.FunctionDef:
        """`__init__` as written (`super().__init__()` without Keras' arguments), then build()'s
        statements."""
        if fn is None:
            fn = cst.parse_statement("def __init__(self, **kwargs):\n    super().__init__()\n")
            fn = fn.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        port = _Port(self)
        stmts = []
        for stmt in fn.body.body:
            attr = _self_assigned(stmt)
            if attr in _KERAS_STATE_SET:
                self.note(stmt, f"`self.{attr}` is Keras layer state: not in the port")
                continue
            stmts.append(port.translate(stmt))
        if not any(_is_super_init(n) for s in fn.body.body for n in _walk(s)):
            at = 1 if stmts and _is_docstring(stmts[0]) else 0
            stmts.insert(at, cst.parse_statement("super().__init__()"))
        if extra:
            marker = cst.EmptyLine(comment=cst.Comment("# Keras' build(): the weights, made here"))
            extra = [extra[0].with_changes(leading_lines=[*extra[0].leading_lines, marker]), *extra[1:]]
        params = fn.params
        if self.in_channels:
            params = _parameters(params, extra_kwonly=[self.in_channels])
        return fn.with_changes(params=params, body=fn.body.with_changes(body=[*stmts, *extra]))

    def build(self) -> tuple[list[cst.BaseStatement], cst.FunctionDef | None]:
        """(build()'s statements for the end of `__init__`, None) where it reads no more of its
        input shape than `input_shape[-1]`; else ([], build() kept as a method under a TODO)."""
        fn = self.methods.get("build")
        if fn is None:
            return [], None
        stmts = []
        for stmt in fn.body.body:
            attr = _self_assigned(stmt)
            if attr in _KERAS_STATE_SET - {"built"}:
                self.note(stmt, f"`self.{attr}` is Keras layer state: not in the port")
            elif not _is_docstring(stmt) and not _keras_build_state(stmt):
                stmts.append(stmt)
        shape = fn.params.params[1].name.value if len(fn.params.params) > 1 else None
        reads = [n for s in stmts for n in _reads(s, shape)] if shape else []
        subscripts = {id(n.value): n for s in stmts for n in _walk(s) if isinstance(n, cst.Subscript)}
        last_axis = {k: n for k, n in subscripts.items() if _is_last_axis(n, shape)}
        other = [n for n in reads if id(n) not in last_axis]
        if not other:
            replace = {}
            if last_axis:
                taken = {p.name.value for p in _all_params(self.methods.get("__init__"))}
                self.in_channels = next(n for n in ("in_channels", "input_channels", "channels_in")
                                        if n not in taken)
                replace = {id(sub): cst.Name(self.in_channels) for sub in last_axis.values()}
            port = _Port(self, replace=replace)
            return [port.translate(s) for s in stmts], None
        read = code(subscripts.get(id(other[0]), other[0]))
        reason = (f"build() reads its input shape (`{read}`, line {self.line(other[0])}): the port makes no "
                  "weights from it yet; pass those sizes to the constructor")
        self.diag(other[0], reason)
        kept = _Port(self).translate(fn)
        comment = cst.EmptyLine(comment=cst.Comment(f"{TODO} {reason}"))
        return [], kept.with_changes(leading_lines=[*kept.leading_lines, comment])

    def line(self, node) -> int:
        p = self.positions.get(node) if self.positions is not None else None
        return p.start.line if p else 1

    def weight(self, attr: str, original: cst.Call, updated: cst.Call) -> cst.BaseSmallStatement:
        """`self.<attr> = self.add_weight(...)` as an nn.Parameter (trainable=False: a buffer)."""
        bound = _bind(_ADD_WEIGHT, original.args, _POSITIONAL_ADD_WEIGHT)
        if isinstance(bound, str):
            raise _Keep(f"self.add_weight(...): {bound}")
        texts = _texts(_bind(_ADD_WEIGHT, updated.args, _POSITIONAL_ADD_WEIGHT), "self.add_weight(...)")
        dtype = None
        if "dtype" in texts and texts["dtype"] != "None":
            dtype = _torch_dtype(texts["dtype"])
            if dtype is None:
                self.note(original, f"add_weight dtype {texts['dtype']}: the port keeps torch's default dtype")
        init = self.initializer(attr, bound.get("initializer"), texts.get("shape", "()"), dtype, original)
        for key in ("regularizer", "constraint"):
            if texts.get(key, "None") != "None":
                self.note(original, f"add_weight {key}={texts[key]} (training only) is not in the port")
        trainable = texts.get("trainable", "True")
        if trainable == "True":
            text = f"self.{attr} = nn.Parameter({init})"
        elif trainable == "False":
            text = f'self.register_buffer("{attr}", {init})'
        else:
            self.note(original, f"trainable={trainable} is not a literal: `{attr}` is a parameter; "
                      "portmodel.weights pairs a layer's trainable variables before its others")
            text = f"self.{attr} = nn.Parameter({init}, requires_grad={trainable})"
        return cst.parse_statement(text).body[0]

    def initializer(self, attr: str, node, shape: str, dtype: str | None, site) -> str:
        """The torch expression of a Keras initializer (the node as written) for `shape`."""
        kind, args = None, []
        if node is None:
            kind = "Zeros" if dtype and "float" not in dtype else None
            label = "glorot_uniform (Keras' default)"
        elif isinstance(node, cst.SimpleString):
            label = node.evaluated_value
            kind = _INITIALIZER_IDS.get(label, label if label in _INITIALIZERS else None)
        else:
            called = node.func if isinstance(node, cst.Call) else node
            name = self.keras(called) or ""
            label = code(node)
            if name.startswith("keras.initializers."):
                last = name.rsplit(".", 1)[1]
                kind = _INITIALIZER_IDS.get(last, last if last in _INITIALIZERS else None)
                args = list(node.args) if isinstance(node, cst.Call) else []
        kw = f", dtype={dtype}" if dtype else ""
        if kind is not None:
            params, template = _INITIALIZERS[kind]
            bound = _bind(params, args, len(params))
            if not isinstance(bound, str):
                return template.format(shape=shape, dtype=kw, dtype_or_float=kw or ", dtype=torch.float32",
                                       **{k: v if isinstance(v, str) else code(v) for k, v in bound.items()})
        self.note(site, f"initializer {label} has no entry in layer_class._INITIALIZERS: `{attr}` starts "
                        "from normal(0, 0.05) in the port (transferred weights replace it)")
        return _FALLBACK_INIT.format(shape=shape, dtype=kw)

    # -- call() ------------------------------------------------------------------------------

    def call(self, fn: cst.FunctionDef) -> list[cst.FunctionDef]:
        """`forward` (the layout moves) and `_call` (call()'s body, ported)."""
        params = _all_params(fn)[1:]
        training = next((p.name.value for p in params if p.name.value == "training"), None)
        rename = training is not None and training not in _stores(fn)
        tensors = [p.name.value for p in fn.params.params[1:] if p.name.value not in ("training", "mask")]
        device = None
        if tensors:
            first = tensors[0]
            indexed = any(isinstance(n, cst.Subscript) and isinstance(n.value, cst.Name) and n.value.value == first
                          for n in own_nodes(fn.body))
            device = f"{first}[0].device" if indexed else f"{first}.device"
        port = _Port(self, training=training if rename else None, device=device)
        stmts = [port.translate(s) for s in fn.body.body]
        if training is not None and not rename:
            at = 1 if stmts and _is_docstring(stmts[0]) else 0
            stmts.insert(at, cst.parse_statement(f"{training} = self.training"))
        signature = _parameters(fn.params, drop={training} if training else set())
        inner = fn.with_changes(name=cst.Name("_call"), params=signature, body=fn.body.with_changes(body=stmts))
        forward = cst.parse_statement(
            f"def forward({code(_parameters(fn.params, drop={training} if training else set()))}):\n"
            "    # `_call` is Keras' call(): it reads channels-last tensors, the port holds channels-first ones\n"
            f"    return keras_channels_first(self._call({_forwarded(fn.params, training)}))\n"
        )
        return [forward.with_changes(leading_lines=fn.leading_lines), inner.with_changes(leading_lines=[cst.EmptyLine(indent=False)])]

    def preserves_channels(self, fn: cst.FunctionDef) -> bool:
        """Every `return` of call() is built from its inputs by elementwise code only."""
        inputs = {p.name.value for p in _all_params(fn)[1:] if p.name.value not in ("training", "mask")}
        return _Channels(self, fn, inputs).preserved()


class _Keep(Exception):
    """A construct stays as written (its reason is the TODO)."""


class _Port(cst.CSTTransformer):
    """One statement (or method) of the class, ported: keras.ops / keras.random calls,
    `self.add_weight`, `super().__init__(...)`, `training`; what else is Keras is a TODO on
    the statement it is in."""

    def __init__(self, w: _Writer, training: str | None = None, device: str | None = None,
                 replace: dict | None = None):
        super().__init__()
        self.w, self.training, self.device, self.replace = w, training, device, replace or {}
        self.pending: list[list[str]] = []
        self.skip: set[int] = set()  # Name nodes that are no reads (attribute names, keywords)
        self.consumed: set[int] = set()  # Keras names ported with the call they are in
        self.weights: dict[int, str] = {}  # self.add_weight calls -> the attribute they set

    def translate(self, node):
        return node.visit(self)

    def todo(self, node, reason: str) -> None:
        self.w.diag(node, reason)
        if self.pending:
            if reason not in self.pending[-1]:
                self.pending[-1].append(reason)
        else:
            self.w.class_todos.append(reason)

    def on_visit(self, node) -> bool:
        if isinstance(node, _STATEMENTS):
            self.pending.append([])
        return super().on_visit(node)

    def on_leave(self, original, updated):
        out = super().on_leave(original, updated)
        if id(original) in self.replace:
            out = self.replace[id(original)]
        if isinstance(original, _STATEMENTS):
            reasons = self.pending.pop()
            if reasons and isinstance(out, cst.CSTNode):
                comments = [cst.EmptyLine(comment=cst.Comment(f"{TODO} {r}")) for r in reasons]
                out = out.with_changes(leading_lines=[*out.leading_lines, *comments])
        return out

    # names that are no reads
    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.skip.add(id(node.keyword))

    def visit_Param(self, node: cst.Param) -> None:
        self.skip.add(id(node.name))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.skip.add(id(node.name))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.skip.add(id(node.name))

    # Keras names
    def visit_Attribute(self, node: cst.Attribute) -> bool:
        self.skip.add(id(node.attr))
        if id(node) in self.consumed or id(node) in self.replace:
            return False
        if isinstance(node.value, cst.Name) and node.value.value == "self" and node.attr.value in _KERAS_STATE_READ \
                and node.attr.value not in self.w.assigned:
            self.todo(node, f"`self.{node.attr.value}` is Keras layer state an nn.Module does not have")
            return False
        name = self.w.keras(node)
        if name:
            self.todo(node, f"`{code(node)}` ({name}) has no PyTorch form in a layer class yet")
            return False
        return True

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) in self.skip or id(node) in self.consumed:
            return
        name = self.w.keras(node)
        if name:
            self.todo(node, f"`{node.value}` ({name}) has no PyTorch form in a layer class yet")

    def visit_Assign(self, node: cst.Assign) -> None:
        attr = _self_assigned(node)
        if attr and _is_self_call(node.value, "add_weight"):
            self.weights[id(node.value)] = attr
            for i, arg in enumerate(node.value.args):  # the initializer is read by the weight's port
                if (arg.keyword is None and i == 1) or (arg.keyword is not None and arg.keyword.value == "initializer"):
                    self.consumed.add(id(arg.value))

    def visit_Call(self, node: cst.Call) -> bool:
        if id(node) in self.consumed:
            return False
        name = self.w.keras(node.func)
        if name and _ported(name):
            self.consumed.add(id(node.func))
        elif _is_self_call(node, "add_weight") and id(node) not in self.weights:
            self.todo(node, "self.add_weight(...) is ported where it sets an attribute "
                            "(`self.w = self.add_weight(...)`)")
        return True

    def visit_Subscript(self, node: cst.Subscript) -> bool:
        return id(node) not in self.replace

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign):
        attr = self.weights.get(id(original.value))
        if attr is None:
            return updated
        try:
            return self.w.weight(attr, original.value, updated.value)
        except _Keep as exc:
            self.todo(original, str(exc))
            return updated

    def leave_Name(self, original: cst.Name, updated: cst.Name):
        if self.training and original.value == self.training and id(original) not in self.skip:
            return cst.parse_expression("self.training")
        return updated

    def leave_Subscript(self, original: cst.Subscript, updated: cst.Subscript):
        shape = _shape_of(updated.value)  # `ops.shape(x)[0]`: `x.shape[0]`, not `tuple(x.shape)[0]`
        return updated.with_changes(value=shape) if shape is not None else updated

    def leave_Call(self, original: cst.Call, updated: cst.Call):
        if _is_super_init(original):
            return updated.with_changes(args=())
        if isinstance(updated.func, cst.Name) and updated.func.value == "len" and len(updated.args) == 1:
            shape = _shape_of(updated.args[0].value)  # `len(ops.shape(x))`: `len(x.shape)`
            if shape is not None:
                return updated.with_changes(args=[updated.args[0].with_changes(value=shape)])
        name = self.w.keras(original.func)
        if not name or not _ported(name):
            return updated
        family, op = name.split(".")[1], _op_name(name)
        try:
            text = self.random(op, updated, original) if family == "random" else self.op(op, updated)
        except _Keep as exc:
            self.todo(original, str(exc))
            return updated
        return cst.parse_expression(text)

    def op(self, name: str, call: cst.Call) -> str:
        """keras.ops.<name>(...) as torch (Keras' axes: the body holds channels-last tensors)."""
        if name in _OPS:
            params, template = _OPS[name]
            args = _texts(_bind(params, call.args, len(params)), f"keras.ops.{name}")
            if "dtype" in args:
                dtype = _torch_dtype(args["dtype"])
                if dtype is None:
                    raise _Keep(f"keras.ops.{name}: dtype {args['dtype']} is not a literal dtype name")
                args["dtype"] = dtype
            return template.format(**args)
        op = keras_ops(self.w.rules).get(name)
        if op is None:
            raise _Keep(f"keras.ops.{name} has no PyTorch entry (layer_class._OPS, rules/ops/) yet")
        return _rule_op(op, call)

    def random(self, name: str, call: cst.Call, original: cst.Call) -> str:
        if name not in _RANDOM:
            raise _Keep(f"keras.random.{name} has no PyTorch entry (layer_class._RANDOM) yet")
        params, template = _RANDOM[name]
        args = _texts(_bind(params, call.args, len(params)), f"keras.random.{name}")
        if args.pop("seed", "None") != "None":
            self.w.note(original, f"keras.random.{name}(seed=...): the port draws from torch's global generator")
        if args.pop("noise_shape", "None") != "None":
            raise _Keep("keras.random.dropout with a noise_shape is not ported yet")
        like = ""
        dtype = args.pop("dtype", "None")
        if dtype != "None":
            torch_dtype = _torch_dtype(dtype)
            if torch_dtype is None:
                raise _Keep(f"keras.random.{name}: dtype {dtype} is not a literal dtype name")
            like += f", dtype={torch_dtype}"
        if self.device:
            like += f", device={self.device}"
        plain = _PLAIN_RANDOM.get(name)
        if plain and all(_number(args[k]) == v for k, v in plain[0].items()):
            template = plain[1]
        return template.format(like=like, **args)


class _Channels:
    """Whether call()'s returns keep the input's channel count: a small dataflow over call()'s
    names, each bound to INPUT (made from the inputs by elementwise code), OTHER (numbers,
    attributes, weights, sizes, random tensors: operands broadcast against the input), or None
    (anything else); `_BOTTOM` while a name's value is not known yet (loops)."""

    def __init__(self, w: _Writer, fn: cst.FunctionDef, inputs: set[str]):
        self.w, self.fn = w, fn
        self.env: dict[str, object] = {name: _INPUT for name in inputs}
        self.sources: dict[str, list] = {name: [_INPUT] for name in inputs}
        for node in own_nodes(fn.body):
            if isinstance(node, cst.Assign):
                for t in node.targets:
                    self.bind(t.target, node.value)
            elif isinstance(node, cst.AnnAssign | cst.AugAssign) and node.value is not None:
                value = node.value if isinstance(node, cst.AnnAssign) else \
                    cst.BinaryOperation(node.target, _binary(node.operator), node.value)
                self.bind(node.target, value)
            elif isinstance(node, cst.For):
                self.bind(node.target, None)
            elif isinstance(node, cst.AsName):
                self.bind(node.name, None)
            elif isinstance(node, cst.NamedExpr):
                self.bind(node.target, node.value)

    def bind(self, target, value) -> None:
        if isinstance(target, cst.Name):
            self.sources.setdefault(target.value, []).append(value)
        elif isinstance(target, cst.Tuple | cst.List):
            for e in target.elements:
                self.bind(e.value, None)

    def preserved(self) -> bool:
        for name in self.sources:
            self.env.setdefault(name, _BOTTOM)
        changed = True
        while changed:
            changed = False
            for name, sources in self.sources.items():
                kinds = [s if s is _INPUT else (None if s is None else self.kind(s)) for s in sources]
                new = _join(kinds)
                if new != self.env[name]:
                    self.env[name], changed = new, True
        returns = [n for n in own_nodes(self.fn.body) if isinstance(n, cst.Return)]
        return bool(returns) and all(r.value is not None and self.kind(r.value) is _INPUT for r in returns)

    def kind(self, node):
        if isinstance(node, cst.Name):
            return self.env.get(node.value, _OTHER)
        if isinstance(node, cst.BaseNumber | cst.BaseString | cst.Attribute):
            return _OTHER
        if isinstance(node, cst.UnaryOperation):
            return self.kind(node.expression)
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.MatrixMultiply):
                return None
            return _combine([self.kind(node.left), self.kind(node.right)])
        if isinstance(node, cst.IfExp):
            return _join([self.kind(node.body), self.kind(node.orelse)])
        if isinstance(node, cst.Subscript):
            base = self.kind(node.value)
            if base is _INPUT:  # an element of a list of inputs (`inputs[0]`), not a slice
                one = len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index)
                return _INPUT if one and _number(code(node.slice[0].slice.value)) is not None else None
            return base
        if isinstance(node, cst.Tuple | cst.List):
            kinds = [self.kind(e.value) for e in node.elements]
            return _OTHER if all(k is _OTHER for k in kinds) else (_BOTTOM if _BOTTOM in kinds else None)
        if isinstance(node, cst.Call):
            name = self.w.keras(node.func) or ""
            if _ported(name):
                op = _op_name(name)
                if op in _ELEMENTWISE and (name.startswith("keras.ops.") or op == "dropout"):
                    return _combine([self.kind(a.value) for a in node.args
                                     if not (a.keyword and a.keyword.value in ("dtype", "seed"))])
                return _OTHER if op == "shape" or name.startswith("keras.random.") else None
            if isinstance(node.func, cst.Name) and node.func.value in ("len", "int", "float", "tuple", "range"):
                return _OTHER
        return None


_INPUT, _OTHER, _BOTTOM = "input", "other", "bottom"


def _join(kinds: list) -> object:
    """A name bound in several places: the kind all of them agree on (None where they differ)."""
    known = {k for k in kinds if k is not _BOTTOM}
    if None in known or len(known) > 1:
        return None
    return known.pop() if known else _BOTTOM


def _combine(kinds: list) -> object:
    """An elementwise combination of operands: INPUT where one of them is."""
    if None in kinds:
        return None
    if _BOTTOM in kinds:
        return _BOTTOM
    return _INPUT if _INPUT in kinds else _OTHER


def _binary(op: cst.BaseAugOp) -> cst.BaseBinaryOp:
    """`x += y` read as `x + y`."""
    return getattr(cst, type(op).__name__.removesuffix("Assign"))()


# -- small helpers -------------------------------------------------------------------------------


def _ported(name: str) -> bool:
    return name.startswith(("keras.ops.", "keras.random."))


def _op_name(name: str) -> str:
    """keras.ops.mean, keras.ops.numpy.mean (Keras' own modules) -> "mean"; keras.ops.image.resize
    -> "image.resize" (a namespace of its own); keras.random.uniform -> "uniform"."""
    rest = name.split(".", 2)[2]
    head, _, tail = rest.partition(".")
    return tail if tail and head in ("numpy", "nn", "core", "math") else rest


def _shape_of(node) -> cst.Attribute | None:
    """`tuple(x.shape)` (the port of `ops.shape(x)`): `x.shape`."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "tuple" \
            and len(node.args) == 1 and isinstance(node.args[0].value, cst.Attribute) \
            and node.args[0].value.attr.value == "shape" and not node.lpar:
        return node.args[0].value
    return None


def _rule_op(op, call: cst.Call) -> str:
    """A keras.ops call through its rule read backwards (`ops.keras_ops`): Keras arguments
    bound to the rule's names, values mapped, axes as written (the body is channels-last)."""
    positional = [p for p in op.params if p.keyword is None]
    bound: dict[str, str] = {}
    nodes: dict[str, cst.BaseExpression] = {}
    i = 0
    for arg in call.args:
        if arg.star:
            raise _Keep(f"keras.ops.{op.name} with *args is not ported")
        if arg.keyword is None:
            rest = positional[i:] or [p for p in op.params if p.name not in bound]
            if not rest:
                raise _Keep(f"too many arguments for keras.ops.{op.name}")
            param = rest[0]
            i += 1
        else:
            param = next((p for p in op.params if p.keyword == arg.keyword.value), None)
            if param is None:
                raise _Keep(f"argument '{arg.keyword.value}' of keras.ops.{op.name} is not in its rule")
        bound[param.name], nodes[param.name] = code(arg.value), arg.value
    for p in op.params:
        if p.name not in bound and not p.optional:
            default = op.rule.keras_defaults.get(p.name)
            if default is None:
                raise _Keep(f"keras.ops.{op.name} without '{p.keyword or p.name}': its Keras default is not in the rule")
            bound[p.name] = default
    if any(n.startswith("*") and n.lstrip("*") in bound for n in op.rule.signature):
        raise _Keep(f"keras.ops.{op.name} takes several tensors by position: not ported")
    parts, by_position = [], True  # Keras' positional arguments stay positional while in torch's order
    by_name = {p.name: p for p in op.params}
    for n in (s.lstrip("*") for s in op.rule.signature):
        if n not in bound:
            by_position = False
            continue
        text = bound[n]
        if n in op.rule.values:
            mapped = {k: v for v, k in op.rule.values[n].items()}
            if text not in mapped:
                raise _Keep(f"keras.ops.{op.name}: {n}={text} is not a value its rule maps")
            text = mapped[text]
        if n in op.rule.axes and isinstance(nodes.get(n), cst.List):
            items = [code(e.value) for e in nodes[n].elements]
            text = f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        by_position = by_position and (not parts or by_name[n].keyword is None)
        parts.append(text if by_position else f"{n}={text}")
    return f"{op.torch}({', '.join(parts)})"


def _bind(params: tuple[str, ...], args, positional: int) -> dict | str:
    """Arguments (libcst nodes) bound to `params` ("name" or "name=default"; the first
    `positional` may come by position): name -> node, or defaults' text; a str: what is wrong."""
    names = [p.split("=", 1)[0] for p in params]
    defaults = {p.split("=", 1)[0]: p.split("=", 1)[1] for p in params if "=" in p}
    out: dict = {}
    for i, arg in enumerate(args):
        if arg.star:
            return "*args / **kwargs are not read statically"
        if arg.keyword is None:
            if i >= positional:
                return "more positional arguments than its signature takes"
            out[names[i]] = arg.value
        elif arg.keyword.value in names:
            out[arg.keyword.value] = arg.value
        else:
            return f"argument '{arg.keyword.value}' is not one it takes"
    for name in names:
        if name not in out:
            if name not in defaults:
                return f"'{name}' is missing"
            out[name] = defaults[name]
    return out


def _texts(bound: dict | str, what: str) -> dict[str, str]:
    if isinstance(bound, str):
        raise _Keep(f"{what}: {bound}")
    return {k: v if isinstance(v, str) else code(v) for k, v in bound.items()}


def _torch_dtype(text: str) -> str | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return _DTYPES.get(value) if isinstance(value, str) else None


def _number(text: str):
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _reads(node, name: str):
    """Name nodes reading `name` under `node` (not attribute names, keywords or parameters)."""
    skip = set()
    for n in _walk(node):
        if isinstance(n, cst.Attribute):
            skip.add(id(n.attr))
        elif isinstance(n, cst.Arg) and n.keyword is not None:
            skip.add(id(n.keyword))
        elif isinstance(n, cst.Param):
            skip.add(id(n.name))
        elif isinstance(n, cst.Name) and n.value == name and id(n) not in skip:
            yield n


def _is_last_axis(node, name: str | None) -> bool:
    """`name[-1]`: the input's channel count in build(self, input_shape)."""
    if not name or not isinstance(node, cst.Subscript) or not isinstance(node.value, cst.Name) \
            or node.value.value != name or len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return False
    return _number(code(node.slice[0].slice.value)) == -1


def _self_assigned(stmt) -> str | None:
    """`self.<attr> = ...` (a statement or an Assign): the attribute."""
    node = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 else stmt
    if isinstance(node, cst.Assign) and len(node.targets) == 1:
        t = node.targets[0].target
        if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
            return t.attr.value
    return None


def _is_self_call(node, method: str) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
        and isinstance(node.func.value, cst.Name) and node.func.value.value == "self" and node.func.attr.value == method


def _is_super_init(node) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "__init__" \
        and isinstance(node.func.value, cst.Call) and code(node.func.value.func) == "super"


def _keras_build_state(stmt) -> bool:
    """`super().build(input_shape)`, `self.built = True`: Keras' bookkeeping in build()."""
    node = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 else None
    if isinstance(node, cst.Expr) and isinstance(node.value, cst.Call):
        return code(node.value.func) == "super().build"
    return _self_assigned(stmt) == "built"


def _is_docstring(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 \
        and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.BaseString)


def _all_params(fn: cst.FunctionDef | None) -> list[cst.Param]:
    if fn is None:
        return []
    p = fn.params
    star = [p.star_arg] if isinstance(p.star_arg, cst.Param) else []
    kwargs = [p.star_kwarg] if p.star_kwarg is not None else []
    return [*p.posonly_params, *p.params, *star, *p.kwonly_params, *kwargs]


def _stores(fn: cst.FunctionDef) -> set[str]:
    """Names the function's body binds."""
    out = set()
    for n in own_nodes(fn.body):
        if isinstance(n, cst.AssignTarget | cst.AugAssign | cst.AnnAssign | cst.For):
            t = n.target
            out |= {t.value} if isinstance(t, cst.Name) else {
                e.value.value for e in getattr(t, "elements", ()) if isinstance(e.value, cst.Name)}
        elif isinstance(n, cst.NamedExpr) and isinstance(n.target, cst.Name):
            out.add(n.target.value)
        elif isinstance(n, cst.AsName) and isinstance(n.name, cst.Name):
            out.add(n.name.value)
    return out


def _parameters(params: cst.Parameters, drop: set[str] = frozenset(), extra_kwonly: list[str] = ()) -> cst.Parameters:
    """The signature without the parameters in `drop`, keyword-only ones added before `**kwargs`
    (rebuilt from text: libcst keeps each parameter's comma)."""
    parts = [param_text(p) for p in params.posonly_params if p.name.value not in drop]
    if parts:
        parts.append("/")
    parts += [param_text(p) for p in params.params if p.name.value not in drop]
    kwonly = [param_text(p) for p in params.kwonly_params if p.name.value not in drop] + list(extra_kwonly)
    if isinstance(params.star_arg, cst.Param):
        parts.append(param_text(params.star_arg))
    elif kwonly:
        parts.append("*")
    parts += kwonly
    if params.star_kwarg is not None:
        parts.append(param_text(params.star_kwarg))
    return cst.parse_statement(f"def f({', '.join(parts)}): pass").params


def _forwarded(params: cst.Parameters, training: str | None) -> str:
    """forward()'s arguments to `_call`: tensors channels-last, a mask and **kwargs as given."""
    def moved(name: str) -> str:
        return name if name == "mask" else f"keras_channels_last({name})"

    args = [moved(p.name.value) for p in [*params.posonly_params, *params.params][1:] if p.name.value != training]
    if isinstance(params.star_arg, cst.Param):
        args.append(f"*{moved(params.star_arg.name.value)}")
    args += [f"{p.name.value}={moved(p.name.value)}" for p in params.kwonly_params if p.name.value != training]
    if params.star_kwarg is not None:
        args.append(f"**{params.star_kwarg.name.value}")
    return ", ".join(args)


__all__ = ["CHANNELS_FIRST", "CHANNELS_LAST", "LayerClass", "is_layer_class", "write_layer_class"]
