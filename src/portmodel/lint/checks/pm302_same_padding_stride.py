from __future__ import annotations

import libcst as cst

from ...core.static_eval import static_eval
from ..check import Check, kwargs_of, register

CONV = {
    "Conv1D": ("filters", "kernel_size", "strides", "padding"),
    "Conv2D": ("filters", "kernel_size", "strides", "padding"),
    "Conv3D": ("filters", "kernel_size", "strides", "padding"),
    "SeparableConv2D": ("filters", "kernel_size", "strides", "padding"),
    "DepthwiseConv2D": ("kernel_size", "strides", "padding"),
    "Conv2DTranspose": ("filters", "kernel_size", "strides", "padding"),
}
POOL = ("pool_size", "strides", "padding")


def _stride(arg: cst.Arg | None, default):
    if arg is None:
        return default
    value = static_eval(arg.value, {})
    return value


@register
class SamePaddingStride(Check):
    """TensorFlow 'same' padding with a stride greater than 1.

    What: flags Keras convolutions and poolings with `padding="same"` and a stride > 1
    (or a stride that is not a constant).

    Why: TensorFlow pads such layers asymmetrically (the extra pixel at the bottom/right);
    PyTorch's `padding=` is symmetric and `padding="same"` refuses stride > 1. A port must
    pad explicitly, and the amounts depend on the input size.

    Example: `layers.Conv2D(32, 3, strides=2, padding="same")`.

    Fix: manual (`portmodel translate` writes the exact `F.pad` where the input size is known,
    and `tf_same_pad(x, ...)`, the amounts computed from `x.shape` at run time, where it is not).
    """

    code = "PM302"
    name = "same-padding-stride"
    source = ("keras",)
    VALID = ("from keras import layers\n\nc = layers.Conv2D(8, 3, padding='same')\n",)
    INVALID = ("from keras import layers\n\nc = layers.Conv2D(8, 3, strides=2, padding='same')\n", "from keras import layers\n\np = layers.MaxPooling2D(padding='same')\n")

    def run(self, ctx):
        for call in ctx.calls:
            cls = ctx.keras.layer_class(call.func)
            if cls in CONV:
                given, default = kwargs_of(call, CONV[cls]), 1
            elif cls and "Pooling" in cls and "Global" not in cls:
                given = kwargs_of(call, POOL)
                default = _stride(given.get("pool_size"), 2)
            else:
                continue
            pad = given.get("padding")
            if pad is None or str(static_eval(pad.value, {})).lower() != "same":
                continue
            stride = _stride(given.get("strides"), default)
            if stride is None:
                stride = default
            strides = stride if isinstance(stride, tuple | list) else (stride,)
            if not all(isinstance(s, int) for s in strides) or any(s > 1 for s in strides):
                yield ctx.finding(self, call, f"{cls} 'same' padding with stride > 1 pads asymmetrically in TensorFlow")
