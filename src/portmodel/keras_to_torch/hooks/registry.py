"""The lowering registries and the types a lowering works with (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...core.static_eval import UNKNOWN, sym_code
from ..layout import TensorInfo

LOWERINGS: dict[str, Callable[[LayerCtx], Lowering]] = {}
TRANSFORMS: dict[str, Callable[..., Any]] = {}  # Keras array -> torch array(s)
INVERSES: dict[str, Callable[..., Any]] = {}  # torch array(s), Keras shape -> Keras array
AXIS_ORDERS: dict[str, Callable[[int], tuple]] = {}  # transforms that only reorder axes: ndim -> order
SUPPORT: dict[str, str] = {}  # function name -> its source, written into a port whose code calls it


class Untranslatable(Exception):
    """The rule cannot express this use of the layer; the reason becomes a TODO.

    The reason is kept on one line (source quoted in it may span several): it is written
    into the port as a `# portmodel: TODO` comment."""

    def __init__(self, reason: str = ""):
        super().__init__(" ".join(str(reason).split()))


def _registrar(table: dict, what: str):
    """A decorator factory filling `table` by name; a second registration is an error."""

    def by_name(name: str):
        def register(fn):
            if name in table:
                raise RuntimeError(f"{what} '{name}' registered twice")
            table[name] = fn
            return fn

        return register

    return by_name


def support_function(source: str) -> str:
    """Register a module-level function (its source) that generated code may call; the
    translation writes it once into a port that calls it. Returns its name."""
    keyword = "class " if source.lstrip().startswith("class ") else "def "  # a support class: nn.Module
    name = source.split(keyword, 1)[1].split("(", 1)[0]
    if SUPPORT.get(name, source) != source:
        raise RuntimeError(f"support function '{name}' registered twice")
    SUPPORT[name] = source.strip("\n") + "\n"
    return name


lowering = _registrar(LOWERINGS, "lowering")
transform = _registrar(TRANSFORMS, "weight transform")
# the PyTorch -> Keras inverse of a transform (rules serve both directions)
inverse = _registrar(INVERSES, "inverse of weight transform")
# a transform that is a pure axis reordering (streamed in blocks by `portmodel.streaming`)
axis_order = _registrar(AXIS_ORDERS, "axis order of weight transform")


def keras_ctor(name: str, positional: list[str], keywords: dict[str, str | None]) -> str:
    """`layers.X(pos..., key=value...)`, leaving out keywords whose value is None."""
    parts = positional + [f"{k}={v}" for k, v in keywords.items() if v is not None]
    return f"{name}({', '.join(parts)})"


@dataclass(frozen=True)
class Arg:
    value: Any  # static value, or UNKNOWN
    code: str  # source text, kept in the port where possible


@dataclass
class Lowering:
    module: str | None  # nn.Module constructor source, None when inlined in forward
    call: str  # forward template: {m} module, {x} first input, {x0}.., {xs} all inputs
    output: TensorInfo
    weights: tuple | None = None  # None: the rule's mapping
    notes: list[str] = field(default_factory=list)


@dataclass
class LayerCtx:
    rule: Any  # LayerRule
    kwargs: dict[str, Arg]
    inputs: list[TensorInfo]
    activations: dict  # name -> Activation
    rules: Any = None  # the whole RuleSet, for wrappers such as Bidirectional

    @property
    def x(self) -> TensorInfo:
        return self.inputs[0]

    def has(self, name: str) -> bool:
        return name in self.kwargs

    def get(self, name: str, default: Any = None, *, required: bool = True) -> Any:
        """Static value of an argument (or `default`); Untranslatable if it is not constant."""
        if name not in self.kwargs:
            return default
        value = self.kwargs[name].value
        if value is UNKNOWN and required:
            raise Untranslatable(f"argument '{name}' is not a constant the translator can read")
        return value

    def code(self, name: str, default: str | None = None) -> str | None:
        arg = self.kwargs.get(name)
        return arg.code if arg is not None else default

    def ints(self, name: str, n: int, default) -> tuple[int, ...]:
        value = self.get(name, default)
        if isinstance(value, int):
            return (value,) * n
        if not isinstance(value, tuple | list):
            raise Untranslatable(f"argument '{name}' should be an int or {n} of them, got {value!r}")
        value = tuple(value)
        if len(value) != n:
            raise Untranslatable(f"argument '{name}' should have {n} values, got {value!r}")
        return value

    def need_channels(self) -> int:
        c = self.x.channels
        if c is None:
            raise Untranslatable("the input's channel count is unknown; pass --input-shape")
        return c

    def channels_code(self) -> str:
        """The input's channel count as source: a name (`filters`) when it has one."""
        return sym_code(self.need_channels())

    def check_channels_last(self) -> None:
        if self.get("data_format", "channels_last") not in (None, "channels_last"):
            raise Untranslatable("data_format='channels_first' is not supported yet")

    def ctor(self, positional: list[str], extra: dict[str, str] | None = None, name: str | None = None) -> str:
        """`nn.X(pos..., renamed args..., defaults written out..., extra...)`; `name` overrides nn.X."""
        kw: dict[str, str] = {}
        for keras_name, torch_name in self.rule.args.items():
            if keras_name in self.kwargs:
                kw[torch_name] = self.kwargs[keras_name].code
        for d in self.rule.defaults_differ:
            value = self.get(d.keras, d.keras_default)
            if d.convert == "one_minus":
                value = round(1 - value, 12)
            kw[d.torch] = repr(value)
        kw.update(extra or {})
        parts = positional + [f"{k}={v}" for k, v in kw.items()]
        return f"{name or self.rule.torch}({', '.join(parts)})"


def ints_code(values) -> str:
    """`3` when all values agree, else `(3, 5)`: how torch constructors take sizes."""
    values = [int(v) for v in values]
    return str(values[0]) if len(set(values)) == 1 else f"({', '.join(map(str, values))})"


def snippet(call_template: str, **names: str) -> str:
    """Fill a template, leaving the {m}/{x} slots for the writer."""
    return call_template.format_map(_Keep(names))


class _Keep(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def activation_call(name: Any, activations: dict, out: TensorInfo, inner: str) -> str:
    """Wrap `inner` in the torch form of Keras activation `name` (None/'linear': no-op)."""
    from ..layout import torch_dim

    if name is None:
        return inner
    if not isinstance(name, str):
        raise Untranslatable(f"activation {name!r} is not a name the rules know")
    act = activations.get(name)
    if act is None:
        raise Untranslatable(f"activation '{name}' has no PyTorch equivalent in the rules")
    dim = torch_dim(-1, out) if act.axis else None
    return act.torch.format(x=inner, dim=dim)


@dataclass(frozen=True)
class NestedLayer:
    """A Keras layer constructor passed as an argument (Bidirectional(LSTM(...)))."""

    rule: Any  # LayerRule
    kwargs: dict


def lower_nested(ctx: LayerCtx, nested) -> tuple[Any, Lowering]:
    """Lower a layer given as an argument, on the wrapper's input."""
    if not isinstance(nested, NestedLayer):
        raise Untranslatable("the wrapped layer must be a Keras layer constructor call")
    inner = LayerCtx(nested.rule, dict(nested.kwargs), ctx.inputs, ctx.activations, ctx.rules)
    return nested.rule, LOWERINGS[nested.rule.lower](inner)
