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

import builtins
import keyword
import os
import re
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import PortmodelError

_BUILTINS = {n for n in dir(builtins) if not n.startswith("_")} - {"input"}


class UnsupportedOp(PortmodelError):
    """An ONNX node the converter cannot express (names the op and the node)."""


@dataclass
class Value:
    expr: str  # a Python expression valid in forward (a local name or a literal)
    kind: str  # "tensor" | "shape" (list of ints) | "int" | "const"
    static: np.ndarray | None = None


@dataclass
class Emitter:
    graph: object  # onnx.GraphProto (shape-inferred)
    opset: int
    base_dir: str | None = None  # where external tensor data lives (models over 2 GB)
    init_lines: list[str] = field(default_factory=list)
    forward_lines: list[str] = field(default_factory=list)
    state: dict[str, np.ndarray] = field(default_factory=dict)
    values: dict[str, Value] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # module names and builtins the generated code uses ("input" stays free: exporters name inputs so)
    _names: set[str] = field(default_factory=lambda: {"self", "torch", "nn", "F", "math", *_BUILTINS})
    _shapes: dict[str, tuple] = field(default_factory=dict)
    _dtypes: dict[str, np.dtype] = field(default_factory=dict)
    consumers: dict[str, list] = field(default_factory=dict)  # value name -> nodes reading it
    fused: set[int] = field(default_factory=set)  # id() of nodes another converter already wrote

    def __post_init__(self) -> None:
        from onnx import helper

        for init in self.graph.initializer:
            self.values[init.name] = Value(init.name, "const", _initializer(init, self.base_dir))
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        for out in self.graph.output:
            self.consumers.setdefault(out.name, []).append(None)  # read by the caller
        for info in [*self.graph.value_info, *self.graph.input, *self.graph.output]:
            t = info.type.tensor_type
            if t.elem_type:
                self._dtypes[info.name] = helper.tensor_dtype_to_np_dtype(t.elem_type)
            if t.HasField("shape"):
                self._shapes[info.name] = tuple(
                    d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim
                )

    # -- names ---------------------------------------------------------------------------
    def fresh(self, hint: str, parts: int = 2) -> str:
        """A new Python identifier from an ONNX name: its last `parts` path components, the
        exporters' own prefixes dropped ('functional_1/conv2d_1/Relu:0' -> conv2d_1_relu)."""
        words = [w for w in re.split(r"[/:.]+", hint) if w and not w.isdigit()]
        if len(words) > 1 and re.fullmatch(r"(functional|model|sequential|node)(_\d+)?", words[0].lower()):
            words = words[1:]
        base = "_".join(words[-parts:])
        base = re.sub(r"^node_|(_output)?_\d+$", "", base)
        base = re.sub(r"\W+", "_", base).strip("_").lower()
        base = re.sub(r"_+", "_", base)[:32].rstrip("_") or "v"
        if base[0].isdigit() or keyword.iskeyword(base):
            base = "v_" + base
        name, i = base, 1
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    # -- values ----------------------------------------------------------------------------
    def get(self, name: str) -> Value:
        if name not in self.values:
            raise UnsupportedOp(f"ONNX value {name!r} is used before it is defined")
        return self.values[name]

    def static(self, name: str) -> np.ndarray | None:
        """The value of `name` when it is known at conversion time (else None)."""
        if not name:
            return None
        v = self.get(name)
        return v.static if v.kind == "const" else None

    def shape(self, name: str) -> tuple | None:
        """The inferred shape of `name` (None for unknown dims), if ONNX shape inference knew it."""
        v = self.values.get(name)
        if v is not None and v.kind == "const":
            return v.static.shape
        return self._shapes.get(name)

    def dtype(self, name: str) -> np.dtype | None:
        v = self.values.get(name)
        return v.static.dtype if v is not None and v.kind == "const" else self._dtypes.get(name)

    def rank(self, name: str) -> int | None:
        s = self.shape(name)
        return len(s) if s is not None else None

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
        name = self.fresh("c_" + hint)
        self.init_lines.append(
            f"self.register_buffer({name!r}, torch.empty({tuple(arr.shape)!r}, dtype={torch_dtype(arr.dtype)}))"
        )
        self.state[name] = arr
        return f"self.{name}"

    def module(self, hint: str, constructor: str, weights: dict[str, np.ndarray]) -> str:
        """Add `self.<name> = <constructor>` to __init__ with its parameters in the state_dict."""
        words = [w for w in re.split(r"[/:.]+", hint) if w]
        name = self.fresh("/".join(words[:-1]) if len(words) > 2 else hint, parts=1 if len(words) > 2 else 2)
        self.init_lines.append(f"self.{name} = {constructor}")
        for key, arr in weights.items():
            if arr is not None:
                self.state[f"{name}.{key}"] = arr
        return f"self.{name}"

    def used(self, name: str) -> bool:
        return bool(name) and bool(self.consumers.get(name))

    def assign(self, outputs: list[str], expr: str, kind: str = "tensor") -> None:
        """`out = expr` in forward (a tuple for several outputs; an unread output is `_`,
        and a statement none of whose outputs is read is not written)."""
        names = [self.fresh(o) if self.used(o) else "_" for o in outputs]
        if all(n == "_" for n in names):
            return
        target = names[0] if len(names) == 1 else ", ".join(names)
        self.forward_lines.append(f"{target} = {expr}")
        for o, n in zip(outputs, names):
            if n != "_":
                self.values[o] = Value(n, kind)

    def alias(self, output: str, source: str) -> None:
        self.values[output] = self.get(source)


def _initializer(init, base_dir: str | None) -> np.ndarray:
    """An initializer's array. External data (models over 2 GB) is read straight from its
    file into a writable array: onnx's own loader first copies it into the protobuf."""
    from onnx import TensorProto, helper, numpy_helper

    if init.data_location != TensorProto.EXTERNAL or base_dir is None:
        return numpy_helper.to_array(init)
    info = {e.key: e.value for e in init.external_data}
    dtype = helper.tensor_dtype_to_np_dtype(init.data_type)
    count = int(np.prod(init.dims)) if init.dims else 1
    offset = int(info.get("offset", 0))
    path = os.path.join(base_dir, info["location"])
    return np.fromfile(path, dtype=dtype.newbyteorder("<"), count=count, offset=offset).reshape(tuple(init.dims))


def attrs(node) -> dict:
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


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
