"""Core layers: Dense, Embedding, Dropout, Flatten, Reshape, activations, padding, cropping, upsampling."""

from __future__ import annotations

import math

from ...core.static_eval import sym_code
from ..layout import torch_dim
from .registry import (
    LayerCtx,
    Lowering,
    Untranslatable,
    activation_call,
    ints_code,
    lowering,
)


@lowering("dense")
def dense(ctx: LayerCtx) -> Lowering:
    module = ctx.ctor([ctx.channels_code(), ctx.code("units")])
    return Lowering(module, "{m}({x})", ctx.x.with_(shape=(*ctx.x.shape[:-1], ctx.get("units"))))


@lowering("embedding")
def embedding(ctx: LayerCtx) -> Lowering:
    if ctx.get("mask_zero", False):
        raise Untranslatable("mask_zero=True: masking is not translated yet")
    module = ctx.ctor([ctx.code("input_dim"), ctx.code("output_dim")])
    call = "{m}({x})" if ctx.x.dtype.startswith("int") else "{m}({x}.long())"
    out = ctx.x.with_(shape=(*ctx.x.shape, ctx.get("output_dim")), dtype="float32")
    return Lowering(module, call, out)


@lowering("dropout")
def dropout(ctx: LayerCtx) -> Lowering:
    noise = ctx.get("noise_shape", None)
    if noise is None:
        return Lowering(ctx.ctor([ctx.code("rate")]), "{m}({x})", ctx.x)
    # noise_shape=(None, 1, 1, 1): one draw per sample (stochastic depth). Seen as one
    # channel of a batch with an extra axis, the sample is what torch's channel dropout
    # (dropout1d/2d/3d by rank) zeroes whole, scaled by 1 / (1 - rate) as Keras does.
    fn = {2: "dropout1d", 3: "dropout2d", 4: "dropout3d"}.get(ctx.x.rank)
    if fn is None or len(noise) != ctx.x.rank or any(n != 1 for n in noise[1:]):
        raise Untranslatable("Dropout noise_shape other than one value per sample is not supported")
    call = f"F.{fn}({{x}}.unsqueeze(1), {ctx.code('rate')}, self.training).squeeze(1)"
    return Lowering(None, call, ctx.x)


AUGMENTATION_NOTE = ("random augmentation, the identity at inference: left out of the port (augment in "
                     "the PyTorch data pipeline to train it)")


@lowering("inference_identity")
def inference_identity(ctx: LayerCtx) -> Lowering:
    """A layer that only acts in training (random augmentation): the identity in the port."""
    return Lowering(None, "{x}", ctx.x, notes=[AUGMENTATION_NOTE])


@lowering("rescaling")
def rescaling(ctx: LayerCtx) -> Lowering:
    """x * scale + offset, for numbers (a per-channel list: the code engine)."""
    scale, offset = ctx.get("scale"), ctx.get("offset", 0.0)
    if not all(isinstance(v, int | float) for v in (scale, offset)):
        raise Untranslatable("a per-channel Rescaling: translate with --engine code")
    expr = "{x}" + (f" * {scale!r}" if scale != 1 else "") + (f" + {offset!r}" if offset else "")
    return Lowering(None, expr, ctx.x)


@lowering("flatten")
def flatten(ctx: LayerCtx) -> Lowering:
    ctx.check_channels_last()
    size = math.prod(ctx.x.shape) if None not in ctx.x.shape else None
    return Lowering(ctx.ctor([]), "{m}({x})", ctx.x.with_(shape=(size,)))


@lowering("reshape")
def reshape(ctx: LayerCtx) -> Lowering:
    target = tuple(ctx.get("target_shape"))
    known = [d for d in target if d != -1]
    out = target
    if -1 in target:
        if None in ctx.x.shape:
            raise Untranslatable("Reshape with -1 needs the input shape; pass --input-shape")
        out = tuple(math.prod(ctx.x.shape) // math.prod(known) if d == -1 else d for d in target)
    if len(target) == 1:
        return Lowering(None, "{x}.flatten(1)", ctx.x.with_(shape=out))
    dims = ", ".join(sym_code(d) for d in target)
    return Lowering(None, "{x}.flatten(1).unflatten(1, (" + dims + "))", ctx.x.with_(shape=out))


@lowering("activation")
def activation(ctx: LayerCtx) -> Lowering:
    name = ctx.get("activation")
    act = ctx.activations.get(name) if isinstance(name, str) else None
    if act is not None and act.module:
        dim = torch_dim(-1, ctx.x) if act.axis else None
        return Lowering(act.module.format(dim=dim), "{m}({x})", ctx.x)
    return Lowering(None, activation_call(name, ctx.activations, ctx.x, "{x}"), ctx.x)


@lowering("relu")
def relu(ctx: LayerCtx) -> Lowering:
    max_value = ctx.get("max_value", None)
    if ctx.get("negative_slope", 0.0) != 0.0 or ctx.get("threshold", 0.0) != 0.0:
        raise Untranslatable("ReLU with negative_slope or threshold is not supported yet")
    if max_value is None:
        return Lowering("nn.ReLU()", "{m}({x})", ctx.x)
    if max_value == 6:
        return Lowering("nn.ReLU6()", "{m}({x})", ctx.x)
    return Lowering(f"nn.Hardtanh(0.0, {float(max_value)!r})", "{m}({x})", ctx.x)


@lowering("leaky_relu")
def leaky_relu(ctx: LayerCtx) -> Lowering:
    if ctx.has("alpha") and not ctx.has("negative_slope"):  # Keras 2 spelling
        ctx.kwargs["negative_slope"] = ctx.kwargs["alpha"]
    return Lowering(ctx.ctor([]), "{m}({x})", ctx.x)


@lowering("module_same_shape")
def module_same_shape(ctx: LayerCtx) -> Lowering:
    """A module whose torch constructor is the rule's renamed arguments (ELU, ...)."""
    return Lowering(ctx.ctor([]), "{m}({x})", ctx.x)


@lowering("softmax")
def softmax(ctx: LayerCtx) -> Lowering:
    axis = ctx.get("axis", -1)
    if not isinstance(axis, int):
        raise Untranslatable("Softmax over several axes is not supported")
    return Lowering(f"nn.Softmax(dim={torch_dim(axis, ctx.x)})", "{m}({x})", ctx.x)


def _pairs(value, nd: int) -> list[tuple[int, int]]:
    if isinstance(value, int):
        return [(value, value)] * nd
    value = tuple(value)
    if len(value) != nd:
        raise Untranslatable(f"padding {value!r} does not have {nd} entries")
    return [(v, v) if isinstance(v, int) else tuple(v) for v in value]


@lowering("zero_padding")
def zero_padding(ctx: LayerCtx) -> Lowering:
    ctx.check_channels_last()
    nd = ctx.x.rank - 2
    pads = _pairs(ctx.get("padding", 1), nd)
    flat = [v for b, a in reversed(pads) for v in (b, a)]
    out = tuple(None if n is None else n + b + a for n, (b, a) in zip(ctx.x.shape[:-1], pads))
    module = f"nn.ZeroPad{nd}d(({', '.join(map(str, flat))}))"
    return Lowering(module, "{m}({x})", ctx.x.with_(shape=(*out, ctx.x.channels)))


# Keras' default `cropping` by the rank of the input: Cropping1D, Cropping2D, Cropping3D
CROP_DEFAULTS = {3: (1, 1), 4: ((0, 0), (0, 0)), 5: ((1, 1), (1, 1), (1, 1))}


def crop_pairs(value, nd: int) -> list[tuple[int, int]]:
    """Keras' `cropping` as one (start, end) pair per spatial axis: an int (all sides), one
    size per axis (both ends) or one pair per axis; Cropping1D's pair is (start, end)."""
    if nd == 1 and not isinstance(value, int):
        value = (tuple(value),)
    pairs = _pairs(value, nd)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for p in pairs for v in p):
        raise Untranslatable(f"cropping {value!r}: the sizes should be whole numbers >= 0")
    return pairs


def crop_slice(pairs: list[tuple[int, int]]) -> str:
    """`{x}` cropped by `pairs` as a slice of the channels-first tensor: `{x}[:, :, 1:-2, 1:]`
    (an end of 0 written as an open slice: `1:-0` would be empty)."""
    if not any(a or b for a, b in pairs):
        return "{x}"
    spans = [f"{a or ''}:{f'-{b}' if b else ''}" for a, b in pairs]
    return "{x}[:, :, " + ", ".join(spans) + "]"


@lowering("cropping")
def cropping(ctx: LayerCtx) -> Lowering:
    ctx.check_channels_last()
    if ctx.x.rank not in CROP_DEFAULTS:
        raise Untranslatable(f"cropping of a rank-{ctx.x.rank} input")
    nd = ctx.x.rank - 2
    pairs = crop_pairs(ctx.get("cropping", CROP_DEFAULTS[ctx.x.rank]), nd)
    out = tuple(None if n is None else n - a - b for n, (a, b) in zip(ctx.x.shape[:-1], pairs))
    return Lowering(None, crop_slice(pairs), ctx.x.with_(shape=(*out, ctx.x.channels)))


@lowering("upsampling")
def upsampling(ctx: LayerCtx) -> Lowering:
    ctx.check_channels_last()
    nd = ctx.x.rank - 2
    size = ctx.ints("size", nd, 2)
    mode = ctx.get("interpolation", "nearest")
    if mode not in ("nearest", "bilinear"):
        raise Untranslatable(f"interpolation={mode!r} is not supported yet")
    scale = ints_code(size)
    extra = ", align_corners=False" if mode == "bilinear" else ""
    module = f"nn.Upsample(scale_factor={scale}, mode={mode!r}{extra})"
    out = tuple(None if n is None else n * s for n, s in zip(ctx.x.shape[:-1], size))
    return Lowering(module, "{m}({x})", ctx.x.with_(shape=(*out, ctx.x.channels)))


# -- PyTorch -> Keras ----------------------------------------------------------------------


























