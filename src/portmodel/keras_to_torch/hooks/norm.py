"""Normalisation: BatchNormalization and LayerNormalization, epsilon and momentum written out;
Normalization (fixed or adapted mean and variance) as a support module."""

from __future__ import annotations

from .registry import (
    LayerCtx,
    Lowering,
    Untranslatable,
    lowering,
    support_function,
)


@lowering("batch_norm")
def batch_norm(ctx: LayerCtx) -> Lowering:
    axis = ctx.get("axis", -1)
    if axis not in (-1, ctx.x.rank - 1):
        raise Untranslatable("BatchNormalization over a non-channel axis is not supported")
    if ctx.get("renorm", False) or ctx.get("synchronized", False):
        raise Untranslatable("BatchNormalization renorm/synchronized is not supported")
    center, scale = ctx.get("center", True), ctx.get("scale", True)
    extra = {}
    if not center and not scale:
        extra["affine"] = "False"
    elif center != scale:
        raise Untranslatable("BatchNormalization with only one of center/scale")
    nd = {2: 1, 3: 1, 4: 2, 5: 3}.get(ctx.x.rank)
    if nd is None:
        raise Untranslatable(f"BatchNormalization on a rank-{ctx.x.rank} input")
    module = ctx.ctor([ctx.channels_code()], extra).replace(
        ctx.rule.torch, f"nn.BatchNorm{nd}d", 1
    )
    return Lowering(module, "{m}({x})", ctx.x)


@lowering("layer_norm")
def layer_norm(ctx: LayerCtx) -> Lowering:
    axis = ctx.get("axis", -1)
    if axis not in (-1, ctx.x.rank - 1, [-1], (-1,)):
        raise Untranslatable("LayerNormalization over several axes is not supported yet")
    if ctx.get("rms_scaling", False):
        raise Untranslatable("LayerNormalization(rms_scaling=True) is not supported yet")
    center, scale = ctx.get("center", True), ctx.get("scale", True)
    extra = {}
    if not scale and not center:
        extra["elementwise_affine"] = "False"
    elif not center:
        extra["bias"] = "False"
    elif not scale:
        raise Untranslatable("LayerNormalization(scale=False, center=True) has no torch form")
    module = ctx.ctor([ctx.channels_code()], extra)
    return Lowering(module, "{m}({x})", ctx.x)


@lowering("group_norm")
def group_norm(ctx: LayerCtx) -> Lowering:
    if ctx.get("axis", -1) not in (-1, ctx.x.rank - 1):
        raise Untranslatable("GroupNormalization over a non-channel axis is not supported")
    center, scale = ctx.get("center", True), ctx.get("scale", True)
    if center != scale:
        raise Untranslatable("GroupNormalization with only one of center/scale")
    extra = {} if center else {"affine": "False"}
    module = ctx.ctor([ctx.code("groups", "32"), ctx.channels_code()], extra)
    return Lowering(module, "{m}({x})", ctx.x)


# -- PyTorch -> Keras ----------------------------------------------------------------------


NORMALIZATION = support_function('''
class KerasNormalization(nn.Module):
    """keras.layers.Normalization over the channels of a channels-first tensor:
    (x - mean) / max(sqrt(variance), 1e-7), or its inverse. Mean and variance given here are
    constants; else they are buffers a checkpoint fills (Keras' weights mean, variance, count)."""

    def __init__(self, channels, mean=None, variance=None, invert=False):
        super().__init__()
        given = mean is not None
        for name, value, fill in (("mean", mean, 0.0), ("variance", variance, 1.0)):
            value = torch.full((channels,), fill) if value is None else torch.as_tensor(value, dtype=torch.float32)
            self.register_buffer(name, value.reshape(-1).expand(channels).clone(), persistent=not given)
        self.register_buffer("count", torch.zeros((), dtype=torch.int64), persistent=not given)
        self.invert = invert

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = self.mean.reshape(shape).to(x.dtype)
        std = torch.clamp(self.variance.reshape(shape).to(x.dtype).sqrt(), min=1e-7)
        return mean + x * std if self.invert else (x - mean) / std
''')


@lowering("normalization")
def normalization(ctx: LayerCtx) -> Lowering:
    axis = ctx.get("axis", -1)
    if axis not in (-1, ctx.x.rank - 1):
        raise Untranslatable("Normalization over an axis other than the channels")
    parts = [ctx.channels_code()]
    for name in ("mean", "variance", "invert"):
        if ctx.has(name):
            parts.append(f"{name}={ctx.get(name)!r}")
    return Lowering(f"{NORMALIZATION}({', '.join(parts)})", "{m}({x})", ctx.x)
