from __future__ import annotations

import libcst as cst

from ..check import Check, register

SPATIAL = ("Conv", "Pooling", "Pool", "ZeroPadding", "UpSampling", "Cropping")


@register
class FlattenBeforeDense(Check):
    """Flatten after convolutions feeding a Dense layer.

    What: flags a `Flatten` that comes after a convolution or pooling layer and before a
    `Dense` in the same function, class or `Sequential` list.

    Why: Keras flattens feature maps in (H, W, C) order, PyTorch in (C, H, W) order. The
    next Dense kernel must be permuted when weights move, or the port must flatten in the
    source order; forgetting it costs about 0.2 of error on typical logits.

    Example: `Conv2D(...)`, `Flatten()`, `Dense(10)`.

    Fix: manual (`portmodel translate` + `portmodel weights` handle it: the port flattens in
    Keras order).
    """

    code = "PM304"
    name = "flatten-before-dense"
    source = ("keras",)
    VALID = ("from keras import layers\n\nm = [layers.Dense(8), layers.Flatten(), layers.Dense(2)]\n",)
    INVALID = ("from keras import layers\n\nm = [layers.Conv2D(8, 3), layers.Flatten(), layers.Dense(2)]\n",)

    def run(self, ctx):
        # calls in source order within each top-level statement (a function, class, list)
        for stmt in ctx.module.body:
            seen_spatial, pending = False, None
            for call in _calls_in_order(stmt):
                cls = ctx.keras.layer_class(call.func) or ""
                if any(key in cls for key in SPATIAL) and "Global" not in cls:
                    seen_spatial = True
                elif cls == "Flatten" and seen_spatial:
                    pending = call
                elif cls == "Dense" and pending is not None:
                    yield ctx.finding(self, pending, "Flatten after convolutions: (H, W, C) order in Keras, (C, H, W) in PyTorch")
                    pending = None


def _calls_in_order(node) -> list[cst.Call]:
    found: list[cst.Call] = []

    class V(cst.CSTVisitor):
        def leave_Call(self, original: cst.Call) -> None:  # inner calls first: layers.X()(x)
            found.append(original)

    node.visit(V())
    return found
