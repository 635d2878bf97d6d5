"""Tensors of a PyTorch model as its Keras port holds them (the PyTorch -> Keras direction).

Shapes are torch's (`meta`: a tensor on torch's meta device, batch included). A tensor's
`layout` says how the *Keras* port holds it: `torch` (same element order) or
`channels_last` (torch's dim 1 moved to the end, as Keras convolutions want). Model
boundaries follow docs/layout.md: rank-4/5 inputs and outputs are channels-last in the
port, everything else keeps torch's order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .hooks import CHANNELS_LAST, TORCH_ORDER
from .layout import atom


@dataclass(frozen=True)
class KTensor:
    expr: str  # Keras source that computes it
    meta: Any  # torch tensor on the meta device: torch shape and dtype
    layout: str = TORCH_ORDER

    @property
    def rank(self) -> int:
        return self.meta.dim()

    def named(self, name: str) -> KTensor:
        return replace(self, expr=name)


def boundary_layout(rank: int) -> str:
    return CHANNELS_LAST if rank in (4, 5) else TORCH_ORDER


def perm(rank: int, to_channels_last: bool) -> tuple[int, ...]:
    if to_channels_last:
        return (0, *range(2, rank), 1)
    return (0, rank - 1, *range(1, rank - 1))


def to_layout(t: KTensor, layout: str) -> KTensor:
    """The same tensor in `layout` (a transpose in the Keras code when it changes)."""
    if t.rank < 3 or t.layout == layout or layout not in (TORCH_ORDER, CHANNELS_LAST):
        return t if t.rank >= 3 or t.layout == TORCH_ORDER else replace(t, layout=TORCH_ORDER)
    axes = perm(t.rank, layout == CHANNELS_LAST)
    return KTensor(f"ops.transpose({t.expr}, {axes})", t.meta, layout)


def keras_axis(dim: int, t: KTensor) -> int:
    """torch dim of `t` (may be negative) -> the Keras axis in the port's layout."""
    rank = t.rank
    d = dim % rank
    if t.layout != CHANNELS_LAST or rank < 3:
        return dim
    if d == 0:
        return 0
    return rank - 1 if d == 1 else d - 1


def dim_size(t: KTensor, dim: int):
    """`x.size(dim)` / `x.shape[dim]`: the batch size is only known when the model runs
    (`ops.shape(x)[0]`); every other size is the constant the input shape gives."""
    from .static_eval import SymInt

    value = int(t.meta.shape[dim])
    return SymInt(value, f"ops.shape({t.expr})[0]") if dim % t.rank == 0 else value


def permute_layer(rank: int, to_channels_last: bool) -> str:
    """A `layers.Permute` doing the same as `to_layout` inside a keras.Sequential."""
    axes = perm(rank, to_channels_last)[1:]
    return f"layers.Permute({axes})"


__all__ = ["KTensor", "atom", "boundary_layout", "dim_size", "keras_axis", "perm", "permute_layer", "to_layout"]
