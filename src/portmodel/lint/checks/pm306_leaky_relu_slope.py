from __future__ import annotations

from ..check import Check, register, unwritten_defaults


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
    VALID = ("from keras import layers\n\na = layers.LeakyReLU(negative_slope=0.1)\n", "from keras import layers\n\na = layers.LeakyReLU(alpha=0.1)\n")
    INVALID = ("from keras import layers\n\na = layers.LeakyReLU()\n", "from torch import nn\n\na = nn.LeakyReLU()\n")
    FIXED = ("from keras import layers\n\na = layers.LeakyReLU(negative_slope=0.3)\n", "from torch import nn\n\na = nn.LeakyReLU(negative_slope=0.01)\n")

    def run(self, ctx):
        message = "LeakyReLU slope left to the default (0.3 in Keras, 0.01 in PyTorch)"
        torch = {"torch.nn.LeakyReLU": ("negative_slope", "inplace")}
        # Keras 2 spelled the slope `alpha`
        yield from unwritten_defaults(self, ctx, "LeakyReLU", torch, message, {"alpha": "negative_slope"})
