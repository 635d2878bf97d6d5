"""Read Keras source statically: find models, interpret them symbolically, lower each layer.

The interpreter walks builder functions (Sequential / functional) and subclassed `call`
methods with symbolic tensors (`Tensor`: torch expression + Keras-order shape + layout)
and records, for every layer, its lowering to PyTorch. It never imports or runs the
input. The torch writer (`torch_writer`) turns what it records into source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from .hooks import Untranslatable
from .keras_names import KerasNames
from .layout import TensorInfo, atom, boundary_layout, convert
from .lower import Lowered, NestedLayer, lower_layer, normalize_args, render_call
from .rules import RuleSet
from .static_eval import UNKNOWN, SymInt, static_eval, sym_code


def snake(name: str) -> str:
    """Keras' own CamelCase -> snake_case (Conv2D -> conv2d)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


@dataclass(eq=False)
class LayerSite:
    """One Keras layer instance (a constructor call in the source)."""

    node: cst.Call
    rule: Any
    kwargs: dict
    attr: str = ""
    cls: str = ""
    lowered: Lowered | None = None
    fuse_activation: bool = False  # called through a loop variable: activation in the module


@dataclass(eq=False)
class Apply:
    """One application of a layer (or op) to tensors: a node of the data-flow graph."""

    site: LayerSite | None
    inputs: list


@dataclass(frozen=True, eq=False)
class Tensor:
    expr: str
    info: TensorInfo
    producer: Apply | None = None

    def named(self, name: str) -> Tensor:
        return Tensor(name, self.info, self.producer)


@dataclass(frozen=True, eq=False)
class LayerRef:
    site: LayerSite


@dataclass
class ModelInfo:
    """What the translation made of one Keras model (used by weights/verify/port)."""

    source: str  # builder function, class or variable name in the Keras file
    target: str  # generated torch class
    style: str  # sequential | functional | subclassed
    order: list[str] = field(default_factory=list)  # torch attributes, registration order


@dataclass(frozen=True)
class KerasModelValue:
    """keras.Model(inputs, outputs) / keras.Sequential(...) seen in a builder."""

    outputs: Any
    name: str | None


def unique(base: str, taken: set[str]) -> str:
    """`base`, or `base_1`, `base_2`... whichever is not taken yet; added to `taken`."""
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


class Scope:
    """Names for one model: attribute names unique within the generated class."""

    def __init__(self):
        self.sites: list[LayerSite] = []
        self.used: set[str] = set()

    def attr(self, site: LayerSite, preferred: str | None) -> str:
        base = preferred or snake(site.cls)
        base = re.sub(r"\W", "_", base) or "layer"
        if base[0].isdigit() or base in ("forward", "training", "self"):
            base = f"layer_{base}"
        return unique(base, self.used)


class Interpreter:
    """Evaluates expressions of Keras model code symbolically."""

    def __init__(self, names: KerasNames, rules: RuleSet, env: dict, scope: Scope, keep: set[str]):
        self.names = names
        self.rules = rules
        self.env = env
        self.scope = scope
        self.keep = keep  # names kept verbatim in generated code (params, module constants)
        self.refs_as_written = False  # subclassed code calls layers by their source expression
        self.custom = None  # callable(site, tensors, interp) -> Lowered, for Keras classes in the file
        self.inputs: list[tuple[str, Tensor]] = []

    # -- static values -------------------------------------------------------------------
    def static(self, node: cst.BaseExpression):
        env = {k: v for k, v in self.env.items() if not isinstance(v, Tensor | LayerRef)}
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
            return env.get(f"{node.value.value}.{node.attr.value}", UNKNOWN)
        return static_eval(node, env)

    def code_of(self, node: cst.BaseExpression) -> str:
        """Source for an argument: kept as written when every name in it is kept."""
        names = {n.value for n in _names_in(node)}
        if names - self.keep - {"True", "False", "None"}:
            value = self.static(node)
            if value is not UNKNOWN:
                return sym_code(value) if isinstance(value, SymInt) else repr(value)
        return code(node)

    def value_of(self, node: cst.BaseExpression):
        layer = self._layer_ctor(node)
        if layer is not None:
            return NestedLayer(layer.rule, layer.kwargs)
        return self.static(node)

    # -- layers ----------------------------------------------------------------------------
    def _layer_ctor(self, node) -> LayerSite | None:
        if not isinstance(node, cst.Call):
            return None
        cls = self.names.layer_class(node.func)
        if cls is None:
            return None
        rule = self.rules.layer(cls)
        if rule is None:
            raise Untranslatable(f"no rule translates keras.layers.{cls} yet")
        kwargs = normalize_args(rule, node, self.value_of, self.code_of)
        return LayerSite(node, rule, kwargs, cls=cls)

    def new_site(self, node: cst.CSTNode, preferred: str | None = None) -> LayerSite:
        site = self._layer_ctor(node)
        if site is None:
            raise Untranslatable(f"'{code(node)}' is not a Keras layer the translator can resolve")
        name = site.kwargs.get("name")
        if name is not None and isinstance(name.value, str):
            preferred = name.value
        site.attr = self.scope.attr(site, preferred)
        self.scope.sites.append(site)
        return site

    def apply(self, site: LayerSite, call: cst.Call) -> Tensor:
        if not call.args:
            raise Untranslatable("layer called without inputs")
        more = []  # further positional tensors: MultiHeadAttention(query, value, key)
        for arg in call.args[1:]:
            kw = arg.keyword.value if arg.keyword else None
            if kw is None and isinstance(extra := self.eval(arg.value), Tensor):
                more.append(extra)
            elif kw not in ("training",):
                raise Untranslatable(f"layer call argument '{kw or code(arg.value)}' is not supported")
        value = self.eval(call.args[0].value)
        ref = code(call.func) if self.refs_as_written else None
        out = self.apply_tensors(site, (value if isinstance(value, list) else [value]) + more, ref)
        if self.refs_as_written and isinstance(call.func, cst.Call) and site.lowered.module:
            raise Untranslatable("a layer created inside call() is not translated yet; create it in __init__")
        return out

    def new_custom_site(self, node: cst.Call, preferred: str | None = None) -> LayerSite:
        """An instance of a Keras Layer/Model class defined in the same file."""
        site = LayerSite(node, None, {}, cls=node.func.value)
        label = next((self.static(a.value) for a in node.args if a.keyword and a.keyword.value == "name"), None)
        site.attr = self.scope.attr(site, preferred or (label if isinstance(label, str) else None))
        self.scope.sites.append(site)
        return site

    def site_for(self, node: cst.Call, preferred: str | None = None) -> LayerSite:
        """A site for a Keras layer constructor or an instance of a class of this file."""
        return self.new_custom_site(node, preferred) if self.is_custom(node) else self.new_site(node, preferred)

    def is_custom(self, node) -> bool:
        return (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Name)
            and self.custom is not None
            and node.func.value in self.custom.classes
        )

    def apply_tensors(self, site: LayerSite, tensors: list, ref: str | None = None) -> Tensor:
        if not tensors or not all(isinstance(t, Tensor) for t in tensors):
            raise Untranslatable("the layer's input is not a tensor the translator can follow")
        if site.rule is None:
            lowered = self.custom(site, tensors, self)
            exprs = [t.expr for t in tensors]
        else:
            lowered, exprs = lower_layer(
                self.rules, site.rule, site.kwargs, [(t.expr, t.info) for t in tensors], site.fuse_activation
            )
        if site.lowered is None:
            site.lowered = lowered
        elif site.lowered.module != lowered.module:
            raise Untranslatable(f"layer '{site.attr}' is reused on inputs of another shape")
        ref = (ref or f"self.{site.attr}") if lowered.module else None
        return Tensor(render_call(lowered.call, ref, exprs), lowered.output, Apply(site, tensors))

    # -- expressions -------------------------------------------------------------------------
    def eval(self, node: cst.BaseExpression):
        if isinstance(node, cst.Name):
            return self.env.get(node.value, UNKNOWN)
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
            key = f"{node.value.value}.{node.attr.value}"
            if key in self.env:
                return self.env[key]
        if isinstance(node, cst.List | cst.Tuple):
            return [self.eval(el.value) for el in node.elements]
        if isinstance(node, cst.BinaryOperation):
            return self._binary(node)
        if isinstance(node, cst.Call):
            return self._call(node)
        return self.static(node)

    def _call(self, node: cst.Call):
        kname = self.names.of(node.func)
        if kname == "keras.Input":
            return self._input(node)
        if kname in ("keras.Model", "keras.Sequential"):
            return self._model(node, kname)
        if self.names.layer_class(node.func) is not None:
            return LayerRef(self.new_site(node))
        if self.is_custom(node):
            return LayerRef(self.new_custom_site(node))
        func = self.eval(node.func)
        if isinstance(func, LayerRef):
            return self.apply(func.site, node)
        if kname is not None and kname.startswith("keras.ops."):
            from .keras_ops import port_op

            return port_op(self, node, kname.removeprefix("keras.ops."))
        if kname is not None:
            raise Untranslatable(f"{kname} is not translated yet")
        if any(isinstance(self.eval(a.value), Tensor) for a in node.args):
            raise Untranslatable(f"call to '{code(node.func)}' on a tensor is not translated yet")
        return self.static(node)

    def _binary(self, node: cst.BinaryOperation):
        ops = {cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.Divide: "/"}
        left, right = self.eval(node.left), self.eval(node.right)
        if not isinstance(left, Tensor) and not isinstance(right, Tensor):
            return self.static(node)
        op = ops.get(type(node.operator))
        if op is None:
            raise Untranslatable(f"operator '{code(node.operator).strip()}' on tensors is not supported")
        parts, info = [], None
        for side, raw in ((left, node.left), (right, node.right)):
            if isinstance(side, Tensor):
                expr = side.expr
                if info is None:
                    info = side.info
                else:
                    expr, _ = convert(side.expr, side.info, info.layout)
                parts.append(atom(expr))
            elif side is UNKNOWN:
                raise Untranslatable(f"'{code(raw)}' is not a constant the translator can read")
            else:
                parts.append(self.code_of(raw))
        inputs = [s for s in (left, right) if isinstance(s, Tensor)]
        return Tensor(f"{parts[0]} {op} {parts[1]}", info, Apply(None, inputs))

    def _input(self, node: cst.Call) -> Tensor:
        args = {a.keyword.value if a.keyword else ("shape" if i == 0 else f"_{i}"): a.value for i, a in enumerate(node.args)}
        shape = self.static(args["shape"]) if "shape" in args else UNKNOWN
        if shape is UNKNOWN or shape is None:
            raise Untranslatable("keras.Input needs a constant shape")
        dtype = self.static(args["dtype"]) if "dtype" in args else "float32"
        info = TensorInfo(tuple(shape), dtype=str(dtype or "float32"))
        return Tensor("", info.with_(layout=boundary_layout(info.rank)), None)

    def _model(self, node: cst.Call, kname: str):
        args = {}
        for i, a in enumerate(node.args):
            key = a.keyword.value if a.keyword else (("inputs", "outputs", "name")[i] if i < 3 else f"_{i}")
            args[key] = a.value
        if kname == "keras.Sequential":
            raise Untranslatable("a Sequential model inside a functional model is not translated yet")
        name = self.static(args["name"]) if "name" in args else None
        return KerasModelValue(self.eval(args["outputs"]), name if isinstance(name, str) else None)


def single(stmt) -> cst.BaseSmallStatement | None:
    """The one small statement of a simple statement line (`x = f(y)`), else None."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    return None


def _names_in(node: cst.CSTNode) -> list[cst.Name]:
    """Names an expression reads (`a.b` reads `a`; keyword names are not reads)."""
    found: list[cst.Name] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, cst.Name):
            found.append(n)
        elif isinstance(n, cst.Attribute | cst.Arg):
            stack.append(n.value)
        else:
            stack.extend(n.children)
    return found


def canonical_order(outputs: list[Tensor], sites: list[LayerSite]) -> list[LayerSite]:
    """Layers in first-visit order of a depth-first walk from the outputs (inputs in order).

    The weights step walks the Keras model's graph the same way, which pairs layers
    without relying on names or on Keras' internal ordering (see docs/weights.md).
    """
    seen_apply: set[int] = set()
    order: list[LayerSite] = []
    seen_site: set[int] = set()

    def visit(t: Tensor) -> None:
        a = t.producer
        if a is None or id(a) in seen_apply:
            return
        seen_apply.add(id(a))
        for inp in a.inputs:
            visit(inp)
        if a.site is not None and id(a.site) not in seen_site:
            seen_site.add(id(a.site))
            order.append(a.site)

    for out in outputs:
        visit(out)
    return order + [s for s in sites if id(s) not in seen_site]


def input_info(shape: tuple, first_rule_id: str | None, dtype: str | None = None) -> TensorInfo:
    """A model input: integer tokens when it feeds an Embedding."""
    if dtype is None:
        dtype = "int64" if first_rule_id == "embedding" else "float32"
    info = TensorInfo(tuple(shape), dtype=dtype)
    return info.with_(layout=boundary_layout(info.rank))


def to_boundary(t: Tensor) -> str:
    expr, _ = convert(t.expr, t.info, boundary_layout(t.info.rank))
    return expr


__all__ = [
    "Interpreter",
    "KerasModelValue",
    "LayerRef",
    "LayerSite",
    "ModelInfo",
    "Scope",
    "Tensor",
    "Untranslatable",
    "canonical_order",
    "code",
    "input_info",
    "single",
    "snake",
    "to_boundary",
    "unique",
]
