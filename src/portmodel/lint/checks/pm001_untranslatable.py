from __future__ import annotations

from ..check import Check, register


@register
class Untranslatable(Check):
    """Model code the translator cannot handle yet.

    What: reports each construct `portmodel translate` would leave under a
    `# portmodel: TODO` comment (an unknown layer, an argument no rule knows, an op on a
    tensor without an op rule), with the translator's reason.

    Why: so a team can plan the migration: these spots need a new rule or a hand port.

    Example: `layers.PReLU()` (no rule yet).

    Fix: manual; or add a rule under `rules/`.
    """

    code = "PM001"
    name = "untranslatable"
    source = ("keras",)
    VALID = ("import keras\nfrom keras import layers\n\n\ndef build():\n    x = keras.Input((4,))\n    return keras.Model(x, layers.Dense(2)(x))\n",)
    INVALID = ("import keras\nfrom keras import layers\n\n\ndef build():\n    x = keras.Input((4,))\n    return keras.Model(x, layers.PReLU()(x))\n",)

    def run(self, ctx):
        from ...translate import translate_source

        if not any(ctx.keras.of(node.func) for node in ctx.calls):
            return
        result = translate_source(ctx.source, ctx.path, parsed=ctx.module)
        for d in result.todos:
            yield _at(ctx, self, d.line, d.col, d.message)


def _at(ctx, check, line, col, message):
    from ..check import Finding

    return Finding(ctx.path, line, col, check.code, message, check.fix, check.level)
