"""Rule examples as runnable cases: one-layer Keras models and their ports.

Used by the test suite (every example of every rule is translated, its module checked
against the `torch:` text when given, and run both ways with transferred weights).
"""

from __future__ import annotations

import numpy as np

from .rules import Example


def example_source(ex: Example) -> str:
    shapes = list(ex.input) if ex.input and isinstance(ex.input[0], list) else [list(ex.input)]
    names = [f"in_{i}" for i in range(len(shapes))]
    lines = ["import keras", "from keras import layers", "", "", "def build():"]
    for name, shape in zip(names, shapes):
        lines.append(f"    {name} = keras.Input(shape={tuple(shape)!r}, dtype={ex.dtype!r})")
    arg = names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"
    lines.append(f"    out = {ex.keras}({arg})")
    lines.append(f"    return keras.Model({'[' + ', '.join(names) + ']' if len(names) > 1 else names[0]}, out)")
    return "\n".join(lines) + "\n"


def randomize(keras_model, seed: int = 0) -> None:
    """Random non-trivial weights so every tensor is exercised, outputs of order 1-10.

    Kernels get std 1/sqrt(fan_in); vectors (biases, BatchNorm statistics) are random too,
    with positive variances and scales near 1.
    """
    rng = np.random.default_rng(seed)
    for v in keras_model.weights:
        shape = tuple(v.shape)
        noise = rng.standard_normal(shape).astype("float32")
        name = v.path.rsplit("/", 1)[-1]
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1])) if name != "embeddings" else 1
            value = noise / np.sqrt(max(fan_in, 1))
        elif name in ("gamma", "moving_variance"):
            value = 1.0 + 0.2 * np.abs(noise)
        else:
            value = 0.2 * noise
        v.assign(value.astype("float32"))
