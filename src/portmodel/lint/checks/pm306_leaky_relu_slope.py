from __future__ import annotations

from .. import Check, kwargs_of, register, with_keywords


@register
class LeakyReluSlope(Check):
    """LeakyReLU slope left to the framework's default.

    What: flags `layers.LeakyReLU()` without `negative_slope` (Keras) and `nn.LeakyReLU()`
    without `negative_slope` (PyTorch).

    Why: Keras' default slope is 0.3 (the `leaky_relu` activation string: 0.2), PyTorch's 0.01.

    Example: `layers.LeakyReLU()` -> `layers.LeakyReLU(negative_slope=0.3)`.

    Fix: safe; writes the current default out.
    """

    code = "PM306"
    name = "leaky-relu-slope"
    fix = "safe"
    VALID = ("from keras import layers\n\na = layers.LeakyReLU(negative_slope=0.1)\n",)
    INVALID = ("from keras import layers\n\na = layers.LeakyReLU()\n", "from torch import nn\n\na = nn.LeakyReLU()\n")
    FIXED = ("from keras import layers\n\na = layers.LeakyReLU(negative_slope=0.3)\n", "from torch import nn\n\na = nn.LeakyReLU(negative_slope=0.01)\n")

    def run(self, ctx):
        for call in ctx.calls:
            if ctx.keras.layer_class(call.func) == "LeakyReLU":
                given, default = kwargs_of(call, ("negative_slope",)), "0.3"
                if "alpha" in given:
                    continue
            elif ctx.torch_name(call.func) == "torch.nn.LeakyReLU":
                given, default = kwargs_of(call, ("negative_slope",)), "0.01"
            else:
                continue
            if "negative_slope" not in given:
                yield ctx.finding(self, call, "LeakyReLU slope left to the default (0.3 in Keras, 0.01 in PyTorch)", (call, with_keywords(call, {"negative_slope": default})))
