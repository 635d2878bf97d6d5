from __future__ import annotations

from ..check import Check, register
from .pm100_framework_import import ROOTS


@register
class FrameworkUse(Check):
    """A call into the framework being migrated away from, in a migrated file.

    What: flags calls such as `tf.reduce_mean(...)`, `keras.layers.Dense(...)` or
    `tf.keras.Model(...)` (or `torch.*` when migrating from PyTorch) in migrated files.

    Why: imports can hide behind aliases and re-exports; the calls are what ties the file
    to the old framework.

    Example: `y = tf.nn.relu(x)` in a migrated file.

    Fix: manual; replace it with the new framework's op (op rules: issue 5).
    """

    code = "PM101"
    name = "framework-use"
    level = "error"
    only_migrated = True
    VALID = ("import torch\n\ny = torch.relu(torch.zeros(2))\n",)
    INVALID = ("import tensorflow as tf\n\ny = tf.nn.relu(tf.zeros(2))\n",)

    def run(self, ctx):
        roots = ROOTS[ctx.config.source]
        for call in ctx.calls:
            names = sorted(n for n in ctx.qualified(call.func) if n.split(".")[0] in roots)
            if names:
                yield ctx.finding(self, call, f"'{names[0]}' used in a migrated file")
