"""What the two ONNX writers share: `onnx_torch` (PyTorch source) and `onnx_keras` (Keras 3
source) walk an ONNX graph the same way.

- `load` reads a model (from a path, external data left in its files) and runs shape inference;
- `GraphWalker` holds the values met while walking the graph in order: constants known at
  conversion time, *shape* values (Python lists of ints from `x.shape`, so the batch stays
  dynamic) and tensors in local variables of the generated forward/call; it gives readable,
  unique Python names;
- `walk` drives one writer's converter registry over the nodes (a node whose inputs are all
  constants is folded with ONNX's reference evaluator; an op without a converter stops with
  `UnsupportedOp` naming the op and the node);
- `layer_name` names a layer after the source's own names: the weight's initializer
  (`layer1.0.conv1.weight`, `functional_1/conv1_conv_1/convolution/merged_input:0`), else the
  node's scope (`/layer1/layer1.0/conv1/Conv`): never after a neighbour an exporter folded
  into the node (tf2onnx names a Conv with a folded BatchNorm after the BatchNorm).
"""

from __future__ import annotations

import builtins
import keyword
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .core.errors import PortmodelError
from .core.identifiers import unique

BUILTINS = {n for n in dir(builtins) if not n.startswith("_")} - {"input"}


class UnsupportedOp(PortmodelError):
    """An ONNX node the converter cannot express (names the op and the node)."""


@dataclass
class Value:
    expr: str  # an expression valid in the generated forward/call (a local name or a literal)
    kind: str  # "tensor" | "shape" (list of ints) | "int" | "const"
    static: np.ndarray | None = None
    layout: str = ""  # onnx_keras: "cl" where the tensor is held channels-last (the ONNX one is NC...)


def load(model) -> tuple[object, int, str | None]:
    """(shape-inferred `onnx.ModelProto`, default-domain opset, folder of external data or None)
    from a ModelProto or the path of an .onnx file. From a path, tensors kept as external data
    (models over 2 GB) stay in their files: shape inference runs on the graph alone."""
    import onnx

    base_dir = None
    if isinstance(model, str | os.PathLike):
        base_dir = os.path.dirname(os.path.abspath(model))
        model = onnx.load(model, load_external_data=False)
    model = onnx.shape_inference.infer_shapes(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    return model, opset, base_dir


@dataclass
class GraphWalker:
    graph: object  # onnx.GraphProto (shape-inferred)
    opset: int
    base_dir: str | None = None  # where external tensor data lives (models over 2 GB)
    forward_lines: list[str] = field(default_factory=list)
    values: dict[str, Value] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # names the generated code uses ("input" stays free: exporters name inputs so)
    _names: set[str] = field(default_factory=lambda: {"self", *BUILTINS})
    _shapes: dict[str, tuple] = field(default_factory=dict)
    _dtypes: dict[str, np.dtype] = field(default_factory=dict)
    attributes: set[str] = field(default_factory=set)  # the layers' (and constants') attribute names
    origins: dict[str, str] = field(default_factory=dict)  # folded value -> the initializer it was made from
    derived: set[str] = field(default_factory=set)  # folded values computed from initializers (weights still)
    consumers: dict[str, list] = field(default_factory=dict)  # value name -> nodes reading it
    fused: set[int] = field(default_factory=set)  # id() of nodes another converter already wrote

    def __post_init__(self) -> None:
        from onnx import helper

        for init in self.graph.initializer:
            self.values[init.name] = Value(init.name, "const", read_initializer(init, self.base_dir))
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
        self.initializers = {i.name for i in self.graph.initializer}

    # -- names ---------------------------------------------------------------------------
    def fresh(self, hint: str, parts: int = 2) -> str:
        """A new Python identifier from an ONNX name: its last `parts` path components, the
        exporters' own prefixes dropped ('functional_1/conv2d_1/Relu:0' -> conv2d_1_relu)."""
        words = [w for w in re.split(r"[/:.]+", hint) if w and not w.isdigit()]
        if len(words) > 1 and re.fullmatch(r"(functional|model|sequential|node)(_\d+)?", words[0].lower()):
            words = words[1:]
        return self.unique(identifier("_".join(words[-parts:])))

    def unique(self, base: str, taken: set[str] | None = None) -> str:
        """`base`, or `base_2`, `base_3`... where taken (local names, or the `taken` set)."""
        return unique(base, self._names if taken is None else taken, first=2)

    def variable(self, output: str, hint: str | None = None) -> str:
        """A new local name for an ONNX value: `hint` (the layer that computes it) where given,
        a Keras layer's name from tf2onnx's scopes, else from the value's own name."""
        if hint:
            return self.unique(identifier(hint))
        if _is_tf_scope(output):
            layer = _tf_layer(output)
            if layer:
                return self.unique(identifier(layer))
        return self.fresh(output)

    def layer_name(self, node, weight: str | tuple | None = None, fallback: str = "layer") -> str:
        """A new identifier for the layer `node` becomes, from the source's own names: its
        weight's (or, where the exporter renamed that, its bias') initializer, else the node's."""
        candidates = (weight,) if isinstance(weight, str) or weight is None else weight
        for w in candidates:
            w = self.origins.get(w, w)
            shared = len([n for n in self.consumers.get(w, []) if n is not None]) > 1  # deduplicated by the exporter
            if w in self.initializers and not shared and (name := source_name("", w)):
                break
        else:
            name = source_name(node.name, None) or fallback
        return self.unique(identifier(name), self.attributes)

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

    def used(self, name: str) -> bool:
        return bool(name) and bool(self.consumers.get(name))

    def assign(self, outputs: list[str], expr: str, kind: str = "tensor", layout: str = "",
               hint: str | None = None) -> None:
        """`out = expr` in forward (a tuple for several outputs; an unread output is `_`,
        and a statement none of whose outputs is read is not written). `hint` names the
        variable (by default a layer's output is named after the layer)."""
        if hint is None and (m := re.match(r"self\.(\w+)\(", expr)):
            hint = m.group(1)  # a layer's output is named after the layer
        names = ["_" if not self.used(o) else self.variable(o, hint) for o in outputs]
        if all(n == "_" for n in names):
            return
        target = names[0] if len(names) == 1 else ", ".join(names)
        self.forward_lines.append(f"{target} = {expr}")
        for o, n in zip(outputs, names):
            if n != "_":
                self.values[o] = Value(n, kind, layout=layout)

    def alias(self, output: str, source: str) -> None:
        self.values[output] = self.get(source)


# -- the walk ------------------------------------------------------------------------------


INT64_MAX = 2**63 - 1


def walk(e: GraphWalker, converters: dict[str, Callable], target: str) -> dict[str, int]:
    """Convert every node in order with `converters` (op -> fn(e, node)); returns op counts.
    A constant read for the last time is dropped (folded transposes of 2 GB of weights
    would otherwise double them)."""
    ops: dict[str, int] = {}
    unread = {name: len(nodes) for name, nodes in e.consumers.items()}
    for node in e.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
        _convert(e, node, converters, target)
        for name in node.input:
            unread[name] -= 1
            if not unread[name] and name in e.values and e.values[name].kind == "const":
                del e.values[name]
    return ops


def _convert(e: GraphWalker, node, converters: dict[str, Callable], target: str) -> None:
    """One node: skipped when another converter wrote it, folded when its inputs are all
    constants, else written by its converter."""
    if id(node) in e.fused:
        return
    if node.domain not in ("", "ai.onnx"):
        raise UnsupportedOp(f"ONNX op {node.domain}.{node.op_type} (node {node.name!r}) is not a standard op")
    if node.op_type != "Constant" and node.input and all(e.static(n) is not None for n in node.input if n):
        fold(e, node)
        return
    converter = converters.get(node.op_type)
    if converter is None:
        raise UnsupportedOp(f"ONNX op {node.op_type} (node {node.name!r}) has no {target} converter yet")
    try:
        converter(e, node)
    except UnsupportedOp as exc:
        raise UnsupportedOp(f"ONNX op {node.op_type} (node {node.name!r}): {exc.args[0]}") from None


_RESHAPING = {"Transpose", "Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten"}


def fold(e: GraphWalker, node) -> None:
    """Compute a node whose inputs are all constants now, with ONNX's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    feeds = {n: e.static(n) for n in node.input if n}
    outs = ReferenceEvaluator(node).run(None, feeds)
    if any(n in e.initializers or n in e.derived for n in node.input):
        e.derived.update(n for n in node.output if n)
    if node.op_type in _RESHAPING and node.output:  # a weight transposed or cast keeps its name
        e.origins[node.output[0]] = e.origins.get(node.input[0], node.input[0])
    for name, arr in zip(node.output, outs):
        if name:
            e.values[name] = Value(name, "const", np.asarray(arr))


def owned(arr: np.ndarray) -> np.ndarray:
    """A contiguous, writable array (initializers are read-only views of the protobuf)."""
    arr = np.ascontiguousarray(arr)
    return arr if arr.flags.writeable else arr.copy()


def read_initializer(init, base_dir: str | None) -> np.ndarray:
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


# -- attribute helpers both writers use ---------------------------------------------------


def f32(value) -> float:
    """A float32 attribute as the shortest Python float that is the same float32 (1e-12, not
    9.999999960041972e-13)."""
    return float(str(np.float32(value)))


def ints(values) -> tuple:
    return tuple(int(v) for v in values)


def one(values):
    """A tuple of equal sizes written as one int (kernel_size=3), as people write it."""
    return values[0] if len(set(values)) == 1 else values


def axes(e: GraphWalker, node, a: dict, index: int = 1):
    """Axes from the attribute (older opsets) or the input (newer ones)."""
    if "axes" in a:
        return ints(a["axes"])
    if len(node.input) > index and node.input[index]:
        arr = e.static(node.input[index])
        if arr is None:
            raise UnsupportedOp(f"{node.op_type} with computed axes is not supported", node.name)
        return ints(arr.reshape(-1))
    return None


def pads(e: GraphWalker, node, a: dict, kernel, strides, dilations) -> list[int]:
    """Begin and end pads per spatial axis (ONNX order), auto_pad resolved with the input shape."""
    nd = len(kernel)
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", "VALID"):
        return list(a.get("pads", [0] * 2 * nd)) if auto == "NOTSET" else [0] * 2 * nd
    shape = e.shape(node.input[0])
    if shape is None or any(d is None for d in shape[2:]):
        raise UnsupportedOp(f"{node.op_type} auto_pad={auto} needs static spatial sizes", node.name)
    begins, ends = [], []
    for size, k, s, d in zip(shape[2:], kernel, strides, dilations):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begins.append(small if auto == "SAME_UPPER" else big)
        ends.append(big if auto == "SAME_UPPER" else small)
    return begins + ends


def transpose_pads(e: GraphWalker, node, a: dict, kernel, strides, dilations, extra) -> list[int]:
    """Begin and end pads of a ConvTranspose (ONNX order), from `pads`, or from the output
    size `auto_pad`/`output_shape` ask for (ONNX: total = stride * (in - 1) + output_padding
    + (kernel - 1) * dilation + 1 - out; SAME_UPPER puts the odd one at the end)."""
    nd = len(kernel)
    auto = a.get("auto_pad", "NOTSET")
    if "output_shape" not in a and auto in ("NOTSET", "VALID"):
        return list(ints(a.get("pads", [0] * 2 * nd))) if auto == "NOTSET" else [0] * 2 * nd
    shape = e.shape(node.input[0])
    if shape is None or any(d is None for d in shape[2:]):
        raise UnsupportedOp(f"ConvTranspose auto_pad={auto} needs static spatial sizes", node.name)
    wanted = list(a["output_shape"])[-nd:] if "output_shape" in a else [n * s for n, s in zip(shape[2:], strides)]
    begins, ends = [], []
    for size, out, k, s, d, x in zip(shape[2:], wanted, kernel, strides, dilations, extra):
        total = max(s * (size - 1) + x + (k - 1) * d + 1 - out, 0)
        small, big = total // 2, total - total // 2
        begins.append(big if auto == "SAME_LOWER" else small)
        ends.append(small if auto == "SAME_LOWER" else big)
    return begins + ends


def bias_add(e: GraphWalker, name: str, size: int):
    """(the Add node, its bias) when `name` is read only by an Add of a constant (size,) vector:
    MatMul + Add is one nn.Linear, as exporters split it."""
    readers = e.consumers.get(name, [])
    if len(readers) != 1 or readers[0] is None or readers[0].op_type != "Add":
        return None, None
    add = readers[0]
    other = add.input[1] if add.input[0] == name else add.input[0]
    bias = e.static(other)
    if bias is None or bias.shape != (size,) or bias.dtype.kind != "f":
        return None, None
    e.fused.add(id(add))
    return add, bias


def registrar(table: dict[str, Callable]):
    """A decorator `op(*names)` registering a converter in `table` under each ONNX op name;
    a second converter for a name is refused."""

    def op(*names: str):
        def register(fn):
            for name in names:
                if name in table:
                    raise ValueError(f"ONNX op {name} registered twice")
                table[name] = fn
            return fn

        return register

    return op


def shape_arithmetic(e: GraphWalker, node) -> None:
    """Element-wise arithmetic on shape values (Python ints), e.g. a flatten size."""
    py = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "//"}.get(node.op_type)
    if py is None:
        raise UnsupportedOp(f"{node.op_type} on shape values is not supported", node.name)
    vals = []
    for n in node.input[:2]:
        v = e.get(n)
        if v.kind == "const":
            flat = v.static.reshape(-1).tolist()
            vals.append(("int", repr(flat[0])) if v.static.ndim == 0 else ("list", repr(flat)))
        else:
            vals.append(("int" if v.kind == "int" else "list", v.expr))
    (ka, a), (kb, b) = vals
    if ka == kb == "int":
        e.assign(list(node.output), f"{a} {py} {b}", "int")
    elif ka == "int":
        e.assign(list(node.output), f"[{a} {py} v for v in {b}]", "shape")
    elif kb == "int":
        e.assign(list(node.output), f"[v {py} {b} for v in {a}]", "shape")
    else:
        e.assign(list(node.output), f"[p {py} q for p, q in zip({a}, {b})]", "shape")


def bounds(e: GraphWalker, name: str, count: int) -> list[str] | None:
    """Slice bounds as Python expressions: constants, or a shape value's items."""
    arr = e.static(name)
    if arr is not None:
        return ["" if abs(int(v)) >= INT64_MAX // 2 else str(int(v)) for v in arr.reshape(-1)]
    v = e.get(name)
    if v.kind == "shape":
        return [f"{v.expr}[{i}]" for i in range(count)]
    if v.kind == "int" and count == 1:
        return [v.expr]
    return None


def constant(e: GraphWalker, node) -> None:
    """a constant, folded into what uses it."""
    from onnx import numpy_helper

    a = attrs(node)
    if "value" in a:
        arr = numpy_helper.to_array(a["value"])
    else:
        key = next(iter(a))
        arr = np.asarray(a[key], dtype={"value_float": np.float32, "value_int": np.int64}.get(key, np.int64 if "int" in key else np.float32))
    e.values[node.output[0]] = Value(node.output[0], "const", arr)


def identity(e: GraphWalker, node) -> None:
    """nothing: the output is the input (Dropout is inference-mode identity)."""
    e.alias(node.output[0], node.input[0])


def cast_to(e: GraphWalker, node) -> np.dtype | None:
    """Cast's target dtype; None where a shape value stays Python ints (the output aliased)."""
    from onnx import helper

    to = helper.tensor_dtype_to_np_dtype(attrs(node)["to"])
    if e.get(node.input[0]).kind in ("shape", "int") and to.kind in "iu":
        e.alias(node.output[0], node.input[0])
        return None
    return to


def conv_weights(e: GraphWalker, node):
    """(attributes, weight, bias or None, spatial rank, groups, kernel size) of a Conv or
    ConvTranspose whose weights are constants."""
    a = attrs(node)
    w = e.static(node.input[1])
    if w is None:
        raise UnsupportedOp(f"{node.op_type} with a computed kernel is not supported", node.name)
    b = e.static(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    return a, w, b, w.ndim - 2, a.get("group", 1), tuple(int(k) for k in w.shape[2:])


def clip_bounds(e: GraphWalker, node) -> tuple:
    """Clip's (min, max), None where unbounded: attributes (older opsets) or constant inputs."""
    a = attrs(node)
    lo, hi = a.get("min"), a.get("max")
    for i in (1, 2):
        if len(node.input) > i and node.input[i]:
            arr = e.static(node.input[i])
            if arr is None:
                raise UnsupportedOp("Clip with computed bounds is not supported", node.name)
            lo, hi = (arr.item(), hi) if i == 1 else (lo, arr.item())
    return lo, hi


def split_sizes(e: GraphWalker, node) -> list[int] | None:
    """Split's sizes (attribute or constant input); None for equal parts."""
    sizes = attrs(node).get("split")
    if sizes is None and len(node.input) > 1 and node.input[1]:
        arr = e.static(node.input[1])
        if arr is None:
            raise UnsupportedOp("Split with computed sizes is not supported", node.name)
        sizes = arr.tolist()
    return None if sizes is None else list(ints(sizes))


def pad_widths(e: GraphWalker, node) -> tuple[list[int], float, str]:
    """Pad's (ONNX pads: begins then ends, constant value, mode)."""
    a = attrs(node)
    widths = a.get("pads")
    if widths is None:
        arr = e.static(node.input[1])
        if arr is None:
            raise UnsupportedOp("Pad with computed pads is not supported", node.name)
        widths = arr.tolist()
    if len(node.input) > 3 and node.input[3]:
        raise UnsupportedOp("Pad of some axes only (axes input) is not supported", node.name)
    value = e.static(node.input[2]).item() if len(node.input) > 2 and node.input[2] else 0.0
    return list(ints(widths)), value, a.get("mode", "constant")


def slice_params(e: GraphWalker, node) -> tuple[list[str], list[str], list[int], list[int], int]:
    """Slice's (starts, ends as Python expressions, axes, steps, rank of the input; a shape
    value has rank 1): constant or shape-valued bounds, positive steps."""
    given = e.static(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    steps = e.static(node.input[4]) if len(node.input) > 4 and node.input[4] else None
    if len(node.input) > 3 and node.input[3] and given is None or len(node.input) > 4 and node.input[4] and steps is None:
        raise UnsupportedOp("Slice with computed axes or steps is not supported", node.name)
    starts_arr = e.static(node.input[1])
    count = len(given) if given is not None else (len(starts_arr) if starts_arr is not None else 1)
    starts, ends = bounds(e, node.input[1], count), bounds(e, node.input[2], count)
    if starts is None or ends is None:
        raise UnsupportedOp("Slice with computed bounds is not supported", node.name)
    sel = given.tolist() if given is not None else list(range(count))
    steps = steps.tolist() if steps is not None else [1] * count
    if any(s < 0 for s in steps):
        raise UnsupportedOp("Slice with a negative step is not supported", node.name)
    rank = 1 if e.get(node.input[0]).kind == "shape" else e.rank(node.input[0])
    if rank is None:
        rank = max(a + 1 for a in sel if a >= 0) if all(a >= 0 for a in sel) else None
    if rank is None:
        raise UnsupportedOp("Slice of an input of unknown rank", node.name)
    return starts, ends, sel, steps, rank


def slice_index(starts, ends, sel, steps, rank: int, where=lambda axis: axis) -> list[str]:
    """`a:b` items for an index expression (trailing `:` dropped); `where` maps an axis to the
    one the target holds it at."""
    index = [":"] * rank
    for start, stop, ax, st in zip(starts, ends, sel, steps):
        index[where(ax % rank)] = f"{'' if start == '0' else start}:{stop}" + (f":{st}" if st != 1 else "")
    while index and index[-1] == ":":
        index.pop()
    return index


def shape_items(e: GraphWalker, node) -> bool:
    """Gather of items of a shape value (Python ints); True when it was one."""
    v, index = e.get(node.input[0]), e.static(node.input[1])
    if v.kind != "shape" or index is None:
        return False
    if index.ndim == 0:
        e.assign(list(node.output), f"{v.expr}[{int(index)}]", "int")
    else:
        e.assign(list(node.output), f"[{v.expr}[i] for i in {index.reshape(-1).tolist()}]", "shape")
    return True


def shape_concat(e: GraphWalker, node, splat: Callable[[str], str]) -> bool:
    """Concat of shape values into one Python list; True when it was one (`splat(name)` writes
    a non-constant part)."""
    kinds = {e.get(n).kind for n in node.input}
    if "shape" not in kinds and "int" not in kinds:
        return False
    parts = [", ".join(str(int(v)) for v in e.static(n).reshape(-1)) if e.static(n) is not None else splat(n)
             for n in node.input]
    e.assign(list(node.output), f"[{', '.join(parts)}]", "shape")
    return True


# -- names ----------------------------------------------------------------------------------


def identifier(text: str) -> str:
    """A lower-case Python identifier from any text ('layer1.0.conv1' -> layer1_0_conv1)."""
    base = re.sub(r"^node_|(_output)?_\d+$", "", text)
    base = re.sub(r"\W+", "_", base).strip("_").lower()
    base = re.sub(r"_+", "_", base)[:60].rstrip("_") or "v"
    if base[0].isdigit() or keyword.iskeyword(base):
        base = "v_" + base
    return base


# The parameter's own name at the end of an initializer (PyTorch, Keras, tf2onnx's reads)
_PARAM = re.compile(
    r"[./](weight|bias|kernel|gamma|beta|running_mean|running_var|moving_mean|moving_variance|"
    r"embeddings|depthwise_kernel|scale|B|W|R)(/.*)?$"
)
_TF_PREFIX = re.compile(r"^(StatefulPartitionedCall(_\d+)?|functional(_\d+)?|sequential(_\d+)?|model(_\d+)?)$")


def source_name(node_name: str, weight: str | None) -> str | None:
    """The source's name for a layer: from its weight's initializer name, else from the node's
    scope; None where the exporter named both itself ('onnx::Conv_147', 'node_Conv_223')."""
    for name, from_weight in ((weight, True), (node_name, False)):
        if not name or re.match(r"(onnx::|val_\d|_v_\d|const_|arg\d)", name):
            continue
        if "/" in name:  # a scope: tf2onnx (Keras layer scopes) or TorchScript (module path)
            found = _tf_layer(name) if _is_tf_scope(name) else _torch_scope(name, from_weight)
            if found:
                return found
            continue
        if from_weight:
            path = _PARAM.sub("", name)
            if path != name and path:
                return path
            if not re.fullmatch(r"[A-Za-z]+_?\d*", name):
                return name
        elif not re.fullmatch(r"(node_)?[A-Z][A-Za-z]*(_\d+)?", name):  # dynamo: node_max_pool2d
            return name
    return None


def _is_tf_scope(name: str) -> bool:
    """A tf2onnx name from Keras 3's traced scopes: the model's scope first (`functional_1/`, or
    the model's own name: `resnet50_1/conv1_conv_1/convolution/ReadVariableOp:0`)."""
    return bool(re.match(r"(StatefulPartitionedCall|functional|sequential|model)(_\d+)?/", name)
                or re.match(r"[A-Za-z][\w.-]*_\d+/[A-Za-z][\w.-]*_\d+/", name))


def _tf_layer(name: str) -> str | None:
    """'functional_1/conv1_conv_1/convolution/merged_input:0' -> 'conv1_conv' (Keras 3 traces each
    layer under a name scope with `_1` added: one trailing `_N` is dropped)."""
    parts = [p for p in name.split(":")[0].split("/") if p]
    while parts and _TF_PREFIX.match(parts[0]):
        parts = parts[1:]
    layers = []
    for p in parts:
        if not re.search(r"_\d+$", p):
            break
        layers.append(re.sub(r"_\d+$", "", p))
    return layers[-1] if layers else None


def _torch_scope(name: str, from_weight: bool) -> str | None:
    """'/layer1/layer1.0/conv1/Conv' -> 'layer1.0.conv1' (TorchScript writes each module's
    scope, a Sequential's children as 'parent.index')."""
    parts = [p for p in name.split("/") if p]
    if not from_weight and parts:
        parts = parts[:-1]  # the op
    path: list[str] = []
    for p in parts:
        if path and p.startswith(path[-1].rsplit(".", 1)[-1] + "."):
            p = p.split(".", 1)[1]
        path.append(p)
    return ".".join(path) or None
