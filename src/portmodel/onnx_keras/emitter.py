"""Write an ONNX graph as the source of a Keras 3 model, one statement per node, channels-last.

On top of the shared walk (`onnx_common.GraphWalker`: constants, shape values, tensors) the
Keras emitter tracks each tensor's **layout**: "cl" where the Keras tensor holds the ONNX
tensor with its channel axis (1) moved last (NCHW -> NHWC), "" where it is as in ONNX.
Layers that want channels-last (convolutions, pooling, BatchNormalization of images) take
"cl" tensors and give them; element-wise ops keep whatever layout their operands share;
axis arguments (Concat, Softmax, Reduce*, Slice, Pad...) are moved to the Keras axis;
anything else (Reshape, Flatten, MatMul...) gets the tensor back in the ONNX layout through
an explicit `ops.transpose` first, which is exact. A transpose the graph itself writes
(tf2onnx's NHWC -> NCHW around every Keras conv) often becomes no statement at all.

Layers with weights go to `__init__` (constructor) and `build` (their weights' sizes);
constants the graph reads as tensors become weights added in `build` (float initializers
trainable, like any parameter of the source; other constants not). The arrays go to the
model's weights by attribute name (`KerasSource.weights`), never into the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..onnx_common import BUILTINS, GraphWalker, UnsupportedOp, f32, identifier, source_name

SMALL_CONSTANT = 64  # integer/bool constants up to this size are written as literals


def to_cl(rank: int) -> tuple[int, ...]:
    """The permutation NC... -> N...C."""
    return (0, *range(2, rank), 1)


def to_cf(rank: int) -> tuple[int, ...]:
    """The permutation N...C -> NC...."""
    return (0, rank - 1, *range(1, rank - 1))


def keras_axis(axis: int, rank: int, layout: str) -> int:
    """The Keras axis of ONNX axis `axis` for a tensor of `rank` held in `layout`."""
    axis %= rank
    if layout != "cl" or axis == 0:
        return axis
    return rank - 1 if axis == 1 else axis - 1


@dataclass
class Emitter(GraphWalker):
    init_lines: list[str] = field(default_factory=list)
    build_lines: list[str] = field(default_factory=list)
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict)  # attribute -> arrays in Keras order
    _names: set[str] = field(default_factory=lambda: {"self", "keras", "layers", "ops", *BUILTINS})

    # -- layers and weights ------------------------------------------------------------------
    def layer(self, node, fallback: str, constructor: str, build_shape: tuple | None = None,
              arrays: list[np.ndarray] | None = None, weight: str | None = None) -> str:
        """`self.<name> = layers.X(..., name="<name>")` in __init__; built in `build` at
        `build_shape` (the weights' sizes) with `arrays` (in `layer.weights` order)."""
        name = self.layer_name(node, weight, fallback)
        close = constructor.rindex(")")
        sep = "" if constructor[close - 1] == "(" else ", "
        self.init_lines.append(f"self.{name} = {constructor[:close]}{sep}name=\"{name}\")")
        if build_shape is not None:
            self.build_lines.append(f"self.{name}.build({tuple(build_shape)!r})")
        if arrays:
            self.weights[name] = [np.ascontiguousarray(a) for a in arrays]
        return f"self.{name}"

    def constant_weight(self, hint: str, arr: np.ndarray) -> str:
        """A constant the graph reads as a tensor: a weight added in `build`."""
        own = source_name("", hint) if hint in self.initializers else None
        name = self.unique(identifier(own or "c_" + hint.split("/")[-1].split(":")[0]), self.attributes)
        # a parameter of the source (or computed from one, e.g. a position table gathered at fixed ids)
        trainable = (hint in self.initializers or hint in self.derived) and arr.dtype.kind == "f"
        self.build_lines.append(
            f"self.{name} = self.add_weight(shape={tuple(arr.shape)!r}, initializer=\"zeros\", "
            f"dtype=\"{arr.dtype.name}\", trainable={trainable}, name=\"{name}\")"
        )
        self.weights[name] = [arr]
        return f"self.{name}"

    # -- values ------------------------------------------------------------------------------
    def layout(self, name: str) -> str:
        v = self.get(name)
        return v.layout if v.kind == "tensor" else ""

    def literal(self, arr: np.ndarray) -> str | None:
        """A Python literal for a scalar or a small integer/bool constant (else None)."""
        if arr.ndim == 0 and arr.dtype.kind == "f":
            return repr(f32(arr) if arr.dtype == np.float32 else float(arr))
        if arr.dtype.kind in "iub" and arr.size <= SMALL_CONSTANT:
            if arr.ndim == 0:
                return repr(arr.item())
            return f"ops.convert_to_tensor({arr.tolist()!r}, dtype=\"{arr.dtype.name}\")"
        return None

    def tensor(self, name: str, layout: str | None = None) -> str:
        """`name` as an expression in `layout` ("" = ONNX's, "cl" = channels-last; None = as held)."""
        v = self.get(name)
        if v.kind in ("shape", "int"):
            return f"ops.convert_to_tensor({v.expr})"
        if v.kind == "const":
            arr = v.static
            if layout == "cl" and arr.ndim >= 3:
                arr = arr.transpose(to_cl(arr.ndim))
            lit = self.literal(arr)
            if lit is not None:
                return lit
            if layout == "cl" and arr.ndim >= 3:  # a channels-last copy of the constant
                return self.constant_weight(name, np.ascontiguousarray(arr))
            expr = self.constant_weight(name, v.static)
            v.kind, v.expr, v.layout = "tensor", expr, ""
            return expr
        if layout is None or layout == v.layout:
            return v.expr
        if name + "\0" + layout in self.values:  # a value read in both layouts is transposed once
            return self.values[name + "\0" + layout].expr
        rank = self.rank(name)
        if rank is None:
            raise UnsupportedOp(f"the layout of {name!r} cannot change: its rank is unknown")
        perm = to_cl(rank) if layout == "cl" else to_cf(rank)
        out = self.unique(f"{v.expr}_{'nhwc' if layout == 'cl' else 'nchw'}" if rank == 4 else f"{v.expr}_{layout or 'cf'}")
        self.forward_lines.append(f"{out} = ops.transpose({v.expr}, {perm})")
        self.values[name + "\0" + layout] = type(v)(out, "tensor", layout=layout)
        return out

    def operand(self, name: str, layout: str, rank: int) -> str:
        """An operand of an element-wise op in `layout`: a constant of lower rank is broadcast
        as ONNX broadcasts it (aligned at the last axis) to the op's `rank` before its axes are moved."""
        v = self.get(name)
        if v.kind == "const" and layout == "cl":
            arr = v.static
            if arr.size == 1:
                return self.literal(arr.reshape(())) or self.tensor(name)
            arr = arr.reshape((1,) * (rank - arr.ndim) + arr.shape).transpose(to_cl(rank))
            while arr.ndim > 1 and arr.shape[0] == 1:  # leading ones broadcast anyway
                arr = arr[0]
            return self.literal(arr) or self.constant_weight(name, np.ascontiguousarray(arr))
        if v.kind == "const" and v.static.size == 1 and v.static.dtype.kind in "fiu":
            return self.literal(v.static.reshape(()))
        return self.tensor(name, layout)
