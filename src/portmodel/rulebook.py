"""The rule set, with every name a rule gives checked against the code that serves it.

`core.rules` reads the rule files and checks them against their schemas; the names they
give of code (a Keras -> PyTorch lowering, a weight transform, a PyTorch -> Keras layer
writer, an op hook) are checked here, where both directions' registries are in reach, so
that neither the core nor a direction imports the other's code.
"""

from __future__ import annotations

import functools

from .core.errors import RuleError
from .core.rules import RuleSet, read_rules
from .keras_to_torch.hooks import INVERSES, LOWERINGS, TRANSFORMS
from .torch_to_keras.nn_layers import WRITERS
from .torch_to_keras.tensor_ops import HOOKS


@functools.cache
def load_rules(directory: str | None = None) -> RuleSet:
    """Every rule file of `directory` (default: `core.rules.rules_dir()`), validated; a name
    of code no registry holds is a `RuleError` naming the file and key."""
    rules = read_rules(directory)
    for rule in rules.by_id.values():
        if rule.lower not in LOWERINGS:
            raise RuleError(f"key 'lower': no lowering named '{rule.lower}'", str(rule.path))
        if rule.from_torch and rule.from_torch.write not in WRITERS:
            raise RuleError(f"key 'from_torch/write': no PyTorch -> Keras layer writer named "
                            f"'{rule.from_torch.write}'", str(rule.path))
        for w in rule.weights:
            if w.transform and (w.transform not in TRANSFORMS or w.transform not in INVERSES):
                raise RuleError(f"key 'weights/{w.keras}/transform': unknown '{w.transform}' (or it has "
                                "no inverse)", str(rule.path))
    for op in rules.ops.values():
        if op.hook and op.hook not in HOOKS:
            raise RuleError(f"key 'ops': {op.torch[0]}: no op hook named '{op.hook}'", str(op.path))
    return rules
