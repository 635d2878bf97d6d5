from __future__ import annotations

from ..check import Check, kwargs_of, register, with_keywords


@register
class SoftmaxAxis(Check):
    """Softmax without an explicit axis/dim.

    What: flags `layers.Softmax()` without `axis` (Keras) and `nn.Softmax()` /
    `F.softmax(x)` without `dim` (PyTorch).

    Why: the axis moves when the layout changes (channels-last vs channels-first), and
    PyTorch's implicit dim is deprecated and depends on the input's rank.

    Example: `layers.Softmax()` -> `layers.Softmax(axis=-1)`.

    Fix: safe for Keras (writes out the default, -1); manual for PyTorch (the right dim
    depends on the tensor).
    """

    code = "PM305"
    name = "softmax-axis"
    fix = "safe"
    VALID = ("from torch import nn\n\ns = nn.Softmax(dim=1)\n",)
    INVALID = ("from keras import layers\n\ns = layers.Softmax()\n", "from torch import nn\n\ns = nn.Softmax()\n")
    FIXED = ("from keras import layers\n\ns = layers.Softmax(axis=-1)\n", "from torch import nn\n\ns = nn.Softmax()\n")

    def run(self, ctx):
        for call in ctx.calls:
            if ctx.keras.layer_class(call.func) == "Softmax":
                if "axis" not in kwargs_of(call, ("axis",)):
                    yield ctx.finding(self, call, "Softmax without an explicit axis", (call, with_keywords(call, {"axis": "-1"})))
            elif ctx.torch_name(call.func) == "torch.nn.Softmax" and "dim" not in kwargs_of(call, ("dim",)):
                yield ctx.finding(self, call, "nn.Softmax without dim (implicit dim is deprecated)")
            elif ctx.torch_name(call.func) in ("torch.nn.functional.softmax", "torch.softmax") and "dim" not in kwargs_of(
                call, ("input", "dim")
            ):
                yield ctx.finding(self, call, "softmax without dim (implicit dim is deprecated)")
