"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""

from __future__ import annotations

from ...core.static_eval import sym_sum
from ..layout import torch_dim
from .registry import LayerCtx, Lowering, Untranslatable, lowering


def _xs(ctx: LayerCtx) -> list[str]:
    if len(ctx.inputs) < 2:
        raise Untranslatable("a merge layer needs a list of at least two inputs")
    return [f"{{x{i}}}" for i in range(len(ctx.inputs))]


@lowering("add")
def add(ctx: LayerCtx) -> Lowering:
    return Lowering(None, " + ".join(_xs(ctx)), ctx.x)


@lowering("subtract")
def subtract(ctx: LayerCtx) -> Lowering:
    if len(ctx.inputs) != 2:
        raise Untranslatable("Subtract takes exactly two inputs")
    return Lowering(None, "{x0} - {x1}", ctx.x)


@lowering("multiply")
def multiply(ctx: LayerCtx) -> Lowering:
    return Lowering(None, " * ".join(_xs(ctx)), ctx.x)


@lowering("average")
def average(ctx: LayerCtx) -> Lowering:
    xs = _xs(ctx)
    return Lowering(None, f"({' + '.join(xs)}) / {len(xs)}", ctx.x)


def _fold(fn: str, xs: list[str]) -> str:
    expr = xs[0]
    for x in xs[1:]:
        expr = f"{fn}({expr}, {x})"
    return expr


@lowering("maximum")
def maximum(ctx: LayerCtx) -> Lowering:
    return Lowering(None, _fold("torch.maximum", _xs(ctx)), ctx.x)


@lowering("minimum")
def minimum(ctx: LayerCtx) -> Lowering:
    return Lowering(None, _fold("torch.minimum", _xs(ctx)), ctx.x)


@lowering("concatenate")
def concatenate(ctx: LayerCtx) -> Lowering:
    xs = _xs(ctx)
    axis = ctx.get("axis", -1)
    a = axis % ctx.x.rank
    sizes = [t.shape[a - 1] for t in ctx.inputs]
    total = None if None in sizes else sym_sum(sizes)
    shape = list(ctx.x.shape)
    shape[a - 1] = total
    dim = torch_dim(axis, ctx.x)
    return Lowering(None, f"torch.cat([{', '.join(xs)}], dim={dim})", ctx.x.with_(shape=tuple(shape)))
