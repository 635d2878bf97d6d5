"""Moving between the two layouts the Keras port holds tensors in, and torch axes in each.

`T` is torch's order; `CL` moves torch's axis 1 (channels) to the end. Both conversions
are one `ops.moveaxis`, right for any rank, so a tensor whose rank the code does not fix
converts as well as one whose rank it does.
"""

from __future__ import annotations

from .values import CL, T, Tensor, Var


def concrete(layout) -> bool:
    return layout in (T, CL)


def convert(code: str, have, want, ops: str) -> str:
    """`code` (a tensor held in layout `have`) in layout `want`."""
    if have == want or not concrete(have) or not concrete(want):
        return code
    if have == CL:
        return f"{ops}.moveaxis({code}, -1, 1)"
    return f"{ops}.moveaxis({code}, 1, -1)"


def keras_axis(dim: int, t: Tensor) -> int | None:
    """The Keras axis holding torch axis `dim` of `t`; None where the code does not say
    (a negative axis of a channels-last tensor of unknown rank may be the channel axis)."""
    if t.layout != CL:
        return dim
    rank = t.rank
    if dim < 0:
        if rank is None:
            return dim - 1 if dim >= -1 else None
        dim += rank
    if dim == 0:
        return 0
    if dim == 1:
        return -1
    if rank is not None:
        return dim - 1 - rank  # counted from the end: (N, H, W, C) axis 1 (H) is -3 for rank 4
    return dim - 1


def axis_text(dim: int, t: Tensor) -> str | None:
    """Keras axis as source, preferring the sign torch's code used."""
    ax = keras_axis(dim, t)
    if ax is None:
        return None
    if t.layout == CL and t.rank is not None and ax < 0 and dim >= 0 and dim != 1:
        ax += t.rank
    return str(ax)


def is_var(layout) -> bool:
    return isinstance(layout, Var)


def spatial_ones(t: Tensor) -> bool:
    """Every axis after torch's channel axis has size 1: channels-last and torch order hold
    the same elements in the same order, so a flatten or reshape needs no transpose."""
    return t.rank is not None and set(range(2, t.rank)) <= set(t.ones)
