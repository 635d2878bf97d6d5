"""Lowerings: what a rule file cannot say in data, as small registered functions.

A lowering receives a `LayerCtx` (the rule, the call's arguments normalised to keywords,
and the symbolic input tensors already in the rule's layout) and returns a `Lowering`:
the torch module constructor (if the layer is a module), the forward expression
template, the output tensor and, when it differs from the rule's, the weight mapping.
Registration is by decorator; a duplicate name is an error.
"""

from . import attention, conv, core, merge, norm, pooling, rnn, weights  # noqa: F401  (registration)
from .registry import (
    AXIS_ORDERS,
    INVERSES,
    LOWERINGS,
    SUPPORT,
    TRANSFORMS,
    Arg,
    LayerCtx,
    Lowering,
    NestedLayer,
    Untranslatable,
    activation_call,
    axis_order,
    ints_code,
    inverse,
    keras_ctor,
    lower_nested,
    lowering,
    snippet,
    support_function,
    transform,
)

__all__ = [
    "AXIS_ORDERS",
    "INVERSES",
    "LOWERINGS",
    "SUPPORT",
    "TRANSFORMS",
    "Arg",
    "LayerCtx",
    "Lowering",
    "NestedLayer",
    "Untranslatable",
    "activation_call",
    "axis_order",
    "ints_code",
    "inverse",
    "keras_ctor",
    "lower_nested",
    "lowering",
    "snippet",
    "support_function",
    "transform",
]
