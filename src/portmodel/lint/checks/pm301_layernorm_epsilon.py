from __future__ import annotations

from .. import Check, kwargs_of, register, with_keywords


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
        for call in ctx.calls:
            if ctx.keras.layer_class(call.func) == "LayerNormalization":
                key, value, sig = "epsilon", "0.001", ("axis", "epsilon")
            elif ctx.torch_name(call.func) == "torch.nn.LayerNorm":
                key, value, sig = "eps", "1e-05", ("normalized_shape", "eps")
            else:
                continue
            if key not in kwargs_of(call, sig):
                yield ctx.finding(self, call, f"LayerNorm {key} left to the default (1e-3 in Keras, 1e-5 in PyTorch)", (call, with_keywords(call, {key: value})))
