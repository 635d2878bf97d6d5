"""Core layers: Dense, Embedding, Dropout, Flatten, Reshape, activations, padding, upsampling."""

from __future__ import annotations

import math

from ..layout import torch_dim
from ..static_eval import sym_code
from . import (
    ANY,
    CHANNELS_LAST,
    TORCH_ORDER,
    LayerCtx,
    Lowering,
    Raised,
    TorchCtx,
    Untranslatable,
    activation_call,
    ints_code,
    keras_ctor,
    lowering,
    raising,
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


@raising("dense")
def dense_from_torch(ctx: TorchCtx) -> Raised:
    return Raised(keras_ctor("layers.Dense", [ctx.value_code("out_features")], {"use_bias": ctx.code("bias")}), TORCH_ORDER)


@raising("embedding")
def embedding_from_torch(ctx: TorchCtx) -> Raised:
    m = ctx.module
    if m.max_norm is not None or m.sparse:
        raise Untranslatable("Embedding with max_norm or sparse has no Keras equivalent")
    notes = ["padding_idx only affects gradients in torch; not carried over"] if m.padding_idx is not None else []
    ctor = keras_ctor("layers.Embedding", [ctx.value_code("num_embeddings"), ctx.value_code("embedding_dim")], {})
    return Raised(ctor, TORCH_ORDER, notes=notes)


@raising("dropout")
def dropout_from_torch(ctx: TorchCtx) -> Raised:
    name = {"Dropout": "Dropout", "Dropout1d": "SpatialDropout1D", "Dropout2d": "SpatialDropout2D"}[ctx.cls]
    layout = ANY if name == "Dropout" else CHANNELS_LAST
    return Raised(f"layers.{name}({ctx.code('p', '0.5')})", layout)


@raising("flatten")
def flatten_from_torch(ctx: TorchCtx) -> Raised:
    m = ctx.module
    if (m.start_dim, m.end_dim) != (1, -1):
        raise Untranslatable("Flatten over dims other than 1..-1 is not supported yet")
    return Raised("layers.Flatten()", TORCH_ORDER)  # torch's element order: C, H, W


@raising("identity")
def identity_from_torch(ctx: TorchCtx) -> Raised:
    return Raised("layers.Identity()", ANY)


def _module_activations(activations: dict) -> dict[str, str]:
    """torch.nn activation class -> Keras activation name, from the activation rules."""
    out: dict[str, str] = {}
    for name, act in activations.items():
        if act.module and "{" not in act.module and act.module.endswith("()") and name == act.name:
            out.setdefault(act.module[len("nn.") : -2], name)
    return out


@raising("activation")
def activation_from_torch(ctx: TorchCtx) -> Raised:
    from torch import nn

    from ..rules import load_rules

    name = _module_activations(load_rules().activations).get(ctx.cls)
    if name is None:
        raise Untranslatable(f"nn.{ctx.cls} has no Keras activation in the rules")
    inplace = {"inplace": ctx.module.inplace} if hasattr(ctx.module, "inplace") else {}  # no meaning in Keras
    if ctx.module.extra_repr() != getattr(nn, ctx.cls)(**inplace).extra_repr():
        raise Untranslatable(f"nn.{ctx.cls}({ctx.module.extra_repr()}) has no Keras activation with these arguments")
    return Raised(f"layers.Activation({name!r})", ANY)


@raising("relu")
def relu_from_torch(ctx: TorchCtx) -> Raised:
    return Raised("layers.ReLU(max_value=6.0)" if ctx.cls == "ReLU6" else "layers.ReLU()", ANY)


@raising("leaky_relu")
def leaky_relu_from_torch(ctx: TorchCtx) -> Raised:
    return Raised(f"layers.LeakyReLU(negative_slope={ctx.module.negative_slope!r})", ANY)


@raising("elu")
def elu_from_torch(ctx: TorchCtx) -> Raised:
    return Raised(keras_ctor("layers.ELU", [], {"alpha": ctx.code("alpha")}), ANY)


@raising("softmax")
def softmax_from_torch(ctx: TorchCtx) -> Raised:
    if ctx.module.dim is None:
        raise Untranslatable("nn.Softmax() without dim: give the dim explicitly")
    return Raised(f"layers.Softmax(axis={ctx.module.dim})", TORCH_ORDER)


@raising("upsampling")
def upsampling_from_torch(ctx: TorchCtx) -> Raised:
    m = ctx.module
    if m.size is not None or m.scale_factor is None:
        raise Untranslatable("Upsample(size=...) is not supported yet; use scale_factor")
    scale = m.scale_factor if isinstance(m.scale_factor, tuple) else (m.scale_factor,)
    if any(float(s) != int(s) for s in scale):
        raise Untranslatable("a non-integer scale_factor has no Keras UpSampling form")
    mode = {"nearest": "nearest", "linear": "bilinear", "bilinear": "bilinear"}.get(m.mode)
    if mode is None or (mode == "bilinear" and m.align_corners):
        raise Untranslatable(f"Upsample(mode={m.mode!r}, align_corners={m.align_corners}) has no Keras form")
    nd = {"linear": 1, "bilinear": 2}.get(m.mode, 2)
    size = ints_code(int(s) for s in scale)
    interp = ", interpolation='bilinear'" if mode == "bilinear" else ""
    return Raised(f"layers.UpSampling{nd}D({size}{interp})", CHANNELS_LAST)


@raising("zero_padding")
def zero_padding_from_torch(ctx: TorchCtx) -> Raised:
    pads = tuple(ctx.module.padding)  # torch: last dim first, (before, after) pairs
    nd = len(pads) // 2
    pairs = [(pads[2 * i], pads[2 * i + 1]) for i in reversed(range(nd))]
    if all(a == b for a, b in pairs) and len({a for a, _ in pairs}) == 1:
        value = str(pairs[0][0])
    elif nd == 1:
        value = f"({pairs[0][0]}, {pairs[0][1]})"
    else:
        value = "(" + ", ".join(f"({a}, {b})" for a, b in pairs) + ")"
    return Raised(f"layers.ZeroPadding{nd}D({value})", CHANNELS_LAST)
