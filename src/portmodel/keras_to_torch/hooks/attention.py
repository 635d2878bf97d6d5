"""Attention: Keras MultiHeadAttention <-> torch nn.MultiheadAttention (batch_first).

Both scale queries by 1/sqrt(head size) and project queries, keys, values and the output
with biases; Keras keeps per-head kernels (d, heads, head_dim), torch one packed
`in_proj_weight` (3d, d). Only the self-consistent case (key_dim * num_heads == d, equal
query/key/value sizes, no masks) is translated.
"""

from __future__ import annotations

from ...core.static_eval import sym_code
from .registry import LayerCtx, Lowering, Untranslatable, lowering


@lowering("multi_head_attention")
def multi_head_attention(ctx: LayerCtx) -> Lowering:
    if len(ctx.inputs) not in (2, 3):
        raise Untranslatable("MultiHeadAttention needs (query, value[, key]) inputs")
    d = ctx.need_channels()
    heads, key_dim = ctx.get("num_heads"), ctx.get("key_dim")
    if heads * key_dim != d or ctx.get("value_dim", None) not in (None, key_dim):
        raise Untranslatable("MultiHeadAttention with num_heads * key_dim != the model width has no torch form")
    if any(x.shape[-1] != d for x in ctx.inputs) or ctx.get("output_shape", None) is not None:
        raise Untranslatable("MultiHeadAttention with query/key/value of different widths is not supported yet")
    if ctx.get("attention_axes", None) is not None:
        raise Untranslatable("attention_axes is not supported")
    extra = {"batch_first": "True"}
    if ctx.has("dropout"):
        extra["dropout"] = ctx.code("dropout")
    if ctx.has("use_bias"):
        extra["bias"] = ctx.code("use_bias")
    module = f"nn.MultiheadAttention({sym_code(d)}, {ctx.code('num_heads')}, {', '.join(f'{k}={v}' for k, v in extra.items())})"
    key = "{x2}" if len(ctx.inputs) == 3 else "{x1}"
    return Lowering(module, "{m}({x0}, " + key + ", {x1}, need_weights=False)[0]", ctx.inputs[0])


def _keras_mha_call(xs: list[str]) -> str:
    query, key, value = xs
    return f"{{m}}({query}, {value})" if key == value else f"{{m}}({query}, {value}, {key})"


