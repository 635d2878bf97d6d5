"""The values the Keras reader works with: symbolic tensors (a torch expression, a Keras-order
shape, a layout), layer sites and references, scopes, and the small code helpers they share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import libcst as cst

from ..core.identifiers import unique
from ..core.static_eval import UNKNOWN, is_int
from .hooks import Untranslatable
from .layout import TensorInfo, torch_dim
from .lower import Lowered


def snake(name: str) -> str:
    """Keras' own CamelCase -> snake_case (Conv2D -> conv2d)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def param_text(p: cst.Param) -> str:
    """A parameter as written, without its comma and the line break after it."""
    return code(p.with_changes(comma=cst.MaybeSentinel.DEFAULT)).strip().rstrip(",")


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


@dataclass(frozen=True, eq=False)
class SequentialRef:
    """`self.ffn = keras.Sequential([...])` in a subclass: its layers, applied in turn."""

    sites: tuple


@dataclass(eq=False)
class DeferredLayer:
    """A layer whose arguments read values of call() (`Conv2D(int(x.shape[-1] * r), 1)`,
    as a helper function computes them): its site is made where it is first applied."""

    node: cst.Call
    attr: str
    site: LayerSite | None = None

    def resolve(self, interp) -> LayerRef:  # interp: the reader's Interpreter
        if self.site is None:
            self.site = interp.site_for(self.node, self.attr)
        return LayerRef(self.site)


@dataclass(frozen=True)
class KerasModelValue:
    """keras.Model(inputs, outputs) / keras.Sequential(...) seen in a builder."""

    outputs: Any
    name: str | None


class Scope:
    """Names for one model: attribute names unique within the generated class."""

    def __init__(self):
        self.sites: list[LayerSite] = []
        self.used: set[str] = set()

    def attr(self, site: LayerSite, preferred: str | None) -> str:
        base = preferred or snake(site.cls)
        base = re.sub(r"\W", "_", base).rstrip("_") or "layer"  # `block1a_` (a name prefix) -> block1a
        if base[0].isdigit() or base in ("forward", "training", "self"):
            base = f"layer_{base}"
        return unique(base, self.used)


# layers whose output follows an input without a batch axis (position ids -> embeddings)
BATCHLESS = {"embedding"}


# Keras functions whose value the translation assumes: the source is read channels-last
ASSUMED = {"keras.backend.image_data_format": "channels_last", "keras.config.image_data_format": "channels_last"}


class PortValue(cst.CSTTransformer):
    """A constant computed in call(), as torch reads it: `x.shape[-1]` of a tensor the port
    holds channels-first -> `x.shape[1]`; `backend.image_data_format()` -> its value."""

    def __init__(self, interp, env: dict):
        self.interp = interp
        self.env = env

    def leave_Subscript(self, original, updated):
        base = original.value
        if isinstance(base, cst.Call) and self.interp.names.of(base.func) == "keras.ops.shape" and len(base.args) == 1:
            base = cst.Attribute(base.args[0].value, cst.Name("shape"))  # ops.shape(x)[-1] is x.shape[-1]
            updated = updated.with_changes(value=base)
        if not (isinstance(base, cst.Attribute) and base.attr.value == "shape" and isinstance(base.value, cst.Name)):
            return updated
        tensor = self.env.get(base.value.value)
        if not isinstance(tensor, Tensor):
            return updated
        index = original.slice[0].slice if len(original.slice) == 1 else None
        axis = self.interp.static(index.value) if isinstance(index, cst.Index) else UNKNOWN
        if not is_int(axis):
            raise Untranslatable(f"'{code(original)}': only a constant axis of a tensor's shape is translated")
        dim = cst.parse_expression(str(torch_dim(int(axis), tensor.info)))
        return updated.with_changes(slice=[cst.SubscriptElement(cst.Index(dim))])

    def leave_Call(self, original, updated):
        if (self.interp.names.of(original.func) or "") in ASSUMED:
            return cst.parse_expression(repr(self.interp.known_call(original)))
        return updated


def single(stmt) -> cst.BaseSmallStatement | None:
    """The one small statement of a simple statement line (`x = f(y)`), else None."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    return None


def names_in(node: cst.CSTNode) -> list[cst.Name]:
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
