"""Kinds of modules, and what each does to the layout of the tensor it is called on.

A kind is read from the code that builds the module: a torch.nn layer (its rule says the
layout it wants), a class of the package (its `forward`, translated once, says), an
`nn.Sequential` of kinds (the chain of its items), a container of modules, or a module the
code does not fix (a parameter: `block(...)`, `norm_layer(...)`), assumed to follow the
layout it is given. The assumption is checked where it matters: on instances, by `verify`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .values import CL, DYN, Builder, Const, Items, Module, T, Tensor, Value


@dataclass(frozen=True)
class Layer:
    """A torch.nn layer: `wants` is the layout its Keras layer takes (CL, T, or None for
    any); `unit_spatial`: its output's spatial axes have size 1 (global pooling)."""

    cls: str
    wants: str | None = None
    gives: str | None = None  # layout of the output when it is not the input's
    unit_spatial: bool = False
    rank: int | None = None  # the rank of the tensors it takes, when fixed (Conv2d: 4)
    call: str | None = None  # how the Keras layer is called, when not as torch calls it
    args: tuple = ()  # (torch argument, its constant source text) of the constructor call
    adds_axes: int = 0  # axes the output has more than the input (Embedding: 1)


@dataclass(frozen=True)
class Local:
    """An instance of a class of the package."""

    cls: str  # qualified name


@dataclass(frozen=True)
class Seq:
    """An nn.Sequential (or a subclass): its items in order; None when the code does not fix them."""

    items: tuple | None
    cls: str | None = None  # a Sequential subclass of the package
    names: tuple | None = None  # the items' names (nn.Sequential(OrderedDict(...)))


@dataclass(frozen=True)
class Bag:
    """nn.ModuleList / nn.ModuleDict: what any of its items is."""

    each: object


@dataclass(frozen=True)
class Unknown:
    pass


UNKNOWN = Unknown()


@dataclass(frozen=True)
class Union:
    """An attribute given modules of different kinds (`self.conv_proj` is a Sequential or a
    Conv2d): the first that wants a layout decides the input's."""

    kinds: tuple


def union(a, b):
    if a == b:
        return a
    if isinstance(a, Unknown):
        return b
    if isinstance(b, Unknown):
        return a
    left = a.kinds if isinstance(a, Union) else (a,)
    right = b.kinds if isinstance(b, Union) else (b,)
    return Union(left + tuple(k for k in right if k not in left))


def apply(kind, x: Tensor, summaries) -> tuple[str | None, Tensor]:
    """(the layout `kind` wants its input in, or None; the output for input `x`).

    `summaries(cls)` gives (wanted layout, output function) of a package class."""
    if isinstance(kind, Layer):
        out = x if kind.gives is None else x.with_(layout=kind.gives)
        if kind.wants is not None:
            out = out.with_(layout=kind.gives or kind.wants)
        if kind.rank is not None:
            out = out.with_(rank=kind.rank)
        elif kind.adds_axes and out.rank is not None:
            out = out.with_(rank=out.rank + kind.adds_axes)
        if kind.unit_spatial and out.rank is not None:
            out = out.with_(ones=frozenset(range(2, out.rank)))
        elif kind.wants == CL or kind.gives is not None:
            out = out.with_(ones=frozenset())
        return kind.wants, out
    if isinstance(kind, Local):
        return summaries(kind.cls, x)
    if isinstance(kind, Union):
        results = [apply(k, x, summaries) for k in kind.kinds]
        for wants, out in results:
            if wants is not None:
                return wants, out
        return results[0] if results else (None, x)
    if isinstance(kind, Seq):
        if kind.items is None:
            return None, x
        wants, cur = None, x
        for item in kind.items:
            w, cur = apply(item, cur, summaries)
            if wants is None and w is not None:
                wants = w
        return wants, cur
    return None, x


def first_wants(kind, summaries) -> str | None:
    return apply(kind, Tensor(), summaries)[0]


__all__ = ["CL", "UNKNOWN", "Bag", "Layer", "Local", "Seq", "T", "Unknown", "apply", "union"]


def join(a: Value, b: Value) -> Value:
    """What a name holds after two branches."""
    if a == b:
        return a
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        layout = a.layout if a.layout == b.layout else None
        return Tensor(layout if layout is not None else a.layout, a.rank if a.rank == b.rank else None, a.ones & b.ones)
    if isinstance(a, Module) and isinstance(b, Module):
        return Module(union(a.kind, b.kind))
    if isinstance(a, Items) and isinstance(b, Items):
        items = a.items if a.items == b.items else None
        keys = a.keys if a.keys == b.keys else (() if a.keys is not None and b.keys is not None else None)
        return Items(items if keys == a.keys else None, join(a.each, b.each) if a.each != b.each else a.each, keys)
    if isinstance(a, Const) and a.value is None:
        return b
    if isinstance(b, Const) and b.value is None:
        return a
    if isinstance(a, Tensor):
        return a
    if isinstance(b, Tensor):
        return b
    if isinstance(a, Module | Builder):
        return a
    if isinstance(b, Module | Builder):
        return b
    return DYN
