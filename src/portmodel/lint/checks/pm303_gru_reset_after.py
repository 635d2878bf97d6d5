from __future__ import annotations

from ...core.static_eval import static_eval
from ..check import Check, register


@register
class GruResetAfter(Check):
    """A Keras GRU with `reset_after=False`.

    What: flags `GRU(..., reset_after=False)`.

    Why: PyTorch's GRU applies the reset gate after the recurrent matrix product, which is
    Keras' `reset_after=True` (the Keras 3 default). With `reset_after=False` no PyTorch GRU
    computes the same function, so trained weights cannot be carried over exactly.

    Example: `layers.GRU(64, reset_after=False)`.

    Fix: manual; retrain with `reset_after=True`, or keep a custom cell.
    """

    code = "PM303"
    name = "gru-reset-after"
    source = ("keras",)
    VALID = ("from keras import layers\n\ng = layers.GRU(8)\n",)
    INVALID = ("from keras import layers\n\ng = layers.GRU(8, reset_after=False)\n",)

    def run(self, ctx):
        for call in ctx.calls:
            if ctx.keras.layer_class(call.func) != "GRU":
                continue
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value == "reset_after" and static_eval(arg.value, {}) is False:
                    yield ctx.finding(self, call, "GRU(reset_after=False) has no exact PyTorch equivalent")
