"""Write an ONNX graph as the source of a PyTorch module, one statement per node.

The emitter keeps three kinds of values while it walks the graph in order:
- constants known at conversion time (initializers, `Constant` nodes, and any node whose
  inputs are all constants, folded with ONNX's reference evaluator);
- *shape* values: Python lists of ints computed from `x.shape` (exporters build reshape
  targets with Shape/Gather/Concat; keeping them as Python ints keeps the batch dynamic
  and the module exportable with `torch.export`);
- tensors, held in local variables of `forward`.
Weights go to `nn.*` modules (parameters) or to buffers; both land in the state_dict
written beside the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..onnx_common import (
    BUILTINS,
    GraphWalker,
    UnsupportedOp,
    Value,
    attrs,
    identifier,
    source_name,
)

__all__ = ["Emitter", "UnsupportedOp", "Value", "attrs", "torch_dtype"]


@dataclass
class Emitter(GraphWalker):
    init_lines: list[str] = field(default_factory=list)
    state: dict[str, np.ndarray] = field(default_factory=dict)
    # module names and builtins the generated code uses ("input" stays free: exporters name inputs so)
    _names: set[str] = field(default_factory=lambda: {"self", "torch", "nn", "F", "math", *BUILTINS})

    def tensor(self, name: str) -> str:
        """`name` as a tensor expression: a constant becomes a buffer (or a scalar literal)."""
        v = self.get(name)
        if v.kind == "tensor":
            return v.expr
        if v.kind in ("shape", "int"):
            return f"torch.tensor({v.expr})"
        arr = v.static
        if arr.ndim == 0 and arr.dtype.kind == "f":
            return repr(float(arr))
        if arr.ndim == 0 and arr.dtype.kind in "iub":
            return f"torch.tensor({arr.item()!r})"
        buf = self.buffer(name, arr)
        v.kind, v.expr = "tensor", buf
        return buf

    def operand(self, name: str) -> str:
        """An operand of an elementwise op: a scalar constant stays a Python number."""
        arr = self.static(name)
        if arr is not None and arr.size == 1 and arr.dtype.kind in "fiu":
            return repr(arr.reshape(()).item())
        return self.tensor(name)

    def buffer(self, hint: str, arr: np.ndarray) -> str:
        own = source_name("", hint) if hint in self.initializers else None
        words = [w for w in re.split(r"[/:.]+", own or hint) if w and not w.isdigit()]
        name = self.unique(identifier("c_" + "_".join(words[-2:] if own is None else words)), self.attributes)
        self.init_lines.append(
            f"self.register_buffer({name!r}, torch.empty({tuple(arr.shape)!r}, dtype={torch_dtype(arr.dtype)}))"
        )
        self.state[name] = arr
        return f"self.{name}"

    def module(self, node, fallback: str, constructor: str, weights: dict[str, np.ndarray],
               weight: str | None = None) -> str:
        """Add `self.<name> = <constructor>` to __init__ with its parameters in the state_dict;
        the name is the source's (`layer_name`: the weight's initializer, else the node's scope)."""
        name = self.layer_name(node, weight, fallback)
        self.init_lines.append(f"self.{name} = {constructor}")
        for key, arr in weights.items():
            if arr is not None:
                self.state[f"{name}.{key}"] = arr
        return f"self.{name}"


_DTYPES = {
    "float32": "torch.float32", "float64": "torch.float64", "float16": "torch.float16",
    "int64": "torch.int64", "int32": "torch.int32", "int8": "torch.int8", "uint8": "torch.uint8",
    "bool": "torch.bool", "int16": "torch.int16",
}


def torch_dtype(dtype) -> str:
    name = np.dtype(dtype).name
    if name not in _DTYPES:
        raise UnsupportedOp(f"tensors of dtype {name} are not supported")
    return _DTYPES[name]
