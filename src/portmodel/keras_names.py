"""Resolve what a name in Keras source refers to (through libcst's QualifiedNameProvider)."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import QualifiedNameProvider

_PREFIXES = (
    ("tensorflow.python.keras.", "keras."),
    ("tensorflow.keras.", "keras."),
    ("tf_keras.", "keras."),
    ("keras.api.", "keras."),
)
_ALIASES = {
    "keras.models.Sequential": "keras.Sequential",
    "keras.models.Model": "keras.Model",
    "keras.layers.Input": "keras.Input",
    "keras.engine.training.Model": "keras.Model",
    "keras.Layer": "keras.layers.Layer",
}
KERAS_ROOTS = ("keras", "tensorflow", "tf_keras")


def canonical(name: str) -> str:
    for prefix, repl in _PREFIXES:
        if name.startswith(prefix):
            name = repl + name[len(prefix) :]
            break
    return _ALIASES.get(name, name)


class KerasNames:
    """Answers 'is this node keras.X?' for nodes of one parsed module."""

    def __init__(self, qnames: dict):
        self._qnames = qnames

    def of(self, node: cst.CSTNode) -> str | None:
        if not isinstance(node, cst.Name | cst.Attribute):
            return None
        found = self._qnames.get(node, ())
        if callable(found):  # libcst resolves QualifiedNameProvider lazily
            found = found()
        for q in found:
            name = canonical(q.name)
            if name.split(".")[0] == "keras":
                return name
        return None

    def layer_class(self, node: cst.CSTNode) -> str | None:
        """'Dense' for keras.layers.Dense (any alias), else None."""
        name = self.of(node)
        if name and name.startswith("keras.layers.") and name.count(".") == 2:
            return name.rsplit(".", 1)[1]
        return None


__all__ = ["KERAS_ROOTS", "KerasNames", "QualifiedNameProvider", "canonical"]
