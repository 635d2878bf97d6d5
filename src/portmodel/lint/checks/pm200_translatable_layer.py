from __future__ import annotations

from ..check import Check, register


@register
class TranslatableLayer(Check):
    """A Keras layer that `portmodel translate` can port.

    What: one finding per file, at its first such layer, counting the Keras layer
    constructors that rules under `rules/layers/` cover.

    Why: shows how much of a file is ready to be ported automatically.

    Example: `layers.Conv2D(32, 3)` (-> `nn.Conv2d`).

    Fix: unsafe (`--unsafe-fixes` translates the whole file to PyTorch; it changes the
    framework, so review the diff and port the weights with `portmodel weights`).
    """

    code = "PM200"
    name = "translatable-layer"
    fix = "unsafe"
    level = "note"
    source = ("keras",)
    VALID = ("from keras import layers\n\nlayer = layers.PReLU()\n",)
    INVALID = ("from keras import layers\n\nlayer = layers.Conv2D(8, 3)\n",)

    def run(self, ctx):
        from ...rulebook import load_rules

        rules = load_rules()
        hits = [call for call in ctx.calls if rules.layer(ctx.keras.layer_class(call.func) or "") is not None]
        if hits:
            first = min(hits, key=lambda c: (ctx.pos[c].start.line, ctx.pos[c].start.column))
            n = len(hits)
            yield ctx.finding(self, first, f"{n} Keras layer{'s' if n > 1 else ''} here can be translated to PyTorch (portmodel translate)")
