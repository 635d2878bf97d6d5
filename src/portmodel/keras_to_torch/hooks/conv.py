"""Convolutions: Conv1D/2D/3D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose.

TensorFlow's 'same' padding puts the odd extra pixel at the end (bottom/right); torch's
`padding=` is symmetric, so uneven padding becomes an explicit `F.pad` before the module.
With stride > 1 the amounts depend on the input size: where it is not known statically
(`keras.Input(shape=(None, None, 3))`), the port computes them at run time (`tf_same_pad`).
"""

from __future__ import annotations

import math

from ...core.static_eval import SymInt, scaled, sym_code
from .registry import (
    LayerCtx,
    Lowering,
    Untranslatable,
    ints_code,
    lowering,
    support_function,
)

SAME_PAD = support_function('''
def tf_same_pad(x, kernel_size, stride, dilation=None, value=0.0):
    """TensorFlow's 'same' padding of `x` (batch, channels, *spatial) for a window of
    `kernel_size` moved by `stride`, the odd element at the end; written by portmodel where
    the input size, which the amounts depend on, is known only at run time."""
    pads = []
    for i in reversed(range(len(kernel_size))):
        size, step = x.shape[2 + i], stride[i]
        window = (kernel_size[i] - 1) * (dilation[i] if dilation else 1) + 1
        total = max(window - (size % step or step), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)
''')


def same_pads(size, k: int, s: int, d: int = 1) -> tuple[int, int] | None:
    """(before, after) padding TensorFlow uses for 'same' on an axis of length `size`;
    None where it depends on a size known only at run time (stride > 1, `size` None)."""
    eff = (k - 1) * d + 1
    if s == 1:
        total = eff - 1
    elif size is None:
        return None
    else:
        total = max((math.ceil(size / s) - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def runtime_pad(k, s, d=None, value: str | None = None) -> str:
    """The input padded 'same' at run time: `tf_same_pad({x}, (3, 3), (2, 2))`."""
    sizes = [k, s] + ([d] if d is not None and any(di != 1 for di in d) else [])
    args = ", ".join(f"({', '.join(str(int(v)) for v in t)}{',' if len(t) == 1 else ''})" for t in sizes)
    return f"{SAME_PAD}({{x}}, {args}" + (f", value={value})" if value else ")")


def out_size(size, k: int, s: int, d: int, pad: tuple[int, int] | None):
    """Output length on an axis of length `size` padded (before, after); None when unknown."""
    if size is None or pad is None:
        return None
    return (size + sum(pad) - (k - 1) * d - 1) // s + 1


def pad_arg(pads: list[tuple[int, int]]) -> str | None:
    """Torch `padding=` value for symmetric pads, or None when there is none."""
    if None in pads or all(b == 0 and a == 0 for b, a in pads):
        return None
    return ints_code([b for b, _ in pads])


def fpad(pads: list[tuple[int, int]]) -> str:
    """F.pad's argument: last dim first, (before, after) per dim."""
    flat = [v for b, a in reversed(pads) for v in (b, a)]
    return f"({', '.join(map(str, flat))})"


def conv_padding(ctx: LayerCtx, k, s, d) -> tuple[list[tuple[int, int] | None], bool]:
    """Per-spatial-axis pads (None: known at run time only) and whether they are symmetric."""
    mode = str(ctx.get("padding", "valid")).lower()
    spatial = ctx.x.shape[:-1]
    if mode == "valid":
        pads = [(0, 0)] * len(k)
    elif mode == "same":
        pads = [same_pads(n, ki, si, di) for n, ki, si, di in zip(spatial, k, s, d)]
    elif mode == "causal":
        if len(k) != 1:
            raise Untranslatable("'causal' padding exists only for 1-D convolutions")
        pads = [((k[0] - 1) * d[0], 0)]
    else:
        raise Untranslatable(f"padding={mode!r} is not supported")
    return pads, None not in pads and all(b == a for b, a in pads)


def _geometry(ctx: LayerCtx):
    ctx.check_channels_last()
    nd = ctx.x.rank - 2
    if nd < 1:
        raise Untranslatable("a convolution needs an input with spatial axes")
    k = ctx.ints("kernel_size", nd, None)
    s = ctx.ints("strides", nd, 1)
    d = ctx.ints("dilation_rate", nd, 1)
    if any(si > 1 for si in s) and any(di > 1 for di in d):
        raise Untranslatable("strides > 1 together with dilation_rate > 1")
    pads, symmetric = conv_padding(ctx, k, s, d)
    out = tuple(
        out_size(n, ki, si, di, pad) for n, ki, si, di, pad in zip(ctx.x.shape[:-1], k, s, d, pads)
    )
    return k, s, d, pads, symmetric, out


def _call(pads, symmetric: bool, k, s, d) -> str:
    if None in pads:
        return "{m}(" + runtime_pad(k, s, d) + ")"
    return "{m}({x})" if symmetric else "{m}(F.pad({x}, " + fpad(pads) + "))"


def _finish(ctx: LayerCtx, module: str, call: str, out_shape) -> Lowering:
    return Lowering(module, call, ctx.x.with_(shape=out_shape))


def _padding(ctx: LayerCtx, pads, symmetric: bool, strides) -> str | None:
    """`padding=` of a torch convolution: the pads, or "same" where the kernel size is an
    argument of the class (`kernel_size=kernel_size`: the pads would be right for one size only)."""
    arg = pad_arg(pads) if symmetric else None
    kernel = ctx.get("kernel_size")
    sym = any(isinstance(k, SymInt) for k in (kernel if isinstance(kernel, tuple | list) else (kernel,)))
    if arg and sym and all(si == 1 for si in strides):
        return '"same"'
    return arg


@lowering("conv")
def conv(ctx: LayerCtx) -> Lowering:
    k, s, d, pads, symmetric, out = _geometry(ctx)
    padding = _padding(ctx, pads, symmetric, s)
    extra = {"padding": padding} if padding else {}
    module = ctx.ctor([ctx.channels_code(), ctx.code("filters")], extra, f"nn.Conv{len(k)}d")
    return _finish(ctx, module, _call(pads, symmetric, k, s, d), (*out, ctx.get("filters")))


@lowering("depthwise_conv")
def depthwise_conv(ctx: LayerCtx) -> Lowering:
    k, s, d, pads, symmetric, out = _geometry(ctx)
    c = ctx.need_channels()
    mult = ctx.get("depth_multiplier", 1)
    padding = _padding(ctx, pads, symmetric, s)
    extra = {"padding": padding} if padding else {}
    extra["groups"] = sym_code(c)
    module = ctx.ctor([sym_code(c), sym_code(scaled(c, mult))], extra, f"nn.Conv{len(k)}d")
    return _finish(ctx, module, _call(pads, symmetric, k, s, d), (*out, scaled(c, mult)))


@lowering("separable_conv")
def separable_conv(ctx: LayerCtx) -> Lowering:
    k, s, d, pads, symmetric, out = _geometry(ctx)
    c = ctx.need_channels()
    mult = ctx.get("depth_multiplier", 1)
    mid = c if mult == 1 else c * mult
    dw = [sym_code(c), sym_code(mid), f"kernel_size={ctx.code('kernel_size')}"]
    if ctx.has("strides"):
        dw.append(f"stride={ctx.code('strides')}")
    if symmetric and pad_arg(pads):
        dw.append(f"padding={pad_arg(pads)}")
    if ctx.has("dilation_rate"):
        dw.append(f"dilation={ctx.code('dilation_rate')}")
    dw += [f"groups={sym_code(c)}", "bias=False"]
    pw = [sym_code(mid), ctx.code("filters"), "kernel_size=1"]
    if ctx.has("use_bias"):
        pw.append(f"bias={ctx.code('use_bias')}")
    module = (
        f"nn.Sequential(nn.Conv2d({', '.join(dw)}), nn.Conv2d({', '.join(pw)}))"
    )
    return _finish(ctx, module, _call(pads, symmetric, k, s, d), (*out, ctx.get("filters")))


def transpose_padding(k, s, same: bool) -> tuple[list[int], list[int], str]:
    """Keras' Conv*Transpose with windows `k` and strides `s` as torch's: (padding,
    output_padding, the crop `forward` applies after it). TensorFlow crops 'same' output
    unevenly (the odd element at the end) where torch's padding crops both ends, so the port
    slices the odd one off; a window smaller than its stride leaves Keras' output n * s, whose
    missing tail torch adds through output_padding."""
    pad, out_pad, crop = [], [], []
    for ki, si in zip(k, s):
        if ki < si:
            pad.append(0), out_pad.append(si - ki), crop.append(0)
        else:
            excess = ki - si if same else 0
            pad.append(excess // 2), out_pad.append(0), crop.append(excess % 2)
    sliced = "[:, :, " + ", ".join(":-1" if c else ":" for c in crop) + "]" if any(crop) else ""
    return pad, out_pad, sliced


@lowering("conv_transpose")
def conv_transpose(ctx: LayerCtx) -> Lowering:
    ctx.check_channels_last()
    nd = ctx.x.rank - 2
    k = ctx.ints("kernel_size", nd, None)
    s = ctx.ints("strides", nd, 1)
    if ctx.ints("dilation_rate", nd, 1) != (1,) * nd:
        raise Untranslatable("dilated transposed convolutions are not supported yet")
    if ctx.get("output_padding", None) is not None:
        raise Untranslatable("output_padding is not supported yet")
    same = str(ctx.get("padding", "valid")).lower() == "same"
    pad, out_pad, sliced = transpose_padding(k, s, same)
    out = [None if n is None else n * si if same else max((n - 1) * si + ki, n * si)
           for n, ki, si in zip(ctx.x.shape[:-1], k, s)]
    extra = {}
    if any(pad):
        extra["padding"] = ints_code(pad)
    if any(out_pad):
        extra["output_padding"] = ints_code(out_pad)
    module = ctx.ctor([ctx.channels_code(), ctx.code("filters")], extra, f"nn.ConvTranspose{nd}d")
    return _finish(ctx, module, "{m}({x})" + sliced, (*out, ctx.get("filters")))


# -- PyTorch -> Keras ----------------------------------------------------------------------












