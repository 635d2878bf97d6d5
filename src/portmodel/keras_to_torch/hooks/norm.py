"""Normalisation: BatchNormalization and LayerNormalization, epsilon and momentum written out."""

from __future__ import annotations

from .registry import (
    LayerCtx,
    Lowering,
    Untranslatable,
    lowering,
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






