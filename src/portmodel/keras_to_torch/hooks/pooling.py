"""Pooling: Max/AveragePooling 1D/2D/3D and the global poolings.

Keras 'same' average pooling excludes the padding from the mean; torch does that with
`count_include_pad=False` only for symmetric padding, so uneven padding is written as
a ratio of two pooled sums. Max pooling pads with -inf in both frameworks.
"""

from __future__ import annotations

from ..layout import spatial_dims
from .conv import fpad, out_size, pad_arg, runtime_pad, same_pads
from .registry import (
    LayerCtx,
    Lowering,
    Untranslatable,
    ints_code,
    lowering,
)


def _pool_geometry(ctx: LayerCtx):
    ctx.check_channels_last()
    nd = ctx.x.rank - 2
    k = ctx.ints("pool_size", nd, 2)
    strides = ctx.get("strides", None)
    s = k if strides is None else ctx.ints("strides", nd, None)
    mode = str(ctx.get("padding", "valid")).lower()
    if mode == "valid":
        pads = [(0, 0)] * nd
    elif mode == "same":
        pads = [same_pads(n, ki, si) for n, ki, si in zip(ctx.x.shape[:-1], k, s)]
    else:
        raise Untranslatable(f"padding={mode!r} is not supported")
    out = tuple(out_size(n, ki, si, 1, pad) for n, ki, si, pad in zip(ctx.x.shape[:-1], k, s, pads))
    simple = None not in pads and all(b == a and 2 * b <= ki for (b, a), ki in zip(pads, k))
    return nd, k, s, pads, simple, out


@lowering("max_pool")
def max_pool(ctx: LayerCtx) -> Lowering:
    nd, k, s, pads, simple, out = _pool_geometry(ctx)
    parts = [ints_code(k)]
    if s != k:
        parts.append(f"stride={ints_code(s)}")
    call = "{m}({x})"
    if simple and pad_arg(pads):
        parts.append(f"padding={pad_arg(pads)}")
    elif None in pads:
        call = "{m}(" + runtime_pad(k, s, value="float('-inf')") + ")"
    elif not simple:
        call = "{m}(F.pad({x}, " + fpad(pads) + ", value=float('-inf')))"
    module = f"nn.MaxPool{nd}d({', '.join(parts)})"
    return Lowering(module, call, ctx.x.with_(shape=(*out, ctx.x.channels)))


@lowering("avg_pool")
def avg_pool(ctx: LayerCtx) -> Lowering:
    nd, k, s, pads, simple, out = _pool_geometry(ctx)
    out_info = ctx.x.with_(shape=(*out, ctx.x.channels))
    stride = "" if s == k else f", stride={ints_code(s)}"
    if simple:
        parts = [ints_code(k)] + ([stride[2:]] if stride else [])
        if pad_arg(pads):
            parts += [f"padding={pad_arg(pads)}", "count_include_pad=False"]
        return Lowering(f"nn.AvgPool{nd}d({', '.join(parts)})", "{m}({x})", out_info)
    # uneven 'same' padding: mean over the real elements only
    fn = f"F.avg_pool{nd}d"
    if None in pads:  # amounts known at run time only
        padded = runtime_pad(k, s)
        ones = padded.replace("{x}", "torch.ones_like({x}[:, :1])", 1)
    else:
        padded = "F.pad({x}, " + fpad(pads) + ")"
        ones = "F.pad(torch.ones_like({x}[:, :1]), " + fpad(pads) + ")"
    call = f"{fn}({padded}, {ints_code(k)}{stride}) / {fn}({ones}, {ints_code(k)}{stride})"
    return Lowering(None, call, out_info)


def _global(ctx: LayerCtx, reducer: str) -> Lowering:
    ctx.check_channels_last()
    dims = spatial_dims(ctx.x)
    keep = bool(ctx.get("keepdims", False))
    dim = str(dims[0]) if len(dims) == 1 else f"({', '.join(map(str, dims))})"
    call = f"{{x}}.{reducer}(dim={dim}{', keepdim=True' if keep else ''})"
    if keep:
        out = ctx.x.with_(shape=(*(1 for _ in ctx.x.shape[:-1]), ctx.x.channels))
    else:
        out = ctx.x.with_(shape=(ctx.x.channels,))
    return Lowering(None, call, out)


@lowering("global_avg_pool")
def global_avg_pool(ctx: LayerCtx) -> Lowering:
    return _global(ctx, "mean")


@lowering("global_max_pool")
def global_max_pool(ctx: LayerCtx) -> Lowering:
    return _global(ctx, "amax")


# -- PyTorch -> Keras ----------------------------------------------------------------------










