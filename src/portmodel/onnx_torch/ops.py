"""ONNX op -> PyTorch source, one converter per op, registered by name.

A converter gets the emitter and the node and either assigns the node's outputs
(`e.assign`) or aliases them (`e.alias`). Weights of Conv/Gemm/MatMul/BatchNorm/
LayerNorm/Embedding/LSTM go to native `nn` modules so the result reads like hand-written
PyTorch and trains like it; anything else with a constant operand gets a buffer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..onnx_common import axes as _axes
from ..onnx_common import bias_add as _bias_add
from ..onnx_common import (
    cast_to,
    clip_bounds,
    constant,
    conv_weights,
    identity,
    pad_widths,
    registrar,
    shape_concat,
    shape_items,
    slice_index,
    slice_params,
    split_sizes,
)
from ..onnx_common import ints as _ints
from ..onnx_common import one as _one
from ..onnx_common import pads as _pads
from ..onnx_common import shape_arithmetic as _shape_arithmetic
from ..onnx_common import transpose_pads as _transpose_pads
from .emitter import Emitter, UnsupportedOp, attrs, torch_dtype

CONVERTERS: dict[str, Callable] = {}
op = registrar(CONVERTERS)
INT64_MAX = 2**63 - 1


# -- element-wise ---------------------------------------------------------------------------

_UNARY = {
    "Relu": "torch.relu({})", "Sigmoid": "torch.sigmoid({})", "Tanh": "torch.tanh({})",
    "Exp": "torch.exp({})", "Log": "torch.log({})", "Sqrt": "torch.sqrt({})", "Neg": "-{}",
    "Abs": "torch.abs({})", "Erf": "torch.erf({})", "Reciprocal": "torch.reciprocal({})",
    "Floor": "torch.floor({})", "Ceil": "torch.ceil({})", "Softplus": "F.softplus({})",
    "Not": "torch.logical_not({})", "Sin": "torch.sin({})", "Cos": "torch.cos({})",
    "HardSwish": "F.hardswish({})", "Sign": "torch.sign({})", "Round": "torch.round({})",
}


@op(*_UNARY)
def unary(e: Emitter, node) -> None:
    """`torch.relu(x)`, `torch.erf(x)`, `F.hardswish(x)`... (one function each)."""
    e.assign(list(node.output), _UNARY[node.op_type].format(e.tensor(node.input[0])))


_BINARY = {
    "Add": "{} + {}", "Sub": "{} - {}", "Mul": "{} * {}", "Div": "{} / {}", "Pow": "{} ** {}",
    "Equal": "{} == {}", "Less": "{} < {}", "Greater": "{} > {}", "LessOrEqual": "{} <= {}",
    "GreaterOrEqual": "{} >= {}", "And": "{} & {}", "Or": "{} | {}",
}


@op(*_BINARY)
def binary(e: Emitter, node) -> None:
    """Python operators (`a + b`, `a < b`...); integer `Div` truncates; shape arithmetic in ints."""
    a, b = node.input[:2]
    if all(e.get(n).kind in ("int", "shape") or e.static(n) is not None for n in (a, b)):
        _shape_arithmetic(e, node)
        return
    x, y = e.operand(a), e.operand(b)
    if not (e.get(a).kind == "tensor" or e.get(b).kind == "tensor"):
        x = e.tensor(a)
    if node.op_type == "Div" and _is_int(e, a):
        e.assign(list(node.output), f"torch.div({x}, {y}, rounding_mode='trunc')")
        return
    e.assign(list(node.output), _BINARY[node.op_type].format(_paren(x), _paren(y)))


def _is_int(e: Emitter, name: str) -> bool:
    dtype = e.dtype(name)
    return dtype is not None and dtype.kind in "iu"


def _paren(expr: str) -> str:
    return f"({expr})" if " " in expr and not expr.startswith(("torch.", "F.", "self.")) else expr


_VARIADIC = {"Min": "torch.minimum", "Max": "torch.maximum", "Sum": "torch.add"}


@op(*_VARIADIC, "Mean")
def variadic(e: Emitter, node) -> None:
    """Element-wise over any number of inputs, with broadcasting."""
    if node.op_type in ("Min", "Max") and len(node.input) == 2 and all(_is_shape_like(e, n) for n in node.input):
        a, b = (_dims(e, n) for n in node.input)
        fn = node.op_type.lower()
        e.assign(list(node.output), f"[{fn}(p, q) for p, q in zip({a}, {b})]", "shape")
        return
    fn = _VARIADIC.get(node.op_type, "torch.add")
    args = [e.tensor(n) for n in node.input]
    expr = args[0]
    for arg in args[1:]:
        expr = f"{fn}({expr}, {arg})"
    if node.op_type == "Mean":
        expr = f"{expr} / {len(args)}"
    e.assign(list(node.output), expr)


@op("LeakyRelu")
def leaky_relu(e: Emitter, node) -> None:
    """`F.leaky_relu(x, negative_slope=alpha)`."""
    alpha = attrs(node).get("alpha", 0.01)
    e.assign(list(node.output), f"F.leaky_relu({e.tensor(node.input[0])}, negative_slope={alpha!r})")


@op("Elu")
def elu(e: Emitter, node) -> None:
    """`F.elu(x, alpha=alpha)`."""
    alpha = attrs(node).get("alpha", 1.0)
    e.assign(list(node.output), f"F.elu({e.tensor(node.input[0])}, alpha={alpha!r})")


@op("HardSigmoid")
def hard_sigmoid(e: Emitter, node) -> None:  # ONNX's alpha/beta default to 0.2/0.5, torch's to 1/6, 1/2
    """`torch.clamp(alpha * x + beta, 0, 1)` (ONNX's defaults differ from torch's)."""
    a = attrs(node)
    x = e.tensor(node.input[0])
    e.assign(list(node.output), f"torch.clamp({a.get('alpha', 0.2)!r} * {x} + {a.get('beta', 0.5)!r}, 0.0, 1.0)")


@op("Gelu")
def gelu(e: Emitter, node) -> None:
    """`F.gelu(x, approximate=...)`."""
    approximate = attrs(node).get("approximate", "none")
    e.assign(list(node.output), f"F.gelu({e.tensor(node.input[0])}, approximate={approximate!r})")


@op("Clip")
def clip(e: Emitter, node) -> None:
    """`torch.clamp(x, min, max)`."""
    lo, hi = clip_bounds(e, node)
    e.assign(list(node.output), f"torch.clamp({e.tensor(node.input[0])}, min={lo!r}, max={hi!r})")


@op("Where")
def where(e: Emitter, node) -> None:
    """`torch.where(c, x, y)`."""
    c, x, y = (e.tensor(n) for n in node.input)
    e.assign(list(node.output), f"torch.where({c}, {x}, {y})")


@op("Softmax", "LogSoftmax")
def softmax(e: Emitter, node) -> None:
    """`torch.softmax` / `torch.log_softmax` over the axis."""
    default = -1 if e.opset >= 13 else 1
    axis = attrs(node).get("axis", default)
    if e.opset < 13 and axis != -1 and axis != (e.rank(node.input[0]) or 0) - 1:
        raise UnsupportedOp(f"{node.op_type} before opset 13 over several axes is not supported", node.name)
    fn = "torch.softmax" if node.op_type == "Softmax" else "torch.log_softmax"
    e.assign(list(node.output), f"{fn}({e.tensor(node.input[0])}, dim={axis})")


# -- layers with weights ----------------------------------------------------------------------


def _torch_pad(pads: list[int]) -> tuple:
    """ONNX (b1, b2, ..., e1, e2, ...) -> F.pad's (last axis first) (b_n, e_n, ..., b_1, e_1)."""
    nd = len(pads) // 2
    out = []
    for i in reversed(range(nd)):
        out += [pads[i], pads[nd + i]]
    return tuple(out)


def _spatial(e: Emitter, node, a: dict, kernel, pad_value: float = 0.0) -> tuple[str, object]:
    """(input expression, padding argument): symmetric pads go to the layer, others to F.pad."""
    nd = len(kernel)
    strides = list(a.get("strides", [1] * nd))
    dilations = list(a.get("dilations", [1] * nd))
    pads = _pads(e, node, a, kernel, strides, dilations)
    x = e.tensor(node.input[0])
    if pads[:nd] == pads[nd:] and all(p <= k // 2 for p, k in zip(pads[:nd], kernel)):
        return x, _one(tuple(pads[:nd]))
    value = "" if pad_value == 0.0 else f", value={pad_value!r}"
    return f"F.pad({x}, {_torch_pad(pads)}{value})", 0


@op("Conv")
def conv(e: Emitter, node) -> None:
    """`nn.Conv1d/2d/3d` with the kernel; asymmetric or 'SAME' padding as `F.pad` first."""
    a, w, b, nd, groups, kernel = conv_weights(e, node)
    x, padding = _spatial(e, node, a, kernel)
    args = [f"{w.shape[1] * groups}", f"{w.shape[0]}", f"kernel_size={_one(kernel)}"]
    if set(a.get("strides", [1])) != {1}:
        args.append(f"stride={_one(_ints(a['strides']))}")
    if padding != 0:
        args.append(f"padding={padding}")
    if set(a.get("dilations", [1])) != {1}:
        args.append(f"dilation={_one(_ints(a['dilations']))}")
    if groups != 1:
        args.append(f"groups={groups}")
    if b is None:
        args.append("bias=False")
    mod = e.module(node, "conv", f"nn.Conv{nd}d({', '.join(args)})", {"weight": w, "bias": b},
                   weight=node.input[1])
    e.assign(list(node.output), f"{mod}({x})")


@op("ConvTranspose")
def conv_transpose(e: Emitter, node) -> None:
    """`nn.ConvTranspose1d/2d/3d`; pads torch cannot express (asymmetric, or from auto_pad /
    output_shape) become a crop of the output."""
    a, w, b, nd, groups, kernel = conv_weights(e, node)
    strides = _ints(a.get("strides", [1] * nd))
    dilations = _ints(a.get("dilations", [1] * nd))
    extra = list(_ints(a.get("output_padding", [0] * nd)))
    pads = _transpose_pads(e, node, a, kernel, strides, dilations, extra)
    begin, end = pads[:nd], pads[nd:]
    common = [min(p, q) for p, q in zip(begin, end)]
    args = [f"{w.shape[0]}", f"{w.shape[1] * groups}", f"kernel_size={_one(kernel)}"]
    if set(strides) != {1}:
        args.append(f"stride={_one(strides)}")
    if any(common):
        args.append(f"padding={_one(tuple(common))}")
    # torch pads both sides alike; output_padding adds to the end: what remains is cropped
    crop_end = [q - c - x for q, c, x in zip(end, common, extra)]
    output_padding = [max(-c, 0) for c in crop_end]
    crop_end = [max(c, 0) for c in crop_end]
    if any(output_padding):
        if any(x >= max(s, d) for x, s, d in zip(output_padding, strides, dilations)):
            raise UnsupportedOp(f"ConvTranspose pads {pads} with output_padding {extra} are not supported", node.name)
        args.append(f"output_padding={_one(tuple(output_padding))}")
    if groups != 1:
        args.append(f"groups={groups}")
    if b is None:
        args.append("bias=False")
    if set(dilations) != {1}:
        args.append(f"dilation={_one(dilations)}")
    mod = e.module(node, "conv_transpose", f"nn.ConvTranspose{nd}d({', '.join(args)})", {"weight": w, "bias": b},
                   weight=node.input[1])
    expr = f"{mod}({e.tensor(node.input[0])})"
    crop_begin = [p - c for p, c in zip(begin, common)]
    if any(crop_begin) or any(crop_end):
        index = ", ".join([":", ":"] + [f"{cb or ''}:{-ce if ce else ''}" for cb, ce in zip(crop_begin, crop_end)])
        expr = f"{expr}[{index}]"
    e.assign(list(node.output), expr)


@op("Gemm")
def gemm(e: Emitter, node) -> None:
    """`nn.Linear` (alpha/beta folded into the weights), else `alpha * (a @ b) + beta * c`."""
    a = attrs(node)
    w = e.static(node.input[1])
    c = e.static(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
    x = e.tensor(node.input[0])
    if a.get("transA", 0):
        x = f"{x}.t()"
    if w is not None and (len(node.input) < 3 or not node.input[2] or c is not None):
        weight = (w if a.get("transB", 0) else w.T) * np.asarray(alpha, w.dtype)
        bias = None if c is None else np.broadcast_to(c * np.asarray(beta, c.dtype), (weight.shape[0],)).copy()
        args = f"{weight.shape[1]}, {weight.shape[0]}" + ("" if bias is not None else ", bias=False")
        mod = e.module(node, "linear", f"nn.Linear({args})", {"weight": np.ascontiguousarray(weight), "bias": bias},
                       weight=tuple(node.input[1:3]))
        e.assign(list(node.output), f"{mod}({x})")
        return
    y = e.tensor(node.input[1]) + (".t()" if a.get("transB", 0) else "")
    expr = f"{alpha!r} * ({x} @ {y})"
    if len(node.input) > 2 and node.input[2]:
        expr += f" + {beta!r} * {e.tensor(node.input[2])}"
    e.assign(list(node.output), expr)


@op("MatMul")
def matmul(e: Emitter, node) -> None:
    """`nn.Linear(bias=False)` for a constant 2-D weight, else `a @ b`."""
    w = e.static(node.input[1])
    x = e.tensor(node.input[0])
    if w is not None and w.ndim == 2 and w.dtype.kind == "f":
        add, bias = _bias_add(e, node.output[0], w.shape[1])
        args = f"{w.shape[0]}, {w.shape[1]}" + ("" if add else ", bias=False")
        names = (node.input[1], *(i for i in add.input if i != node.output[0])) if add else node.input[1]
        mod = e.module(node, "linear", f"nn.Linear({args})", {"weight": np.ascontiguousarray(w.T), "bias": bias},
                       weight=names)
        e.assign(list(add.output if add else node.output), f"{mod}({x})")
        return
    e.assign(list(node.output), f"{x} @ {e.tensor(node.input[1])}")


@op("Einsum")
def einsum(e: Emitter, node) -> None:
    """`torch.einsum(equation, ...)`."""
    eq = attrs(node)["equation"]
    args = ", ".join(e.tensor(n) for n in node.input)
    e.assign(list(node.output), f"torch.einsum({eq!r}, {args})")


@op("BatchNormalization")
def batch_norm(e: Emitter, node) -> None:
    """`nn.BatchNorm1d/2d/3d` with its statistics (momentum = 1 - ONNX momentum)."""
    a = attrs(node)
    if a.get("training_mode", 0):
        raise UnsupportedOp("BatchNormalization in training mode is not supported", node.name)
    scale, bias, mean, var = (e.static(n) for n in node.input[1:5])
    if any(v is None for v in (scale, bias, mean, var)):
        raise UnsupportedOp("BatchNormalization with computed statistics is not supported", node.name)
    rank = e.rank(node.input[0])
    nd = {2: 1, 3: 1, 4: 2, 5: 3}.get(rank)
    if nd is None:
        raise UnsupportedOp("BatchNormalization of an input of unknown rank", node.name)
    eps, momentum = a.get("epsilon", 1e-5), 1.0 - a.get("momentum", 0.9)
    weights = {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var,
               "num_batches_tracked": np.zeros((), np.int64)}
    mod = e.module(node, "bn", f"nn.BatchNorm{nd}d({scale.shape[0]}, eps={eps!r}, momentum={momentum:.6g})", weights,
                   weight=node.input[1])
    e.assign(list(node.output)[:1], f"{mod}({e.tensor(node.input[0])})")


@op("LayerNormalization")
def layer_norm(e: Emitter, node) -> None:
    """`nn.LayerNorm(normalized_shape, eps)`."""
    a = attrs(node)
    scale = e.static(node.input[1])
    bias = e.static(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    rank = e.rank(node.input[0])
    axis = a.get("axis", -1)
    if scale is None or rank is None:
        raise UnsupportedOp("LayerNormalization with a computed scale or unknown rank", node.name)
    shape = e.shape(node.input[0])[axis % rank:]
    if None in shape:
        raise UnsupportedOp("LayerNormalization over dynamic axes is not supported", node.name)
    weights = {"weight": np.broadcast_to(scale, shape).copy(),
               "bias": None if bias is None else np.broadcast_to(bias, shape).copy()}
    args = f"{_one(_ints(shape)) if len(shape) == 1 else _ints(shape)}, eps={a.get('epsilon', 1e-5)!r}"
    if bias is None:
        args += ", bias=False"
    mod = e.module(node, "layer_norm", f"nn.LayerNorm({args})", weights, weight=node.input[1])
    e.assign(list(node.output)[:1], f"{mod}({e.tensor(node.input[0])})")


@op("Gather")
def gather(e: Emitter, node) -> None:
    """`nn.Embedding` for a constant table, `x.select` / `torch.index_select`, or shape items."""
    axis = attrs(node).get("axis", 0)
    data, idx = node.input[:2]
    table, index = e.static(data), e.static(idx)
    if shape_items(e, node):
        return
    if table is not None and axis == 0 and table.ndim == 2 and table.dtype.kind == "f" and index is None:
        mod = e.module(node, "embedding", f"nn.Embedding({table.shape[0]}, {table.shape[1]})", {"weight": table},
                       weight=data)
        e.assign(list(node.output), f"{mod}({e.tensor(idx)})")
        return
    x = e.tensor(data)
    if index is not None and index.ndim == 0:
        e.assign(list(node.output), f"{x}.select({axis}, {int(index)})")
        return
    ids = e.tensor(idx)
    if axis < 0:
        rank = e.rank(data)
        if rank is None:
            raise UnsupportedOp("Gather on a negative axis of an input of unknown rank", node.name)
        axis += rank
    e.assign(list(node.output), f"torch.index_select({x}, {axis}, {ids}.reshape(-1)).reshape("
             f"*{x}.shape[:{axis}], *{ids}.shape, *{x}.shape[{axis} + 1:])")


# -- pooling --------------------------------------------------------------------------------


@op("MaxPool", "AveragePool")
def pool(e: Emitter, node) -> None:
    """`nn.MaxPool*/AvgPool*d` (ceil_mode, count_include_pad); asymmetric pads as `F.pad` (-inf for max)."""
    a = attrs(node)
    kernel = _ints(a["kernel_shape"])
    nd = len(kernel)
    is_max = node.op_type == "MaxPool"
    if len(node.output) > 1 and node.output[1]:
        raise UnsupportedOp("MaxPool with indices is not supported", node.name)
    x, padding = _spatial(e, node, a, kernel, pad_value=float("-inf") if is_max else 0.0)
    if not is_max and padding == 0 and x.startswith("F.pad(") and not a.get("count_include_pad", 0):
        raise UnsupportedOp("AveragePool with asymmetric padding that excludes the pad is not supported", node.name)
    args = [f"kernel_size={_one(kernel)}", f"stride={_one(_ints(a.get('strides', [1] * nd)))}"]
    if padding != 0:
        args.append(f"padding={padding}")
    if a.get("ceil_mode", 0):
        args.append("ceil_mode=True")
    if is_max and set(a.get("dilations", [1])) != {1}:
        args.append(f"dilation={_one(_ints(a['dilations']))}")
    if not is_max and padding != 0 and not a.get("count_include_pad", 0):
        args.append("count_include_pad=False")
    cls = f"nn.{'MaxPool' if is_max else 'AvgPool'}{nd}d"
    mod = e.module(node, "pool", f"{cls}({', '.join(args)})", {})
    e.assign(list(node.output)[:1], f"{mod}({x})")


@op("GlobalAveragePool", "GlobalMaxPool")
def global_pool(e: Emitter, node) -> None:
    """`torch.mean` / `torch.amax` over the spatial axes, keepdim."""
    rank = e.rank(node.input[0])
    dims = tuple(range(2, rank)) if rank else None
    x = e.tensor(node.input[0])
    fn = "torch.mean" if node.op_type == "GlobalAveragePool" else "torch.amax"
    dim = repr(dims) if dims else f"tuple(range(2, {x}.dim()))"
    e.assign(list(node.output), f"{fn}({x}, dim={dim}, keepdim=True)")


# -- shapes and layout ------------------------------------------------------------------------


op("Identity", "Dropout")(identity)
op("Constant")(constant)


@op("Shape")
def shape(e: Emitter, node) -> None:
    """`list(x.shape)`: a Python list, so the batch stays dynamic."""
    a = attrs(node)
    start, end = a.get("start"), a.get("end")
    x = e.tensor(node.input[0])
    start = None if start == 0 else start
    part = "" if start is None and end is None else f"[{'' if start is None else start}:{'' if end is None else end}]"
    e.assign(list(node.output), f"list({x}.shape){part}", "shape")


@op("Cast")
def cast(e: Emitter, node) -> None:
    """`x.to(dtype)`; shape values stay ints."""
    to = cast_to(e, node)
    if to is None:
        return
    e.assign(list(node.output), f"{e.tensor(node.input[0])}.to({torch_dtype(to)})")


def _dims(e: Emitter, name: str) -> str:
    """A reshape target: a shape value, or a constant with ONNX's 0 (= keep) resolved."""
    v = e.get(name)
    if v.kind == "shape":
        return v.expr
    arr = e.static(name)
    if arr is None:
        return f"{e.tensor(name)}.tolist()"
    return repr(arr.reshape(-1).tolist())


@op("Reshape")
def reshape(e: Emitter, node) -> None:
    """`x.reshape(...)` with ONNX's 0 (= keep) resolved."""
    v = e.get(node.input[0])
    target = e.static(node.input[1])
    if v.kind == "shape" and target is not None and target.size == 1:  # a shape list stays one
        e.alias(node.output[0], node.input[0])
        return
    x = e.tensor(node.input[0])
    arr = e.static(node.input[1])
    if arr is not None and not (attrs(node).get("allowzero", 0) and 0 in arr):
        dims = [f"{x}.shape[{i}]" if d == 0 else str(int(d)) for i, d in enumerate(arr.reshape(-1))]
        target = ", ".join(dims)
    else:
        target = "*" + _dims(e, node.input[1])
    e.assign(list(node.output), f"{x}.reshape({target})")


@op("Flatten")
def flatten(e: Emitter, node) -> None:
    """`torch.flatten(x, 1)` or a reshape to 2-D."""
    axis = attrs(node).get("axis", 1)
    x = e.tensor(node.input[0])
    expr = f"torch.flatten({x}, 1)" if axis == 1 else f"{x}.reshape(math.prod({x}.shape[:{axis}]), -1)"
    e.assign(list(node.output), expr)


@op("Transpose")
def transpose(e: Emitter, node) -> None:
    """`x.permute(...)`."""
    perm = attrs(node).get("perm")
    x = e.tensor(node.input[0])
    if perm is None:
        e.assign(list(node.output), f"{x}.permute(*reversed(range({x}.dim())))")
    else:
        e.assign(list(node.output), f"{x}.permute{_ints(perm)}")


@op("Squeeze", "Unsqueeze")
def squeeze(e: Emitter, node) -> None:
    """`x.squeeze(axes)` / `x.unsqueeze(axis)`."""
    axes = _axes(e, node, attrs(node))
    v = e.get(node.input[0])
    if node.op_type == "Unsqueeze" and v.kind == "int" and axes == (0,):
        e.assign(list(node.output), f"[{v.expr}]", "shape")
        return
    x = e.tensor(node.input[0])
    if node.op_type == "Squeeze":
        arg = "" if axes is None else str(axes[0]) if len(axes) == 1 else repr(axes)
        e.assign(list(node.output), f"{x}.squeeze({arg})")
        return
    rank = (e.rank(node.input[0]) or 0) + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = f"{x}.unsqueeze({axis})"
    e.assign(list(node.output), x)


@op("Concat")
def concat(e: Emitter, node) -> None:
    """`torch.cat([...], dim)`, or a Python list for shape values."""
    axis = attrs(node)["axis"]
    if shape_concat(e, node, lambda n: f"*{_dims(e, n)}"):
        return
    e.assign(list(node.output), f"torch.cat([{', '.join(e.tensor(n) for n in node.input)}], dim={axis})")


@op("Split")
def split(e: Emitter, node) -> None:
    """`torch.split(x, sizes, dim)`."""
    axis = attrs(node).get("axis", 0)
    sizes = split_sizes(e, node)
    x = e.tensor(node.input[0])
    if sizes is None:
        dim = (e.shape(node.input[0]) or [None] * (axis + 1))[axis]
        if dim is None:
            raise UnsupportedOp("Split of a dynamic axis into equal parts is not supported", node.name)
        n = len(node.output)
        sizes = [math.ceil(dim / n)] * (n - 1) + [dim - math.ceil(dim / n) * (n - 1)]
    e.assign(list(node.output), f"torch.split({x}, {list(_ints(sizes))}, dim={axis})")


@op("Slice")
def slice_(e: Emitter, node) -> None:
    """`x[a:b, ...]` indexing (constant or shape-valued bounds, positive steps)."""
    starts, ends, sel, steps, rank = slice_params(e, node)
    index = slice_index(starts, ends, sel, steps, rank)
    v = e.get(node.input[0])
    if v.kind == "shape":
        e.assign(list(node.output), f"{v.expr}[{index[0] if index else ':'}]", "shape")
        return
    e.assign(list(node.output), f"{e.tensor(node.input[0])}[{', '.join(index) or ':'}]")


@op("Expand")
def expand(e: Emitter, node) -> None:  # ONNX broadcasts both ways: multiply by ones of the target shape
    """`torch.full` for a scalar, else `x * torch.ones(shape)` (ONNX broadcasts both ways)."""
    arr = e.static(node.input[0])
    if arr is not None and arr.size == 1:
        value, dtype = arr.reshape(-1)[0].item(), torch_dtype(arr.dtype)
        e.assign(list(node.output), f"torch.full({_dims(e, node.input[1])}, {value!r}, dtype={dtype})")
        return
    x = e.tensor(node.input[0])
    e.assign(list(node.output), f"{x} * torch.ones({_dims(e, node.input[1])}, dtype={x}.dtype, device={x}.device)")


@op("Tile")
def tile(e: Emitter, node) -> None:
    """`torch.tile(x, repeats)`."""
    e.assign(list(node.output), f"torch.tile({e.tensor(node.input[0])}, {tuple(_dims_list(e, node.input[1]))})")


def _dims_list(e: Emitter, name: str) -> list:
    arr = e.static(name)
    if arr is None:
        raise UnsupportedOp("a computed repeat count is not supported", name)
    return arr.reshape(-1).tolist()


@op("ConstantOfShape")
def constant_of_shape(e: Emitter, node) -> None:
    """`torch.full(shape, value)`."""
    from onnx import numpy_helper

    value = attrs(node).get("value")
    arr = numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
    e.assign(list(node.output), f"torch.full({_dims(e, node.input[0])}, {arr.reshape(-1)[0].item()!r}, dtype={torch_dtype(arr.dtype)})")


@op("Pad")
def pad(e: Emitter, node) -> None:
    """`F.pad(x, pads, mode)` (constant, reflect, edge -> replicate)."""
    pads, value, mode = pad_widths(e, node)
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}[mode]
    nd = len(pads) // 2
    while nd and pads[0] == 0 and pads[nd] == 0 and mode == "constant":  # leading axes unpadded
        pads = pads[1:nd] + pads[nd + 1 :]
        nd -= 1
    args = f"{e.tensor(node.input[0])}, {_torch_pad(list(pads))}" + (f", mode={mode!r}" if mode != "constant" else "")
    if value:
        args += f", value={value!r}"
    e.assign(list(node.output), f"F.pad({args})")


_REDUCE = {"ReduceMean": "torch.mean", "ReduceSum": "torch.sum", "ReduceMax": "torch.amax",
           "ReduceMin": "torch.amin", "ReduceProd": "torch.prod", "ReduceL2": "torch.linalg.vector_norm"}


def _is_shape_like(e: Emitter, name: str) -> bool:
    return e.get(name).kind == "shape" or (e.static(name) is not None and e.static(name).dtype.kind in "iu")


@op(*_REDUCE)
def reduce(e: Emitter, node) -> None:
    """`torch.mean/sum/amax/amin/prod/linalg.vector_norm(x, dim, keepdim)`."""
    a = attrs(node)
    axes = _axes(e, node, a)
    keep = bool(a.get("keepdims", 1))
    if e.get(node.input[0]).kind == "shape" and node.op_type in ("ReduceProd", "ReduceSum", "ReduceMax"):
        fn = {"ReduceProd": "math.prod", "ReduceSum": "sum", "ReduceMax": "max"}[node.op_type]
        expr = f"{fn}({e.get(node.input[0]).expr})"
        e.assign(list(node.output), f"[{expr}]" if keep else expr, "shape" if keep else "int")
        return
    x = e.tensor(node.input[0])
    if axes is None:
        if a.get("noop_with_empty_axes", 0):
            e.alias(node.output[0], node.input[0])
            return
        rank = e.rank(node.input[0])
        axes = tuple(range(rank)) if rank else None
    fn = _REDUCE[node.op_type]
    if node.op_type == "ReduceProd":
        if len(axes) != 1:
            raise UnsupportedOp("ReduceProd over several axes is not supported", node.name)
        axes = axes[0]
    e.assign(list(node.output), f"{fn}({x}, dim={axes!r}, keepdim={keep})")


@op("ArgMax", "ArgMin")
def argmax(e: Emitter, node) -> None:
    """`torch.argmax` / `torch.argmin`."""
    a = attrs(node)
    fn = "torch.argmax" if node.op_type == "ArgMax" else "torch.argmin"
    e.assign(list(node.output), f"{fn}({e.tensor(node.input[0])}, dim={a.get('axis', 0)}, keepdim={bool(a.get('keepdims', 1))})")


# ONNX op -> (torch module, gates, torch's gate order in ONNX's gate blocks, default activations)
_RNNS = {
    "LSTM": ("LSTM", 4, (0, 2, 3, 1), ["sigmoid", "tanh", "tanh"]),  # ONNX i, o, f, c -> torch i, f, g, o
    "GRU": ("GRU", 3, (1, 0, 2), ["sigmoid", "tanh"]),  # ONNX z, r, h -> torch r, z, n
}


@op("LSTM", "GRU")
def recurrent(e: Emitter, node) -> None:
    """`nn.LSTM` / `nn.GRU` with the gate blocks reordered; ONNX has both biases in B. A GRU
    must apply its recurrent weights before the reset gate (linear_before_reset=1), as torch's."""
    a = attrs(node)
    kind, gates, blocks, default_acts = _RNNS[node.op_type]
    w, r = e.static(node.input[1]), e.static(node.input[2])
    b = e.static(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    if w is None or r is None or (len(node.input) > 3 and node.input[3] and b is None):
        raise UnsupportedOp(f"{kind} with computed weights is not supported", node.name)
    if a.get("layout", 0) or a.get("clip") or a.get("input_forget", 0):
        raise UnsupportedOp(f"{kind} with layout=1, clip or input_forget is not supported", node.name)
    if kind == "GRU" and not a.get("linear_before_reset", 0):
        raise UnsupportedOp("GRU with linear_before_reset=0 (Keras' reset_after=False) has no torch form", node.name)
    acts = [s.decode() if isinstance(s, bytes) else s for s in a.get("activations", [])]
    if acts and any(x.lower() != y for x, y in zip(acts, default_acts * 2)):
        raise UnsupportedOp(f"{kind} with activations {acts} is not supported", node.name)
    if len(node.input) > 4 and node.input[4]:
        raise UnsupportedOp(f"{kind} with sequence_lens is not supported", node.name)
    if len(node.input) > 7 and node.input[7]:
        raise UnsupportedOp("LSTM with peepholes is not supported", node.name)
    dirs, hidden = w.shape[0], a["hidden_size"]
    if dirs == 1 and a.get("direction", "forward") == "reverse":
        raise UnsupportedOp(f"a reverse-only {kind} is not supported", node.name)
    order = np.concatenate([np.arange(k * hidden, (k + 1) * hidden) for k in blocks])
    weights = {}
    for d in range(dirs):
        sfx = "_reverse" if d == 1 else ""
        weights[f"weight_ih_l0{sfx}"] = w[d][order]
        weights[f"weight_hh_l0{sfx}"] = r[d][order]
        bias = b[d] if b is not None else np.zeros(2 * gates * hidden, w.dtype)
        weights[f"bias_ih_l0{sfx}"] = bias[: gates * hidden][order]
        weights[f"bias_hh_l0{sfx}"] = bias[gates * hidden :][order]
    extra = ", bidirectional=True" if dirs == 2 else ""
    mod = e.module(node, kind.lower(), f"nn.{kind}({w.shape[2]}, {hidden}{extra})", weights, weight=node.input[1])
    x = e.tensor(node.input[0])
    initial = [node.input[i] if len(node.input) > i else "" for i in ((5, 6) if kind == "LSTM" else (5,))]
    zeros = f"torch.zeros({dirs}, {x}.shape[1], {hidden})"
    states = [e.tensor(name) if name else zeros for name in initial]
    state = "" if not any(initial) else f", ({', '.join(states)})" if kind == "LSTM" else f", {states[0]}"
    outs = list(node.output) + [""] * (3 - len(node.output))
    y = e.fresh(f"{kind.lower()}_y") if e.used(outs[0]) else "_"
    last = e.fresh(f"{kind.lower()}_state") if e.used(outs[1]) or e.used(outs[2]) else "_"
    e.forward_lines.append(f"{y}, {last} = {mod}({x}{state})")
    if outs[0]:  # ONNX Y: (seq, num_directions, batch, hidden)
        e.assign([outs[0]], f"{y}.reshape({y}.shape[0], {y}.shape[1], {dirs}, {hidden}).permute(0, 2, 1, 3)")
    if outs[1]:
        e.assign([outs[1]], f"{last}[0]" if kind == "LSTM" else last)
    if outs[2]:
        e.assign([outs[2]], f"{last}[1]")


_INTERPOLATE = {3: "linear", 4: "bilinear", 5: "trilinear"}


@op("Resize")
def resize(e: Emitter, node) -> None:
    """Nearest (asymmetric, floor: torch's 'nearest') and (bi/tri)linear or cubic resizing."""
    a = attrs(node)
    mode = a.get("mode", "nearest")
    coord = a.get("coordinate_transformation_mode", "half_pixel")
    rank = e.rank(node.input[0])
    if a.get("antialias", 0) or rank is None:
        raise UnsupportedOp("Resize with antialias or an input of unknown rank is not supported", node.name)
    if mode == "nearest":
        if coord != "asymmetric" or a.get("nearest_mode", "round_prefer_floor") != "floor":
            raise UnsupportedOp(f"nearest Resize with {coord}/{a.get('nearest_mode')} is not supported", node.name)
        kind = "'nearest'"
    else:
        if coord not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
            raise UnsupportedOp(f"{mode} Resize with {coord} coordinates is not supported", node.name)
        if mode == "cubic" and (rank != 4 or a.get("cubic_coeff_a", -0.75) != -0.75):
            raise UnsupportedOp("cubic Resize other than torch's bicubic is not supported", node.name)
        kind = "'bicubic'" if mode == "cubic" else repr(_INTERPOLATE[rank])
        kind += f", align_corners={coord == 'align_corners'}"
    scales = e.static(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    x = e.tensor(node.input[0])
    if scales is not None and scales.size:
        if list(scales[:2]) != [1, 1]:
            raise UnsupportedOp("Resize of the batch or channel axis is not supported", node.name)
        size = f"scale_factor={_one(tuple(float(v) for v in scales[2:]))}"
    elif len(node.input) > 3 and node.input[3]:
        size = f"size={_dims(e, node.input[3])}[2:]"
        if e.static(node.input[3]) is not None:
            size = f"size={_one(_ints(e.static(node.input[3])[2:]))}"
    else:
        raise UnsupportedOp("Resize without scales or sizes", node.name)
    e.assign(list(node.output), f"F.interpolate({x}, {size}, mode={kind})")
