"""Rule examples as runnable cases: one-layer Keras models and their ports.

Used by the test suite (every example of every rule is translated, its module checked
against the `torch:` text when given, and run both ways with transferred weights).
"""

from __future__ import annotations

import numpy as np

from .core.rules import Example


def example_source(ex: Example) -> str:
    shapes = list(ex.input) if ex.input and isinstance(ex.input[0], list) else [list(ex.input)]
    names = [f"in_{i}" for i in range(len(shapes))]
    lines = ["import keras", "from keras import layers", "", "", "def build():"]
    for name, shape in zip(names, shapes):
        lines.append(f"    {name} = keras.Input(shape={tuple(shape)!r}, dtype={ex.dtype!r})")
    arg = names[0] if len(names) == 1 else ", ".join(names) if ex.spread else "[" + ", ".join(names) + "]"
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
        elif name in ("gamma", "moving_variance", "variance"):
            value = 1.0 + 0.2 * np.abs(noise)
        else:
            value = 0.2 * noise
        v.assign(value.astype("float32"))
    for layer in getattr(keras_model, "_flatten_layers", list)():
        if type(layer).__name__ == "Normalization":  # reads its mean and variance into its state again
            layer.finalize_state()


# -- PyTorch -> Keras examples ------------------------------------------------------------------

_RETURNS_STATE = ("LSTM", "GRU", "RNN")


def torch_example_source(torch_code: str) -> str:
    """A one-layer PyTorch model around a rule's `from_torch` example (a module constructor)."""
    cls = torch_code.split("(", 1)[0].rsplit(".", 1)[-1]
    if cls in _RETURNS_STATE:
        body = "y, _ = self.layer(x)\n        return y"
    elif cls == "MultiheadAttention":
        body = "y, _ = self.layer(x, x, x, need_weights=False)\n        return y"
    else:
        body = "return self.layer(x)"
    return (
        "import torch\nimport torch.nn as nn\n\n\nclass Example(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        f"        self.layer = {torch_code}\n\n"
        f"    def forward(self, x):\n        {body}\n"
    )


def torch_op_source(expr: str) -> str:
    """A PyTorch model computing one op example over its input `x0`."""
    return (
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\nclass Example(nn.Module):\n"
        f"    def forward(self, x0):\n        return {expr}\n"
    )


def randomize_torch(torch_model, seed: int = 0) -> None:
    """Seeded non-trivial parameters and BatchNorm statistics (positive variances)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in [*torch_model.named_parameters(), *torch_model.named_buffers()]:
            if not t.is_floating_point():
                continue
            noise = torch.randn(t.shape, generator=gen)
            if name.endswith("running_var"):
                t.copy_(1.0 + 0.2 * noise.abs())
            elif t.dim() >= 2:
                t.copy_(noise / max(t[0].numel(), 1) ** 0.5)
            else:
                t.copy_(0.2 * noise + (1.0 if name.endswith("weight") else 0.0))
