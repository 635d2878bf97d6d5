"""Recurrent layers: LSTM, GRU, SimpleRNN and Bidirectional (batch_first in the port).

Gate order: LSTM is i, f, c, o in both; GRU is z, r, h in Keras and r, z, n in torch, and
only Keras' `reset_after=True` (the Keras 3 default) matches torch's formulation. Keras
has one bias (GRU: two rows), torch two vectors: the weight transforms split them.
"""

from __future__ import annotations

from dataclasses import replace

from ...core.rules import WeightMap
from .registry import (
    LayerCtx,
    Lowering,
    Untranslatable,
    lower_nested,
    lowering,
)


def _common(ctx: LayerCtx, recurrent: bool = True) -> None:
    if ctx.x.rank != 3:
        raise Untranslatable("recurrent layers need a (batch, time, features) input")
    for name in ("go_backwards", "stateful", "return_state"):
        if ctx.get(name, False):
            raise Untranslatable(f"{name}=True is not supported yet")
    if ctx.get("activation", "tanh") != "tanh" and ctx.rule.id != "simple_rnn":
        raise Untranslatable("torch's LSTM/GRU only have a tanh activation")
    if recurrent and ctx.get("recurrent_activation", "sigmoid") != "sigmoid":
        raise Untranslatable("torch's LSTM/GRU only have a sigmoid recurrent activation")


def _lower(ctx: LayerCtx, extra: dict | None = None) -> Lowering:
    units = ctx.get("units")
    module = ctx.ctor([ctx.channels_code(), ctx.code("units")], {"batch_first": "True", **(extra or {})})
    if ctx.get("return_sequences", False):
        call, shape = "{m}({x})[0]", (ctx.x.shape[0], units)
    else:
        call, shape = "{m}({x})[0][:, -1]", (units,)
    notes = []
    if ctx.get("dropout", 0.0) or ctx.get("recurrent_dropout", 0.0):
        notes.append("dropout/recurrent_dropout act only in training and are not carried over")
    return Lowering(module, call, ctx.x.with_(shape=shape), notes=notes)


@lowering("lstm")
def lstm(ctx: LayerCtx) -> Lowering:
    _common(ctx)
    return _lower(ctx)


@lowering("gru")
def gru(ctx: LayerCtx) -> Lowering:
    _common(ctx)
    if not ctx.get("reset_after", True):
        raise Untranslatable("GRU(reset_after=False) has no exact torch equivalent")
    return _lower(ctx)


@lowering("simple_rnn")
def simple_rnn(ctx: LayerCtx) -> Lowering:
    _common(ctx, recurrent=False)
    act = ctx.get("activation", "tanh")
    if act not in ("tanh", "relu"):
        raise Untranslatable("torch's RNN supports only tanh and relu activations")
    return _lower(ctx, {"nonlinearity": repr(act)} if act != "tanh" else None)


@lowering("bidirectional")
def bidirectional(ctx: LayerCtx) -> Lowering:
    inner = ctx.get("layer")
    if ctx.get("backward_layer", None) is not None:
        raise Untranslatable("Bidirectional with a separate backward_layer is not supported")
    if ctx.get("merge_mode", "concat") != "concat":
        raise Untranslatable("Bidirectional merge_mode other than 'concat' is not supported yet")
    rule, low = lower_nested(ctx, inner)
    module = low.module[:-1] + ", bidirectional=True)"
    units = low.output.shape[-1]
    if "[:, -1]" in low.call:
        h_n = "{m}({x})[1][0]" if rule.id == "lstm" else "{m}({x})[1]"
        call, shape = f"torch.cat({h_n}.unbind(0), dim=-1)", (2 * units,)
    else:
        call, shape = low.call, (*low.output.shape[:-1], 2 * units)
    return Lowering(module, call, ctx.x.with_(shape=shape), bidirectional_weights(rule), low.notes)


def bidirectional_weights(inner) -> tuple[WeightMap, ...]:
    """The wrapped rule's mapping twice: forward weights, then backward ones to *_reverse."""
    weights = []
    for w in inner.weights:
        weights.append(replace(w, keras=f"forward/{w.keras}"))
        weights.append(replace(w, keras=f"backward/{w.keras}", to=tuple(t + "_reverse" for t in w.to)))
    return tuple(weights)
