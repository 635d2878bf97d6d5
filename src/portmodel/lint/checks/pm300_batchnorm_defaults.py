from __future__ import annotations

from ..check import Check, register, unwritten_defaults

TORCH_SIG = ("num_features", "eps", "momentum")
TORCH_BN = {f"torch.nn.BatchNorm{n}d": TORCH_SIG for n in (1, 2, 3)}


@register
class BatchNormDefaults(Check):
    """BatchNorm epsilon or momentum left to the framework's default.

    What: flags `BatchNormalization(...)` without explicit `epsilon`/`momentum` (Keras) and
    `nn.BatchNorm2d(...)` without explicit `eps`/`momentum` (PyTorch).

    Why: the defaults differ: Keras epsilon 1e-3 and momentum 0.99, PyTorch eps 1e-5 and
    momentum 0.1 (= 1 - Keras momentum). A port that relies on defaults silently changes the
    numbers (about 2e-4 of error for epsilon alone).

    Example: `layers.BatchNormalization()` -> `layers.BatchNormalization(epsilon=0.001, momentum=0.99)`.

    Fix: safe; writes the current defaults out, so behaviour does not change.
    """

    code = "PM300"
    name = "batchnorm-defaults"
    fix = "safe"
    VALID = ("from keras import layers\n\nbn = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)\n",)
    INVALID = (
        "from keras import layers\n\nbn = layers.BatchNormalization()\n",
        "from torch import nn\n\nbn = nn.BatchNorm2d(16, eps=1e-3)\n",
    )
    FIXED = (
        "from keras import layers\n\nbn = layers.BatchNormalization(epsilon=0.001, momentum=0.99)\n",
        "from torch import nn\n\nbn = nn.BatchNorm2d(16, eps=1e-3, momentum=0.1)\n",
    )

    def run(self, ctx):
        message = "BatchNorm {names} left to the default (defaults differ between frameworks)"
        yield from unwritten_defaults(self, ctx, "BatchNormalization", TORCH_BN, message)
