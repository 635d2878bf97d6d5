from __future__ import annotations

from ..check import Check, register

ROOTS = {"keras": ("keras", "tensorflow", "tf_keras"), "torch": ("torch", "torchvision", "torchaudio")}


def module_roots(node) -> list[str]:
    import libcst as cst

    code = cst.Module([]).code_for_node
    if isinstance(node, cst.Import):
        return [code(a.name).split(".")[0] for a in node.names]
    if node.module is None or node.relative:
        return []
    return [code(node.module).split(".")[0]]


@register
class FrameworkImport(Check):
    """An import of the framework being migrated away from, in a migrated file.

    What: flags `import keras`, `from tensorflow import ...` (or `torch` when migrating from
    PyTorch) in files matched by `migrated` in `[tool.portmodel]`.

    Why: a migrated file must not grow new dependencies on the old framework.

    Example: `import tensorflow as tf` in `src/models/net.py` with `migrated = ["src/models/**"]`.

    Fix: manual; port the code that needs it (`portmodel translate`).
    """

    code = "PM100"
    name = "framework-import"
    level = "error"
    only_migrated = True
    VALID = ("import torch\nfrom torch import nn\n",)
    INVALID = ("import tensorflow as tf\n", "from keras import layers\n")

    def run(self, ctx):
        roots = ROOTS[ctx.config.source]
        for node in ctx.imports:
            hit = [r for r in module_roots(node) if r in roots]
            if hit:
                yield ctx.finding(self, node, f"'{hit[0]}' imported in a migrated file")
