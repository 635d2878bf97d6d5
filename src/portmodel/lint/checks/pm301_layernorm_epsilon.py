from __future__ import annotations

from ..check import Check, register, unwritten_defaults


@register
class LayerNormEpsilon(Check):
    """LayerNorm epsilon left to the framework's default.

    What: flags `LayerNormalization(...)` without `epsilon` (Keras) and `nn.LayerNorm(...)`
    without `eps` (PyTorch).

    Why: Keras uses 1e-3, PyTorch 1e-5: a port relying on defaults computes different numbers.

    Example: `layers.LayerNormalization()` -> `layers.LayerNormalization(epsilon=0.001)`.

    Fix: safe; writes the current default out.
    """

    code = "PM301"
    name = "layernorm-epsilon"
    fix = "safe"
    VALID = ("from torch import nn\n\nln = nn.LayerNorm(8, eps=1e-6)\n",)
    INVALID = ("from keras import layers\n\nln = layers.LayerNormalization()\n", "from torch import nn\n\nln = nn.LayerNorm(8)\n")
    FIXED = ("from keras import layers\n\nln = layers.LayerNormalization(epsilon=0.001)\n", "from torch import nn\n\nln = nn.LayerNorm(8, eps=1e-05)\n")

    def run(self, ctx):
        message = "LayerNorm {names} left to the default (1e-3 in Keras, 1e-5 in PyTorch)"
        torch = {"torch.nn.LayerNorm": ("normalized_shape", "eps")}
        yield from unwritten_defaults(self, ctx, "LayerNormalization", torch, message)
