"""ONNX op -> Keras 3 source, one converter per op, registered by name.

A converter gets the emitter and the node and assigns the node's outputs (`e.assign`,
with the layout the Keras tensor is held in) or aliases them. Weights go to native Keras
layers (Conv2D, DepthwiseConv2D, Dense, BatchNormalization, LayerNormalization,
Embedding) with their arrays in Keras' order: conv kernels OIHW -> HWIO, dense (out, in)
-> (in, out). Layers that work channels-last take their input channels-last.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..onnx_common import (
    UnsupportedOp,
    attrs,
    axes,
    bias_add,
    cast_to,
    clip_bounds,
    constant,
    conv_weights,
    f32,
    identity,
    ints,
    one,
    pad_widths,
    pads,
    registrar,
    shape_arithmetic,
    shape_concat,
    shape_items,
    slice_index,
    slice_params,
    split_sizes,
    transpose_pads,
)
from .emitter import Emitter, keras_axis, to_cf, to_cl

CONVERTERS: dict[str, Callable] = {}
op = registrar(CONVERTERS)


def _out(node) -> list[str]:
    return list(node.output)


# -- element-wise ---------------------------------------------------------------------------

_LAYERS = {  # activations that are Keras layers
    "Relu": ("relu", "layers.ReLU()"), "Sigmoid": ("sigmoid", 'layers.Activation("sigmoid")'),
    "Tanh": ("tanh", 'layers.Activation("tanh")'), "HardSwish": ("hard_swish", 'layers.Activation("hard_swish")'),
    "Softplus": ("softplus", 'layers.Activation("softplus")'),
}
_UNARY = {
    "Exp": "ops.exp({})", "Log": "ops.log({})", "Sqrt": "ops.sqrt({})", "Neg": "-{}", "Abs": "ops.abs({})",
    "Erf": "ops.erf({})", "Reciprocal": "1.0 / {}", "Floor": "ops.floor({})", "Ceil": "ops.ceil({})",
    "Not": "ops.logical_not({})", "Sin": "ops.sin({})", "Cos": "ops.cos({})", "Sign": "ops.sign({})",
    "Round": "ops.round({})",
}


@op(*_LAYERS)
def activation(e: Emitter, node) -> None:
    """`layers.ReLU()`, `layers.Activation("sigmoid")`... (any layout)."""
    fallback, ctor = _LAYERS[node.op_type]
    layer = e.layer(node, fallback, ctor)
    e.assign(_out(node), f"{layer}({e.tensor(node.input[0])})", layout=e.layout(node.input[0]))


@op(*_UNARY)
def unary(e: Emitter, node) -> None:
    """`ops.exp(x)`, `ops.erf(x)`... (any layout)."""
    e.assign(_out(node), _UNARY[node.op_type].format(e.tensor(node.input[0])), layout=e.layout(node.input[0]))


_BINARY = {
    "Add": "{} + {}", "Sub": "{} - {}", "Mul": "{} * {}", "Div": "{} / {}", "Pow": "ops.power({}, {})",
    "Equal": "ops.equal({}, {})", "Less": "ops.less({}, {})", "Greater": "ops.greater({}, {})",
    "LessOrEqual": "ops.less_equal({}, {})", "GreaterOrEqual": "ops.greater_equal({}, {})",
    "And": "ops.logical_and({}, {})", "Or": "ops.logical_or({}, {})",
}


def _common_layout(e: Emitter, node, names) -> str:
    """"cl" when a tensor operand is held channels-last and every tensor operand has the
    output's rank (the others are moved to it); else the ONNX layout."""
    tensors = [n for n in names if n and e.get(n).kind == "tensor"]
    rank = e.rank(node.output[0])
    if rank is None or not any(e.layout(n) == "cl" for n in tensors):
        return ""
    if all(e.rank(n) == rank for n in tensors):
        return "cl"
    return ""


def _paren(expr: str) -> str:
    return f"({expr})" if " " in expr and not expr.startswith(("ops.", "self.", "layers.")) else expr


@op(*_BINARY)
def binary(e: Emitter, node) -> None:
    """Python operators (`a + b`) and `ops.power/equal/less...`; integer `Div` floors; shape
    arithmetic in ints; operands moved to the layout they share."""
    a, b = node.input[:2]
    if all(e.get(n).kind in ("int", "shape") or e.static(n) is not None for n in (a, b)):
        shape_arithmetic(e, node)
        return
    layout, rank = _common_layout(e, node, (a, b)), e.rank(node.output[0]) or 0
    x, y = e.operand(a, layout, rank), e.operand(b, layout, rank)
    if e.get(a).kind != "tensor" and e.get(b).kind != "tensor":
        x = e.tensor(a, layout)
    if node.op_type == "Div" and (e.dtype(a) is not None and e.dtype(a).kind in "iu"):
        e.assign(_out(node), f"ops.floor_divide({x}, {y})", layout=layout)
        return
    if node.op_type in ("Add", "Sub", "Mul", "Div") and not (e.get(a).kind == "tensor" or e.get(b).kind == "tensor"):
        x = f"ops.convert_to_tensor({x})"
    e.assign(_out(node), _BINARY[node.op_type].format(_paren(x), _paren(y)), layout=layout)


_VARIADIC = {"Min": "ops.minimum", "Max": "ops.maximum", "Sum": "ops.add", "Mean": "ops.add"}


@op(*_VARIADIC)
def variadic(e: Emitter, node) -> None:
    """`ops.minimum/maximum/add` over any number of inputs, with broadcasting."""
    layout, rank = _common_layout(e, node, node.input), e.rank(node.output[0]) or 0
    args = [e.operand(n, layout, rank) for n in node.input]
    expr = args[0]
    for arg in args[1:]:
        expr = f"{_VARIADIC[node.op_type]}({expr}, {arg})"
    if node.op_type == "Mean":
        expr = f"{expr} / {len(args)}"
    e.assign(_out(node), expr, layout=layout)


@op("Where")
def where(e: Emitter, node) -> None:
    """`ops.where(c, x, y)`."""
    layout, rank = _common_layout(e, node, node.input), e.rank(node.output[0]) or 0
    c, x, y = (e.operand(n, layout, rank) for n in node.input)
    e.assign(_out(node), f"ops.where({c}, {x}, {y})", layout=layout)


@op("LeakyRelu")
def leaky_relu(e: Emitter, node) -> None:
    """`layers.LeakyReLU(negative_slope=alpha)`."""
    layer = e.layer(node, "leaky_relu", f"layers.LeakyReLU(negative_slope={f32(attrs(node).get('alpha', 0.01))!r})")
    e.assign(_out(node), f"{layer}({e.tensor(node.input[0])})", layout=e.layout(node.input[0]))


@op("Elu")
def elu(e: Emitter, node) -> None:
    """`layers.ELU(alpha=alpha)`."""
    layer = e.layer(node, "elu", f"layers.ELU(alpha={f32(attrs(node).get('alpha', 1.0))!r})")
    e.assign(_out(node), f"{layer}({e.tensor(node.input[0])})", layout=e.layout(node.input[0]))


@op("HardSigmoid")
def hard_sigmoid(e: Emitter, node) -> None:
    """`ops.clip(alpha * x + beta, 0, 1)` (ONNX's alpha/beta differ from Keras' hard_sigmoid)."""
    a = attrs(node)
    x = e.tensor(node.input[0])
    e.assign(_out(node), f"ops.clip({f32(a.get('alpha', 0.2))!r} * {x} + {f32(a.get('beta', 0.5))!r}, 0.0, 1.0)",
             layout=e.layout(node.input[0]))


@op("Gelu")
def gelu(e: Emitter, node) -> None:
    """`ops.gelu(x, approximate=...)`."""
    approximate = attrs(node).get("approximate", "none") == "tanh"
    e.assign(_out(node), f"ops.gelu({e.tensor(node.input[0])}, approximate={approximate})",
             layout=e.layout(node.input[0]))


@op("Clip")
def clip(e: Emitter, node) -> None:
    """`layers.ReLU(max_value=6.0)` for ReLU6 (and `layers.ReLU()`), else `ops.clip`/`maximum`/`minimum`."""
    lo, hi = (None if v is None else f32(v) for v in clip_bounds(e, node))
    x, layout = e.tensor(node.input[0]), e.layout(node.input[0])
    if lo == 0.0:
        layer = e.layer(node, "relu6" if hi == 6.0 else "relu", "layers.ReLU()" if hi is None else
                        f"layers.ReLU(max_value={hi!r})")
        e.assign(_out(node), f"{layer}({x})", layout=layout)
        return
    expr = x if lo is None else f"ops.maximum({x}, {lo!r})"
    expr = expr if hi is None else f"ops.minimum({expr}, {hi!r})"
    e.assign(_out(node), expr, layout=layout)


@op("Softmax", "LogSoftmax")
def softmax(e: Emitter, node) -> None:
    """`layers.Softmax(axis=...)` / `ops.log_softmax(x, axis=...)`, the axis where Keras holds it."""
    default = -1 if e.opset >= 13 else 1
    rank = e.rank(node.input[0])
    axis = attrs(node).get("axis", default)
    if e.opset < 13 and axis != -1 and axis != (rank or 0) - 1:
        raise UnsupportedOp(f"{node.op_type} before opset 13 over several axes is not supported", node.name)
    layout = e.layout(node.input[0])
    if layout == "cl":
        axis = keras_axis(axis, rank, layout)
        axis = -1 if axis == rank - 1 else axis
    x = e.tensor(node.input[0])
    if node.op_type == "Softmax":
        layer = e.layer(node, "softmax", f"layers.Softmax(axis={axis})")
        e.assign(_out(node), f"{layer}({x})", layout=layout)
    else:
        e.assign(_out(node), f"ops.log_softmax({x}, axis={axis})", layout=layout)


# -- layers with weights ----------------------------------------------------------------------


def _same_pads(shape, kernel, strides, dilations) -> list[int] | None:
    """The pads Keras' padding='same' applies (TensorFlow's: the odd one at the end)."""
    begins, ends = [], []
    for size, k, s, d in zip(shape, kernel, strides, dilations):
        if size is None:
            if s != 1:
                return None
            size = 1_000_003  # any size: with stride 1 'same' pads the same whatever the size
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _padding(e: Emitter, node, x: str, kernel, strides, dilations, pad_value: str = "") -> tuple[str, str]:
    """(input expression, Keras padding): 'valid', 'same' where Keras' 'same' pads exactly as
    the node does, else an explicit `ops.pad` of the channels-last input and 'valid'."""
    a = attrs(node)
    p = pads(e, node, a, kernel, strides, dilations)
    nd = len(kernel)
    if not any(p):
        return x, '"valid"'
    shape = e.shape(node.input[0])
    if _same_pads(list(shape[2:]) if shape else [None] * nd, kernel, strides, dilations) == list(p):
        return x, '"same"'
    width = [[0, 0], *([p[i], p[nd + i]] for i in range(nd)), [0, 0]]
    value = f", constant_values={pad_value}" if pad_value else ""
    return f"ops.pad({x}, {width}{value})", '"valid"'


@op("Conv")
def conv(e: Emitter, node) -> None:
    """`layers.Conv1D/2D/3D`, `layers.DepthwiseConv2D` (group == channels); kernel OIHW -> HWIO;
    channels-last; pads Keras' 'same' does not make as an explicit `ops.pad`."""
    a, w, b, nd, groups, kernel = conv_weights(e, node)
    if nd not in (1, 2, 3):
        raise UnsupportedOp(f"a {nd}-D convolution has no Keras layer", node.name)
    strides = ints(a.get("strides", [1] * nd))
    dilations = ints(a.get("dilations", [1] * nd))
    x, padding = _padding(e, node, e.tensor(node.input[0], "cl"), kernel, strides, dilations)
    c_in = w.shape[1] * groups
    args = [f"kernel_size={one(kernel)}"]
    if set(strides) != {1}:
        args.append(f"strides={one(strides)}")
    if padding != '"valid"':
        args.append(f"padding={padding}")
    if set(dilations) != {1}:
        args.append(f"dilation_rate={one(dilations)}")
    if b is None:
        args.append("use_bias=False")
    build = (None, *([None] * nd), c_in)
    if groups == c_in and w.shape[1] == 1 and nd == 2 and groups > 1:
        mult = w.shape[0] // c_in
        if mult != 1:
            args.append(f"depth_multiplier={mult}")
        kernel_arr = w.reshape(c_in, mult, *kernel).transpose(2, 3, 0, 1)
        ctor, fallback = f"layers.DepthwiseConv2D({', '.join(args)})", "depthwise_conv"
    else:
        if groups != 1:
            args.append(f"groups={groups}")
        kernel_arr = w.transpose(*range(2, nd + 2), 1, 0)
        ctor, fallback = f"layers.Conv{nd}D({w.shape[0]}, {', '.join(args)})", "conv"
    layer = e.layer(node, fallback, ctor, build, [kernel_arr] + ([b] if b is not None else []), weight=node.input[1])
    e.assign(_out(node), f"{layer}({x})", layout="cl")


@op("ConvTranspose")
def conv_transpose(e: Emitter, node) -> None:
    """`layers.Conv1DTranspose/2D/3D` channels-last, kernel (in, out, H, W) -> (H, W, out, in),
    padding 'valid' with ONNX's output_padding, then ONNX's pads cropped off."""
    a, w, b, nd, groups, kernel = conv_weights(e, node)
    strides = ints(a.get("strides", [1] * nd))
    dilations = ints(a.get("dilations", [1] * nd))
    if nd not in (1, 2, 3) or groups != 1 or set(dilations) != {1}:
        raise UnsupportedOp("ConvTranspose with groups or dilations has no Keras layer here", node.name)
    extra = ints(a.get("output_padding", [0] * nd))
    p = transpose_pads(e, node, a, kernel, strides, dilations, extra)
    args = [f"kernel_size={one(kernel)}"]
    if set(strides) != {1}:
        args.append(f"strides={one(strides)}")
    if any(extra) or any(k < s for k, s in zip(kernel, strides)):  # Keras' default length differs then
        args.append(f"output_padding={one(extra)}")
    if b is None:
        args.append("use_bias=False")
    arrays = [w.transpose(*range(2, nd + 2), 1, 0)] + ([b] if b is not None else [])
    layer = e.layer(node, "conv_transpose", f"layers.Conv{nd}DTranspose({w.shape[1]}, {', '.join(args)})",
                    (None, *([None] * nd), w.shape[0]), arrays, weight=node.input[1])
    expr = f"{layer}({e.tensor(node.input[0], 'cl')})"
    if any(p):
        crop = [f"{p[i] or ''}:{-p[nd + i] if p[nd + i] else ''}" for i in range(nd)]
        expr = f"{expr}[:, {', '.join(crop)}]"
    e.assign(_out(node), expr, layout="cl")


def _dense(e: Emitter, node, outputs, x: str, kernel: np.ndarray, bias, weight) -> None:
    args = f"{kernel.shape[1]}" + ("" if bias is not None else ", use_bias=False")
    layer = e.layer(node, "dense", f"layers.Dense({args})", (None, kernel.shape[0]),
                    [kernel] + ([bias] if bias is not None else []), weight=weight)
    e.assign(outputs, f"{layer}({x})")


@op("Gemm")
def gemm(e: Emitter, node) -> None:
    """`layers.Dense` (alpha/beta folded into the weights), else `alpha * (a @ b) + beta * c`."""
    a = attrs(node)
    w = e.static(node.input[1])
    c = e.static(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
    x = e.tensor(node.input[0], "")
    if a.get("transA", 0):
        x = f"ops.transpose({x})"
    if w is not None and (len(node.input) < 3 or not node.input[2] or c is not None):
        kernel = (w.T if a.get("transB", 0) else w) * np.asarray(alpha, w.dtype)
        bias = None if c is None else np.broadcast_to(c * np.asarray(beta, c.dtype), (kernel.shape[1],)).copy()
        _dense(e, node, _out(node), x, kernel, bias, tuple(node.input[1:3]))
        return
    y = e.tensor(node.input[1], "")
    y = f"ops.transpose({y})" if a.get("transB", 0) else y
    expr = f"{alpha!r} * ops.matmul({x}, {y})"
    if len(node.input) > 2 and node.input[2]:
        expr += f" + {beta!r} * {e.tensor(node.input[2], '')}"
    e.assign(_out(node), expr)


@op("MatMul")
def matmul(e: Emitter, node) -> None:
    """`layers.Dense` for a constant 2-D weight (with the Add of a bias after it), else `ops.matmul`."""
    w = e.static(node.input[1])
    x = e.tensor(node.input[0], "")
    if w is not None and w.ndim == 2 and w.dtype.kind == "f":
        add, bias = bias_add(e, node.output[0], w.shape[1])
        names = (node.input[1], *(i for i in add.input if i != node.output[0])) if add else node.input[1]
        _dense(e, node, list(add.output if add else node.output), x, w, bias, names)
        return
    e.assign(_out(node), f"ops.matmul({x}, {e.tensor(node.input[1], '')})")


@op("Einsum")
def einsum(e: Emitter, node) -> None:
    """`ops.einsum(equation, ...)`."""
    args = ", ".join(e.tensor(n, "") for n in node.input)
    e.assign(_out(node), f"ops.einsum({attrs(node)['equation']!r}, {args})")


@op("BatchNormalization")
def batch_norm(e: Emitter, node) -> None:
    """`layers.BatchNormalization(axis=-1)` on the channels-last tensor, epsilon and momentum
    written out (ONNX's momentum is Keras' momentum)."""
    a = attrs(node)
    if a.get("training_mode", 0):
        raise UnsupportedOp("BatchNormalization in training mode is not supported", node.name)
    stats = [e.static(n) for n in node.input[1:5]]
    if any(v is None for v in stats):
        raise UnsupportedOp("BatchNormalization with computed statistics is not supported", node.name)
    rank = e.rank(node.input[0])
    if rank is None:
        raise UnsupportedOp("BatchNormalization of an input of unknown rank", node.name)
    layout = "cl" if rank >= 3 else ""
    x = e.tensor(node.input[0], layout)
    ctor = f"layers.BatchNormalization(momentum={f32(a.get('momentum', 0.9))!r}, epsilon={f32(a.get('epsilon', 1e-5))!r})"
    layer = e.layer(node, "bn", ctor, (None,) * (rank - 1) + (stats[0].shape[0],), stats, weight=node.input[1])
    e.assign(_out(node)[:1], f"{layer}({x})", layout=layout)


@op("LayerNormalization")
def layer_norm(e: Emitter, node) -> None:
    """`layers.LayerNormalization(axis=..., epsilon=...)` over the ONNX axes."""
    a = attrs(node)
    scale = e.static(node.input[1])
    bias = e.static(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    shape = e.shape(node.input[0])
    if scale is None or shape is None:
        raise UnsupportedOp("LayerNormalization with a computed scale or unknown rank", node.name)
    rank = len(shape)
    first = a.get("axis", -1) % rank
    dims = shape[first:]
    if None in dims:
        raise UnsupportedOp("LayerNormalization over dynamic axes is not supported", node.name)
    axis = -1 if first == rank - 1 else list(range(first, rank))
    args = f"axis={axis}, epsilon={f32(a.get('epsilon', 1e-5))!r}" + ("" if bias is not None else ", center=False")
    arrays = [np.broadcast_to(scale, dims).copy()] + ([np.broadcast_to(bias, dims).copy()] if bias is not None else [])
    build = (None,) * first + tuple(dims)
    layer = e.layer(node, "layer_norm", f"layers.LayerNormalization({args})", build, arrays, weight=node.input[1])
    e.assign(_out(node)[:1], f"{layer}({e.tensor(node.input[0], '')})")


@op("Gather")
def gather(e: Emitter, node) -> None:
    """`layers.Embedding` for a constant table, `x[:, i]` for a constant index, `ops.take`,
    or items of a shape value."""
    axis = attrs(node).get("axis", 0)
    data, idx = node.input[:2]
    table, index = e.static(data), e.static(idx)
    if shape_items(e, node):
        return
    if table is not None and axis == 0 and table.ndim == 2 and table.dtype.kind == "f" and index is None:
        layer = e.layer(node, "embedding", f"layers.Embedding({table.shape[0]}, {table.shape[1]})", (None,),
                        [table], weight=data)
        e.assign(_out(node), f"{layer}({e.tensor(idx, '')})")
        return
    x = e.tensor(data, "")
    rank = e.rank(data)
    if axis < 0:
        if rank is None:
            raise UnsupportedOp("Gather on a negative axis of an input of unknown rank", node.name)
        axis += rank
    if index is not None and index.ndim == 0:
        e.assign(_out(node), f"{x}[{', '.join([':'] * axis + [str(int(index))])}]")
        return
    e.assign(_out(node), f"ops.take({x}, {e.tensor(idx, '')}, axis={axis})")


# -- pooling --------------------------------------------------------------------------------


@op("MaxPool", "AveragePool")
def pool(e: Emitter, node) -> None:
    """`layers.MaxPooling2D/AveragePooling2D` (1-D, 3-D alike) channels-last; pads Keras' 'same'
    does not make as `ops.pad` (-inf for max; zeros for an average that counts them)."""
    a = attrs(node)
    kernel = ints(a["kernel_shape"])
    nd = len(kernel)
    is_max = node.op_type == "MaxPool"
    if len(node.output) > 1 and node.output[1]:
        raise UnsupportedOp("MaxPool with indices is not supported", node.name)
    if a.get("ceil_mode", 0):
        raise UnsupportedOp(f"{node.op_type} with ceil_mode=1 has no Keras form", node.name)
    if is_max and set(a.get("dilations", [1])) != {1}:
        raise UnsupportedOp("MaxPool with dilations has no Keras form", node.name)
    strides = ints(a.get("strides", [1] * nd))
    x = e.tensor(node.input[0], "cl")
    if not is_max and a.get("count_include_pad", 0) and any(pads(e, node, a, kernel, strides, (1,) * nd)):
        p = pads(e, node, a, kernel, strides, (1,) * nd)
        x, padding = f"ops.pad({x}, {[[0, 0], *([p[i], p[nd + i]] for i in range(nd)), [0, 0]]})", '"valid"'
    else:
        x, padding = _padding(e, node, x, kernel, strides, (1,) * nd, 'float("-inf")' if is_max else "")
        if not is_max and x.startswith("ops.pad("):
            raise UnsupportedOp("AveragePool with pads that Keras' 'same' does not make, excluding them, "
                                "has no Keras form", node.name)
    args = [f"pool_size={one(kernel)}", f"strides={one(strides)}"] + ([f"padding={padding}"] if padding != '"valid"' else [])
    cls = f"layers.{'MaxPooling' if is_max else 'AveragePooling'}{nd}D"
    layer = e.layer(node, "max_pool" if is_max else "avg_pool", f"{cls}({', '.join(args)})")
    e.assign(_out(node)[:1], f"{layer}({x})", layout="cl")


@op("GlobalAveragePool", "GlobalMaxPool")
def global_pool(e: Emitter, node) -> None:
    """`layers.GlobalAveragePooling2D(keepdims=True)` (max, 1-D, 3-D alike), channels-last."""
    rank = e.rank(node.input[0])
    if rank not in (3, 4, 5):
        raise UnsupportedOp(f"{node.op_type} of a rank-{rank} input", node.name)
    kind = "Average" if node.op_type == "GlobalAveragePool" else "Max"
    layer = e.layer(node, f"global_{kind.lower()}_pool", f"layers.Global{kind}Pooling{rank - 2}D(keepdims=True)")
    e.assign(_out(node), f"{layer}({e.tensor(node.input[0], 'cl')})", layout="cl")


# -- shapes and layout ------------------------------------------------------------------------


op("Identity", "Dropout")(identity)
op("Constant")(constant)


@op("Shape")
def shape(e: Emitter, node) -> None:
    """`list(ops.shape(x))` in ONNX's axis order: a Python list, so the batch stays dynamic."""
    a = attrs(node)
    start, end = a.get("start"), a.get("end")
    x, rank = e.tensor(node.input[0]), e.rank(node.input[0])
    expr = f"list(ops.shape({x}))"
    if e.layout(node.input[0]) == "cl":
        expr = f"[ops.shape({x})[i] for i in {to_cf(rank)}]"
    start = None if start == 0 else start
    if start is not None or end is not None:
        expr += f"[{'' if start is None else start}:{'' if end is None else end}]"
    e.assign(_out(node), expr, "shape")


@op("Cast")
def cast(e: Emitter, node) -> None:
    """`ops.cast(x, dtype)`; shape values stay ints."""
    to = cast_to(e, node)
    if to is None:
        return
    e.assign(_out(node), f"ops.cast({e.tensor(node.input[0])}, \"{to.name}\")", layout=e.layout(node.input[0]))


def _target(e: Emitter, node, x: str, name: str | None) -> str:
    """A reshape target: the inferred output shape with -1 for its one unknown size, else the
    constant (ONNX's 0 = keep resolved) or the shape value."""
    out = e.shape(node.output[0])
    if out is not None and sum(d is None for d in out) <= 1:
        return repr(tuple(-1 if d is None else int(d) for d in out))
    if name is None:
        raise UnsupportedOp("a reshape to a shape with several unknown sizes", node.name)
    arr = e.static(name)
    if arr is not None:
        return "(" + ", ".join(f"ops.shape({x})[{i}]" if d == 0 else str(int(d)) for i, d in enumerate(arr)) + ",)"
    v = e.get(name)
    if v.kind != "shape":
        raise UnsupportedOp("a reshape to a computed tensor shape is not supported", node.name)
    return v.expr


@op("Reshape")
def reshape(e: Emitter, node) -> None:
    """`ops.reshape(x, (-1, ...))` on the tensor in the ONNX layout (channels back first)."""
    v = e.get(node.input[0])
    target = e.static(node.input[1])
    if v.kind == "shape" and target is not None and target.size == 1:
        e.alias(node.output[0], node.input[0])
        return
    x = e.tensor(node.input[0], "")
    e.assign(_out(node), f"ops.reshape({x}, {_target(e, node, x, node.input[1])})")


@op("Flatten")
def flatten(e: Emitter, node) -> None:
    """`ops.reshape(x, (-1, n))` in the ONNX layout: a conv's output is moved channels-first
    before, so the Dense after it keeps the source's weights."""
    axis = attrs(node).get("axis", 1)
    x = e.tensor(node.input[0], "")
    out = e.shape(node.output[0])
    if out is not None and sum(d is None for d in out) <= 1:
        target = repr(tuple(-1 if d is None else int(d) for d in out))
    elif axis == 1:
        target = f"(ops.shape({x})[0], -1)"
    else:
        raise UnsupportedOp("Flatten of dynamic sizes past axis 1", node.name)
    e.assign(_out(node), f"ops.reshape({x}, {target})")


def _compose(first, then) -> list[int]:
    """The single permutation of transposing by `first`, then by `then`."""
    return [first[i] for i in then]


@op("Transpose")
def transpose(e: Emitter, node) -> None:
    """`ops.transpose(x, perm)`, or nothing where the layout Keras already holds the tensor in
    is the one asked for (tf2onnx's NHWC <-> NCHW pairs)."""
    rank = e.rank(node.input[0])
    perm = attrs(node).get("perm")
    if rank is None:
        rank = len(perm) if perm else None
    if rank is None:
        raise UnsupportedOp("Transpose of an input of unknown rank", node.name)
    perm = list(perm) if perm is not None else list(reversed(range(rank)))
    held = e.layout(node.input[0])
    q = _compose(to_cf(rank), perm) if held == "cl" else perm  # keras_out = keras_in.transpose(q), ONNX layout
    if e.get(node.input[0]).kind == "const":
        e.values[node.output[0]] = type(e.get(node.input[0]))(node.output[0], "const",
                                                              e.static(node.input[0]).transpose(perm))
        return
    x = e.tensor(node.input[0])
    if q == list(range(rank)):
        e.values[node.output[0]] = _held(e, x, "")
        return
    if rank >= 3 and _compose(q, to_cl(rank)) == list(range(rank)):
        e.values[node.output[0]] = _held(e, x, "cl")
        return
    e.assign(_out(node), f"ops.transpose({x}, {tuple(q)})")


def _held(e: Emitter, expr: str, layout: str):
    from ..onnx_common import Value

    return Value(expr, "tensor", layout=layout)


def _remaining(rank: int, removed: set[int], layout: str) -> tuple[list[int], str]:
    """After dropping ONNX axes `removed` from a tensor held in `layout`: (the permutation
    taking the Keras result to the ONNX order, the layout it can stay in: "" / "cl" / None)."""
    held = to_cl(rank) if layout == "cl" else tuple(range(rank))  # Keras axis j holds ONNX axis held[j]
    seq = [a for a in held if a not in removed]
    order = sorted(seq)
    q = [order.index(a) for a in seq]  # keras_out axis j holds onnx_out axis q[j]
    n = len(q)
    if q == list(range(n)):
        return q, ""
    if n >= 3 and q == list(to_cl(n)):
        return q, "cl"
    return q, None


def _assign_reduced(e: Emitter, node, expr: str, q: list[int], layout: str | None) -> None:
    if layout is None:  # back to the ONNX order
        expr = f"ops.transpose({expr}, {tuple(int(i) for i in np.argsort(q))})"
        layout = ""
    e.assign(_out(node)[:1], expr, layout=layout)


@op("Squeeze", "Unsqueeze")
def squeeze(e: Emitter, node) -> None:
    """`ops.squeeze(x, axis)` (the axes where Keras holds them) / `ops.expand_dims(x, axis)`."""
    found = axes(e, node, attrs(node))
    v = e.get(node.input[0])
    if node.op_type == "Unsqueeze" and v.kind == "int" and found == (0,):
        e.assign(_out(node), f"[{v.expr}]", "shape")
        return
    rank = e.rank(node.input[0])
    if node.op_type == "Squeeze":
        if found is None:
            shape = e.shape(node.input[0])
            if shape is None or None in shape:
                raise UnsupportedOp("Squeeze without axes of an input of unknown shape", node.name)
            found = tuple(i for i, d in enumerate(shape) if d == 1)
        layout = e.layout(node.input[0])
        removed = {a % rank for a in found}
        q, out_layout = _remaining(rank, removed, layout)
        k = tuple(sorted(keras_axis(a, rank, layout) for a in removed))
        _assign_reduced(e, node, f"ops.squeeze({e.tensor(node.input[0])}, axis={k[0] if len(k) == 1 else k})",
                        q, out_layout)
        return
    x = e.tensor(node.input[0], "")
    out_rank = (rank or 0) + len(found)
    for axis in sorted(a % out_rank for a in found):
        x = f"ops.expand_dims({x}, {axis})"
    e.assign(_out(node), x)


@op("Concat")
def concat(e: Emitter, node) -> None:
    """`ops.concatenate([...], axis)` (the axis where Keras holds it), or a Python list for shape values."""
    axis = attrs(node)["axis"]
    if shape_concat(e, node, lambda n: _splat(e, n)):
        return
    rank = e.rank(node.output[0])
    layout = "cl" if rank and all(e.layout(n) == "cl" or e.get(n).kind == "const" for n in node.input) \
        and any(e.layout(n) == "cl" for n in node.input) else ""
    items = ", ".join(e.tensor(n, layout) for n in node.input)
    axis = keras_axis(axis, rank, layout)
    e.assign(_out(node), f"ops.concatenate([{items}], axis={-1 if axis == rank - 1 else axis})", layout=layout)


def _splat(e: Emitter, name: str) -> str:
    v = e.get(name)
    if v.kind == "shape":
        return f"*{v.expr}"
    if v.kind == "int":
        return v.expr
    raise UnsupportedOp("a shape built from a computed tensor is not supported", name)


@op("Split")
def split(e: Emitter, node) -> None:
    """`ops.split(x, indices, axis)` (the axis where Keras holds it)."""
    axis = attrs(node).get("axis", 0)
    sizes = split_sizes(e, node)
    rank, layout = e.rank(node.input[0]), e.layout(node.input[0])
    x = e.tensor(node.input[0])
    if sizes is None:
        e.assign(_out(node), f"ops.split({x}, {len(node.output)}, axis={keras_axis(axis, rank, layout)})",
                 layout=layout)
        return
    cuts = np.cumsum(sizes)[:-1].tolist()
    e.assign(_out(node), f"ops.split({x}, {cuts}, axis={keras_axis(axis, rank, layout)})", layout=layout)


@op("Slice")
def slice_(e: Emitter, node) -> None:
    """`x[a:b, ...]` indexing (the axes where Keras holds them; constant or shape-valued
    bounds, positive steps)."""
    starts, ends, sel, steps, rank = slice_params(e, node)
    v = e.get(node.input[0])
    layout = e.layout(node.input[0]) if v.kind == "tensor" else ""
    index = slice_index(starts, ends, sel, steps, rank, lambda axis: keras_axis(axis, rank, layout))
    if v.kind == "shape":
        e.assign(_out(node), f"{v.expr}[{index[0] if index else ':'}]", "shape")
        return
    e.assign(_out(node), f"{e.tensor(node.input[0])}[{', '.join(index) or ':'}]", layout=layout)


def _dims(e: Emitter, name: str) -> str:
    v = e.get(name)
    if v.kind == "shape":
        return v.expr
    arr = e.static(name)
    if arr is None:
        raise UnsupportedOp("a shape given as a computed tensor is not supported", name)
    return repr(tuple(arr.reshape(-1).tolist()))


@op("Expand")
def expand(e: Emitter, node) -> None:
    """`ops.full` for a scalar, else `x * ops.ones(shape)` (ONNX broadcasts both ways)."""
    arr = e.static(node.input[0])
    if arr is not None and arr.size == 1:
        value = arr.reshape(-1)[0].item()
        e.assign(_out(node), f"ops.full({_dims(e, node.input[1])}, {value!r}, dtype=\"{arr.dtype.name}\")")
        return
    x = e.tensor(node.input[0], "")
    e.assign(_out(node), f"{x} * ops.ones({_dims(e, node.input[1])}, dtype={x}.dtype)")


@op("Tile")
def tile(e: Emitter, node) -> None:
    """`ops.tile(x, repeats)`."""
    e.assign(_out(node), f"ops.tile({e.tensor(node.input[0], '')}, {_dims(e, node.input[1])})")


@op("ConstantOfShape")
def constant_of_shape(e: Emitter, node) -> None:
    """`ops.full(shape, value)`."""
    from onnx import numpy_helper

    value = attrs(node).get("value")
    arr = numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
    e.assign(_out(node), f"ops.full({_dims(e, node.input[0])}, {arr.reshape(-1)[0].item()!r}, dtype=\"{arr.dtype.name}\")")


@op("Pad")
def pad(e: Emitter, node) -> None:
    """`ops.pad(x, widths, mode)` (the widths on the axes where Keras holds them)."""
    widths, value, mode = pad_widths(e, node)
    rank, layout = len(widths) // 2, e.layout(node.input[0])
    pairs = [[int(widths[i]), int(widths[rank + i])] for i in range(rank)]
    if layout == "cl":
        pairs = [pairs[i] for i in to_cl(rank)]
    args = f"{e.tensor(node.input[0])}, {pairs}" + (f", mode={mode!r}" if mode != "constant" else "")
    if value:
        args += f", constant_values={value!r}"
    e.assign(_out(node), f"ops.pad({args})", layout=layout)


_REDUCE = {"ReduceMean": "ops.mean", "ReduceSum": "ops.sum", "ReduceMax": "ops.max", "ReduceMin": "ops.min",
           "ReduceProd": "ops.prod", "ReduceL2": "ops.norm"}


@op(*_REDUCE)
def reduce(e: Emitter, node) -> None:
    """`ops.mean/sum/max/min/prod/norm(x, axis, keepdims)`, the axes where Keras holds them."""
    a = attrs(node)
    found = axes(e, node, a)
    keep = bool(a.get("keepdims", 1))
    v = e.get(node.input[0])
    if v.kind == "shape" and node.op_type in ("ReduceProd", "ReduceSum", "ReduceMax"):
        fn = {"ReduceProd": "math.prod", "ReduceSum": "sum", "ReduceMax": "max"}[node.op_type]
        raise UnsupportedOp(f"{node.op_type} of a shape value ({fn}) is not supported", node.name)
    rank = e.rank(node.input[0])
    if found is None:
        if a.get("noop_with_empty_axes", 0):
            e.alias(node.output[0], node.input[0])
            return
        if rank is None:
            raise UnsupportedOp(f"{node.op_type} over all axes of an input of unknown rank", node.name)
        found = tuple(range(rank))
    layout = e.layout(node.input[0])
    removed = {ax % rank for ax in found}
    k = tuple(sorted(keras_axis(ax, rank, layout) for ax in removed))
    expr = f"{_REDUCE[node.op_type]}({e.tensor(node.input[0])}, axis={k[0] if len(k) == 1 else k}, keepdims={keep})"
    if keep:
        e.assign(_out(node), expr, layout=layout)
        return
    q, out_layout = _remaining(rank, removed, layout)
    _assign_reduced(e, node, expr, q, out_layout)


@op("ArgMax", "ArgMin")
def argmax(e: Emitter, node) -> None:
    """`ops.argmax` / `ops.argmin` (ONNX layout)."""
    a = attrs(node)
    fn = "ops.argmax" if node.op_type == "ArgMax" else "ops.argmin"
    e.assign(_out(node), f"{fn}({e.tensor(node.input[0], '')}, axis={a.get('axis', 0)}, keepdims={bool(a.get('keepdims', 1))})")


@op("Resize")
def resize(e: Emitter, node) -> None:
    """`layers.UpSampling2D(size, interpolation="nearest"|"bilinear")` channels-last, for whole
    scales: nearest (asymmetric, floor) and bilinear (half_pixel, as Keras resizes)."""
    a = attrs(node)
    mode = a.get("mode", "nearest")
    coord = a.get("coordinate_transformation_mode", "half_pixel")
    shape = e.shape(node.input[0])
    if a.get("antialias", 0) or shape is None or len(shape) != 4:
        raise UnsupportedOp("Resize of other than a 4-D image, or with antialias, is not supported", node.name)
    if mode == "nearest":
        if coord != "asymmetric" or a.get("nearest_mode", "round_prefer_floor") != "floor":
            raise UnsupportedOp(f"nearest Resize with {coord}/{a.get('nearest_mode')} is not supported", node.name)
    elif mode != "linear" or coord not in ("half_pixel", "pytorch_half_pixel"):
        raise UnsupportedOp(f"{mode} Resize with {coord} coordinates has no Keras layer", node.name)
    scales = e.static(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    sizes = e.static(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    if (scales is None or not scales.size) and sizes is not None and None not in shape[2:]:
        scales = np.asarray([1, 1, *(s / d for s, d in zip(sizes[2:], shape[2:]))])
    if scales is None or not scales.size or list(scales[:2]) != [1, 1] or any(s != int(s) for s in scales[2:]):
        raise UnsupportedOp("Resize other than by whole scales of the spatial axes is not supported", node.name)
    size = one(tuple(int(s) for s in scales[2:]))
    kind = "nearest" if mode == "nearest" else "bilinear"
    layer = e.layer(node, "upsample", f'layers.UpSampling2D(size={size}, interpolation="{kind}")')
    e.assign(_out(node), f"{layer}({e.tensor(node.input[0], 'cl')})", layout="cl")
