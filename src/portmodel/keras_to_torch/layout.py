"""Symbolic tensors and the NHWC <-> NCHW layout bookkeeping.

Shapes are always kept in Keras order (channels last, batch excluded). A tensor's
`layout` says how the *PyTorch* port holds it: `keras` (same element order as Keras)
or `channels_first` (channels moved to dim 1, as torch convolutions want). Conventions
for model boundaries (docs/layout.md): rank-4/5 inputs and outputs are channels-first
in the port, everything else keeps the Keras order.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

import libcst as cst

KERAS = "keras"
CF = "channels_first"


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple  # Keras order, no batch; None for an unknown size
    layout: str = KERAS
    dtype: str = "float32"
    # a tensor with no batch axis (`ops.arange(length)` position ids): its first axis is
    # taken as the batch, so only ops that broadcast or look up (Embedding) follow it
    unbatched: bool = False

    @property
    def rank(self) -> int:
        return len(self.shape) + 1

    @property
    def channels(self):
        return self.shape[-1] if self.shape else None

    def with_(self, **kw) -> TensorInfo:
        return replace(self, **kw)


def boundary_layout(rank: int) -> str:
    """Layout of a model input/output in the port."""
    return CF if rank in (4, 5) else KERAS


def _perm(rank: int, to_cf: bool) -> tuple[int, ...]:
    if to_cf:
        return (0, rank - 1, *range(1, rank - 1))
    return (0, *range(2, rank), 1)


_SIMPLE = re.compile(r"[A-Za-z_][\w.]*")


@functools.lru_cache(maxsize=4096)
def atom(expr: str) -> str:
    """Parenthesise `expr` unless it already binds tighter than attribute access."""
    if _SIMPLE.fullmatch(expr):
        return expr
    node = cst.parse_expression(expr)
    if isinstance(node, cst.Name | cst.Attribute | cst.Call | cst.Subscript) and not node.lpar:
        return expr
    return f"({expr})"


def convert(expr: str, info: TensorInfo, layout: str) -> tuple[str, TensorInfo]:
    """Return (expression, info) holding the same tensor in `layout`."""
    if info.layout == layout or info.rank < 3:
        return expr, info.with_(layout=layout) if info.rank < 3 else info
    perm = _perm(info.rank, layout == CF)
    if info.rank == 3:
        code = f"{atom(expr)}.transpose(1, 2)"
    else:
        code = f"{atom(expr)}.permute({', '.join(map(str, perm))})"
    return code, info.with_(layout=layout)


def torch_dim(axis: int, info: TensorInfo) -> int:
    """Map a Keras axis (batch included, may be negative) to the port's dim."""
    rank = info.rank
    a = axis % rank
    if info.layout == KERAS or rank < 3:
        return axis if axis < 0 else a
    if a == 0:
        return 0
    return 1 if a == rank - 1 else a + 1


def spatial_dims(info: TensorInfo) -> tuple[int, ...]:
    """Torch dims of the spatial axes (all but batch and channels)."""
    rank = info.rank
    if info.layout == CF:
        return tuple(range(2, rank))
    return tuple(range(1, rank - 1))
