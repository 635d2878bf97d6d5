"""Apply a layer rule to one use of a layer: arguments -> keywords, layout, lowering."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst

from ..core.rules import LayerRule, RuleSet, WeightMap
from ..core.static_eval import UNKNOWN
from .hooks import LOWERINGS, Arg, LayerCtx, Lowering, NestedLayer, Untranslatable, activation_call
from .layout import TensorInfo, atom, convert, torch_dim

# Arguments that never change what a trained layer computes at inference.
_NEUTRAL = re.compile(
    r"^(name|trainable|dtype|autocast|seed|input_shape|batch_input_shape|batch_size|"
    r"activity_regularizer|.*_initializer|.*_regularizer|.*_constraint|lora_.*)$"
)


@dataclass
class Lowered:
    rule: LayerRule
    module: str | None
    call: str
    output: TensorInfo
    weights: tuple[WeightMap, ...]
    notes: list[str] = field(default_factory=list)


def normalize_args(
    rule: LayerRule, call: cst.Call, value_of, code_of
) -> dict[str, Arg]:
    """Positional arguments become keywords from the rule's signature."""
    kwargs: dict[str, Arg] = {}
    for i, arg in enumerate(call.args):
        if arg.star:
            raise Untranslatable("*args/**kwargs in a layer call cannot be read statically")
        if arg.keyword is None:
            if i >= len(rule.signature):
                raise Untranslatable(f"too many positional arguments for {rule.keras[0]}")
            name = rule.signature[i]
        else:
            name = arg.keyword.value
        if name not in rule.signature and not _NEUTRAL.match(name) and name not in rule.ignore:
            raise Untranslatable(f"argument '{name}' of {rule.keras[0]} is not known to rule '{rule.id}'")
        kwargs[name] = Arg(value_of(arg.value), code_of(arg.value))
    return kwargs


def lower_layer(
    rules: RuleSet,
    rule: LayerRule,
    kwargs: dict[str, Arg],
    inputs: list[tuple[str, TensorInfo]],
    fuse_activation: bool = False,
) -> tuple[Lowered, list[str]]:
    """Lower one application; returns the lowering and the (layout-converted) input exprs.

    A rule with `activation: true` gets Keras' `activation=` applied in forward, or, with
    `fuse_activation` (layers called through a loop variable), inside the module as
    `nn.Sequential(layer, activation)` so every element is called the same way.
    """
    if not inputs:
        raise Untranslatable(f"{rule.keras[0]} is called without an input")
    target = rule.layout if rule.layout != "any" else inputs[0][1].layout
    converted = [convert(expr, info, target) for expr, info in inputs]
    ctx = LayerCtx(rule, dict(kwargs), [info for _, info in converted], rules.activations, rules)
    low: Lowering = LOWERINGS[rule.lower](ctx)
    module, call = low.module, low.call
    act = ctx.get("activation", None) if rule.activation else None
    if act not in (None, "linear"):
        spec = rules.activations.get(act) if isinstance(act, str) else None
        if fuse_activation and module and spec is not None and spec.module and call == "{m}({x})":
            dim = torch_dim(-1, low.output) if spec.axis else None
            module = f"nn.Sequential({module}, {spec.module.format(dim=dim)})"
        else:
            call = activation_call(act, rules.activations, low.output, call)
    weights = low.weights if low.weights is not None else rule.weights
    return Lowered(rule, module, call, low.output, tuple(weights), low.notes), [
        expr for expr, _ in converted
    ]


def render_call(template: str, module_ref: str | None, inputs: list[str]) -> str:
    names = {"m": module_ref or "", "x": atom(inputs[0])}
    for i, expr in enumerate(inputs):
        names[f"x{i}"] = atom(expr)
    names["xs"] = "[" + ", ".join(inputs) + "]"
    try:
        text = template.format(**names)
    except (KeyError, IndexError) as exc:
        raise Untranslatable(f"internal: template {template!r} needs {exc}") from None
    for expr in inputs:  # an argument needs no parentheses of its own: f((a + b)) -> f(a + b)
        if atom(expr) != expr:
            text = text.replace(f"(({expr}))", f"({expr})")
    return text


__all__ = ["UNKNOWN", "Lowered", "NestedLayer", "lower_layer", "normalize_args", "render_call"]
