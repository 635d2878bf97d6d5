"""Fresh names for generated code."""

from __future__ import annotations

import re


def keras_snake(cls: str) -> str:
    """Keras' own name for an unnamed layer of class `cls`: `Conv2D` -> conv2d,
    `BatchNormalization` -> batch_normalization (the second one gets `_1`, and so on)."""
    text = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", cls)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", text).lower()


def unique(base: str, taken: set[str], first: int = 1) -> str:
    """`base`, or `base_<first>`, `base_<first + 1>`... whichever is not in `taken`; added to
    `taken`. (The Keras -> PyTorch writer numbers from 1, as Keras names layers; the ONNX
    writers and `to_keras` from 2, so the second of a name reads `x_2`.)"""
    name, i = base, first
    while name in taken:
        name = f"{base}_{i}"
        i += 1
    taken.add(name)
    return name
