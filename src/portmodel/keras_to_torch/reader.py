"""Read Keras source statically: find models, interpret them symbolically, lower each layer.

The interpreter walks builder functions (Sequential / functional) and subclassed `call`
methods with symbolic tensors (`Tensor`: torch expression + Keras-order shape + layout)
and records, for every layer, its lowering to PyTorch. It never imports or runs the
input. The torch writer (`writer`) turns what it records into source.
"""

from __future__ import annotations

import re

import libcst as cst

from ..core.rules import RuleSet
from ..core.static_eval import (
    UNKNOWN,
    Shaped,
    SymInt,
    is_int,
    is_symbolic,
    run_pure,
    static_eval,
    sym_code,
)
from .hooks import Untranslatable
from .layout import KERAS, TensorInfo, atom, boundary_layout, convert
from .lower import NestedLayer, lower_layer, normalize_args, render_call
from .names import KerasNames
from .ops import port_op
from .values import (
    ASSUMED,
    BATCHLESS,
    Apply,
    DeferredLayer,
    KerasModelValue,
    LayerRef,
    LayerSite,
    Scope,
    SequentialRef,
    Tensor,
    code,
    names_in,
)


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
        self.functions: dict[str, cst.FunctionDef] = {}  # module-level functions (read when pure)
        # in a subclass's call(): ({argument: attribute keeping it}, {constructor arguments})
        self.forward_names: tuple[dict[str, str], set[str]] | None = None
        self.forward_used: set[str] = set()  # the arguments forward() reads that way
        self.module_env: dict = {}  # module-level constants
        self.evaluated: set[str] = set()  # the functions it evaluated
        self.pure_depth = 0  # functions of the file being evaluated, one inside the other
        self.inputs: list[tuple[str, Tensor]] = []

    # -- static values -------------------------------------------------------------------
    def static(self, node: cst.BaseExpression):
        env = {k: v for k, v in self.env.items() if not isinstance(v, Tensor | LayerRef | DeferredLayer | SequentialRef)}
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
            return env.get(f"{node.value.value}.{node.attr.value}", UNKNOWN)
        # `x.shape[-1]`: a tensor's sizes as Keras reads them (batch unknown)
        env.update((f"{k}.shape", (None, *v.info.shape)) for k, v in self.env.items()
                   if isinstance(v, Tensor) and not v.info.unbatched)
        return static_eval(node, env, self.known_call)

    def known_call(self, node: cst.Call):
        """The value of a Keras function the translation assumes (image_data_format()), or
        of a small pure function of this file on constants (`_make_divisible(filters, 8)`:
        named by its call when an argument is a named size, so a class stays general)."""
        if self.names.of(node.func) == "keras.ops.shape" and len(node.args) == 1:  # a tensor's sizes
            value = self.env.get(node.args[0].value.value) if isinstance(node.args[0].value, cst.Name) else None
            return (None, *value.info.shape) if isinstance(value, Tensor) and not value.info.unbatched else UNKNOWN
        fn = self.functions.get(node.func.value) if isinstance(node.func, cst.Name) else None
        if fn is None:
            value = ASSUMED.get(self.names.of(node.func) or "", UNKNOWN)
            return UNKNOWN if node.args else value
        if any(a.star for a in node.args):
            return UNKNOWN
        args = [self._pure_arg(a.value) for a in node.args]
        if any(a is UNKNOWN for a in args):
            return UNKNOWN
        positional = [v for a, v in zip(node.args, args) if a.keyword is None]
        keywords = {a.keyword.value: v for a, v in zip(node.args, args) if a.keyword is not None}
        if self.pure_depth >= 8:  # a function calling functions this deep (or itself) is not a size
            return UNKNOWN
        self.pure_depth += 1
        try:
            value = run_pure(fn, positional, keywords, self.module_env, self.known_call)
        finally:
            self.pure_depth -= 1
        if value is not UNKNOWN:
            self.evaluated.add(fn.name.value)
        if is_int(value) and any(is_symbolic(a) for a in args):
            texts = [(f"{a.keyword.value}=" if a.keyword else "") + (sym_code(v) if is_symbolic(v) else code(a.value))
                     for a, v in zip(node.args, args)]
            return SymInt(value, f"{code(node.func)}({', '.join(texts)})")
        return value

    def _pure_arg(self, node: cst.BaseExpression):
        value = self.env.get(node.value) if isinstance(node, cst.Name) else None
        if isinstance(value, Tensor):  # a function given a tensor reads its shape only
            return UNKNOWN if value.info.unbatched else Shaped((None, *value.info.shape))
        return self.static(node)

    def code_of(self, node: cst.BaseExpression) -> str:
        """Source for an argument: kept as written when every name in it is kept."""
        names = {n.value for n in names_in(node)}
        if names - self.keep - {"True", "False", "None"}:
            value = self.static(node)
            if value is not UNKNOWN:
                return sym_code(value) if is_symbolic(value) else repr(value)
        if isinstance(node, cst.BinaryOperation) and node.lpar:  # a whole argument needs no parentheses
            node = node.with_changes(lpar=[], rpar=[])
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
        if any(t.info.unbatched for t in tensors) and (site.rule is None or site.rule.id not in BATCHLESS):
            raise Untranslatable("a layer on a tensor without a batch axis is not translated yet (Embedding is)")
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
        call = lowered.call if lowered.module or self.forward_names is None else self._in_forward(lowered.call)
        return Tensor(render_call(call, ref, exprs), lowered.output, Apply(site, tensors))

    def _in_forward(self, template: str) -> str:
        """An inline layer's code in forward(), where the constructor's arguments are read
        from the attributes __init__ keeps them in (`drop_rate` -> `self.drop_rate`)."""
        names, params = self.forward_names

        def scoped(match: re.Match) -> str:
            name = match.group(0)
            if name not in params:
                return name
            if name not in names:
                raise Untranslatable(f"forward() needs the argument '{name}': keep it as an attribute in __init__")
            self.forward_used.add(name)
            return names[name]

        parts = re.split(r"(\{[^{}]*\}|'[^']*'|\"[^\"]*\")", template)  # placeholders and strings stay
        return "".join(p if i % 2 else re.sub(r"(?<![\w.])[A-Za-z_]\w*(?![\w=(])", scoped, p) for i, p in enumerate(parts))

    # -- expressions -------------------------------------------------------------------------
    def eval(self, node: cst.BaseExpression):
        if isinstance(node, cst.Name):  # `None`, `True`: constants are read statically
            return self.env[node.value] if node.value in self.env else self.static(node)
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
        if isinstance(node, cst.Subscript) and isinstance(base := self.eval(node.value), Tensor):
            return self._index(base, node)
        return self.static(node)

    def _index(self, tensor: Tensor, node: cst.Subscript) -> Tensor:
        """`x[:, 0]` (the first token), `x[:, 1:]`: integers and slices over the batch and
        the axes after it, on a tensor the port holds in Keras order."""
        info = tensor.info
        if info.layout != KERAS or info.unbatched or len(node.slice) > info.rank:
            raise Untranslatable(f"'{code(node)}': indexing is translated on tensors in Keras order only")
        shape = [None, *info.shape]
        out = []
        for axis, element in enumerate(node.slice):
            index = element.slice
            if isinstance(index, cst.Index):
                if not is_int(self.static(index.value)) or axis == 0:
                    raise Untranslatable(f"'{code(node)}': only constant indices past the batch axis are translated")
                continue  # the axis goes
            bounds = [None if b is None else self.static(b) for b in (index.lower, index.upper, index.step)]
            if any(b is not None and not is_int(b) for b in bounds):
                raise Untranslatable(f"'{code(node)}': slice bounds must be constants")
            size = shape[axis]
            out.append(len(range(*slice(*bounds).indices(size))) if size is not None and axis else size)
        out += shape[len(node.slice):]
        text = f"{atom(tensor.expr)}[{', '.join(code(e.slice) for e in node.slice)}]"
        return Tensor(text, info.with_(shape=tuple(out[1:])), Apply(None, [tensor]))

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
        if isinstance(func, DeferredLayer):
            func = func.resolve(self)
        if isinstance(func, SequentialRef):
            return self._apply_sequential(func, node)
        if isinstance(func, LayerRef):
            return self.apply(func.site, node)
        if kname == "keras.ops.shape":  # sizes, read statically (`ops.shape(x)[-1]`)
            return self.static(node)
        if kname is not None and kname.startswith("keras.ops."):
            return port_op(self, node, kname.removeprefix("keras.ops."))
        if kname is not None:
            raise Untranslatable(f"{kname} is not translated yet")
        if any(isinstance(self.eval(a.value), Tensor) for a in node.args):
            raise Untranslatable(f"call to '{code(node.func)}' on a tensor is not translated yet")
        return self.static(node)

    def _apply_sequential(self, seq: SequentialRef, node: cst.Call) -> Tensor:
        extra = [a for a in node.args[1:] if not (a.keyword and a.keyword.value == "training")]
        if not node.args or extra:
            raise Untranslatable("a Sequential is called with one tensor (and `training=`)")
        value = self.eval(node.args[0].value)
        if not isinstance(value, Tensor):
            raise Untranslatable("the layer's input is not a tensor the translator can follow")
        out = value
        for site in seq.sites:
            before = out
            out = self.apply_tensors(site, [out], ref="_seq_")
            if not site.lowered.module or out.expr != f"_seq_({atom(before.expr)})":
                raise Untranslatable("a Sequential whose layers are not all modules is not translated yet")
        return Tensor(f"{code(node.func)}({atom(value.expr)})", out.info, Apply(seq.sites[-1], [value]))

    def _binary(self, node: cst.BinaryOperation):
        ops = {cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.Divide: "/"}
        left, right = self.eval(node.left), self.eval(node.right)
        if not isinstance(left, Tensor) and not isinstance(right, Tensor):
            return self.static(node)
        op = ops.get(type(node.operator))
        if op is None:
            raise Untranslatable(f"operator '{code(node.operator).strip()}' on tensors is not supported")
        parts, info = [], None
        batched = [t.info for t in (left, right) if isinstance(t, Tensor) and not t.info.unbatched]
        for side, raw in ((left, node.left), (right, node.right)):
            if isinstance(side, Tensor):
                expr = side.expr
                if side.info.unbatched and batched:  # broadcast over the batch, as both frameworks do
                    if side.info.rank > batched[0].rank or batched[0].layout != KERAS:
                        raise Untranslatable("a tensor without a batch axis meets one it does not broadcast to")
                    parts.append(atom(expr))
                    continue
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
    "canonical_order",
    "input_info",
    "to_boundary",
]
