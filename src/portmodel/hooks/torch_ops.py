"""torch functions and tensor methods -> keras.ops (the PyTorch -> Keras direction).

Most ops are templates in `rules/ops/*.yaml`, filled by `apply_op`; the ones that need
layout reasoning (reshapes, permutes, pooling) are hooks registered here. An op receives
its arguments bound to the rule's signature (tensors as `KTensor`s) and the torch result
computed on meta tensors, which gives every output shape without running the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..parsing import walk
from ..static_eval import SymInt
from . import CHANNELS_LAST, TORCH_ORDER, Untranslatable, op_hook


@dataclass
class OpCall:
    rule: Any  # OpRule
    values: dict[str, Any]  # argument -> KTensor / list of KTensor / constant (SymInt for sizes)
    codes: dict[str, str]  # argument -> Keras source of a non-tensor argument as written
    out_meta: Any  # the torch result on meta tensors
    given: set[str] = field(default_factory=set)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


_OPTIONAL = re.compile(r"\[\?(.*?)\?\]")


def fill(template: str, texts: dict[str, str], given: set[str]) -> str:
    """Fill {name}s; an optional `[?...?]` part stays only if an argument in it was given."""

    def optional(m: re.Match) -> str:
        names = re.findall(r"\{(\w+)\}", m.group(1))
        return m.group(1) if any(n in given for n in names) else ""

    return _OPTIONAL.sub(optional, template).format_map(texts)


def _tensors(values: dict) -> list:
    from ..keras_layout import KTensor

    out = []
    for v in values.values():
        if isinstance(v, KTensor):
            out.append(v)
        elif isinstance(v, list | tuple):
            out += [t for t in v if isinstance(t, KTensor)]
    return out


def _axis_code(value, t) -> str:
    from ..keras_layout import keras_axis

    if isinstance(value, tuple | list):
        return "(" + ", ".join(str(keras_axis(int(d), t)) for d in value) + ("," if len(value) == 1 else "") + ")"
    return str(keras_axis(int(value), t))


def _convert_all(values: dict, layout: str) -> dict:
    from ..keras_layout import KTensor, to_layout

    out = {}
    for k, v in values.items():
        if isinstance(v, KTensor):
            out[k] = to_layout(v, layout)
        elif isinstance(v, list | tuple) and any(isinstance(t, KTensor) for t in v):
            out[k] = [to_layout(t, layout) if isinstance(t, KTensor) else t for t in v]
        else:
            out[k] = v
    return out


def apply_op(call: OpCall):
    """Run the op's hook, or fill its template in a layout all its tensors share."""
    from ..keras_layout import KTensor

    rule = call.rule
    if rule.hook:
        from . import OP_HOOKS

        return OP_HOOKS[rule.hook](call)
    tensors = _tensors(call.values)
    if not tensors and (rule.axes or not hasattr(call.out_meta, "dim")):
        raise Untranslatable(f"{rule.torch[0]} without a tensor argument is not translated")
    if not tensors:  # made from sizes (`torch.arange(length)`): the arguments as written
        given = [n for n in rule.signature if n in call.given]
        texts = {n: call.codes.get(n, rule.defaults.get(n, "None")) for n in rule.signature}
        return KTensor(fill(rule.keras, texts, set(given) | set(rule.defaults)), call.out_meta, TORCH_ORDER)
    layout = TORCH_ORDER if rule.layout == TORCH_ORDER else tensors[0].layout
    out_rank = call.out_meta.dim() if hasattr(call.out_meta, "dim") else None
    if layout == CHANNELS_LAST and out_rank is not None and 3 <= out_rank != tensors[0].rank:
        layout = TORCH_ORDER  # a reduction that keeps spatial axes: follow torch's order
    values = _convert_all(call.values, layout)
    first = _tensors(values)[0]
    texts = {}
    for name in rule.signature:
        v = values.get(name)
        if isinstance(v, KTensor):
            texts[name] = v.expr
        elif isinstance(v, list | tuple) and v and all(isinstance(t, KTensor) for t in v):
            texts[name] = "[" + ", ".join(t.expr for t in v) + "]"
        elif name in rule.axes and v is not None:
            texts[name] = _axis_code(v, first)
        elif name in rule.values:
            src = call.codes.get(name, rule.defaults.get(name))
            if src not in rule.values[name]:
                raise Untranslatable(f"{rule.torch[0]}({name}={src}) has no Keras form in the rules")
            texts[name] = rule.values[name][src]
        else:
            texts[name] = call.codes.get(name, rule.defaults.get(name, "None"))
    expr = fill(rule.keras, texts, call.given | set(rule.defaults))
    out_layout = layout if out_rank is not None and out_rank >= 3 else TORCH_ORDER
    return KTensor(expr, call.out_meta, out_layout)


# -- hooks --------------------------------------------------------------------------------


def _torch_order(t):
    """`t` in torch's element order; a channels-last tensor whose spatial sizes are all 1
    already has it (no transpose needed)."""
    from dataclasses import replace

    from ..keras_layout import to_layout

    if t.layout == CHANNELS_LAST and t.rank >= 3 and all(int(s) == 1 for s in t.meta.shape[2:]):
        return replace(t, layout=TORCH_ORDER)
    return to_layout(t, TORCH_ORDER)


def _reshaped(call: OpCall, x, shape: tuple[str, ...], whole: bool = False):
    from ..keras_layout import KTensor

    x = _torch_order(x)
    if whole:  # one name holding the whole shape
        shape_code = shape[0]
    elif len(shape) == 1:
        shape_code = f"({shape[0]},)"
    else:
        shape_code = "(" + ", ".join(shape) + ")"
    return KTensor(f"ops.reshape({x.expr}, {shape_code})", call.out_meta, TORCH_ORDER)


@op_hook("flatten")
def flatten(call: OpCall):
    x = call.get("input")
    out = tuple(call.out_meta.shape)
    if tuple(x.meta.shape) == out:  # already flat (`x.flatten(1)` of a (batch, features) tensor)
        return x
    if int(call.get("start_dim", 0)) % x.rank == 0:
        return _reshaped(call, x, ("-1",))
    return _reshaped(call, x, ("-1", *map(str, out[1:])))


@op_hook("reshape")
def reshape(call: OpCall):
    x = call.get("input")
    shape = call.get("shape")
    sources = call.codes.get("shape") or [None] * len(shape)
    if len(shape) == 1 and isinstance(shape[0], tuple | list):  # x.view((a, b)) form
        if sources[0] and sources[0].isidentifier():  # x.view(new_shape): the variable, as written
            return _reshaped(call, x, (sources[0],), whole=True)
        shape, sources = tuple(shape[0]), [None] * len(shape[0])
    texts = []
    for v, src in zip(shape, sources):
        if isinstance(v, SymInt):
            texts.append(v.code)
        elif isinstance(v, int):
            texts.append(src or str(v))  # as written (`self.num_heads`) where that is plain Python
        else:
            raise Untranslatable("a reshape size the translator cannot read")
    # the batch size stays dynamic: a size read from the batch axis, or -1
    if len(texts) > 1 and "-1" not in texts and not isinstance(shape[0], SymInt):
        texts[0] = "-1"
    return _reshaped(call, x, tuple(texts))


def _permuted(call: OpCall, x, dims: tuple[int, ...]):
    from dataclasses import replace

    from ..keras_layout import KTensor, perm

    rank = x.rank
    dims = tuple(int(d) % rank for d in dims)
    if x.layout == CHANNELS_LAST and rank >= 3:
        held = perm(rank, True)  # Keras holds torch dims in this order
        if dims == held:  # torch asks for exactly what Keras holds: nothing to do
            return replace(x, meta=call.out_meta, layout=TORCH_ORDER)
        # axes of the Keras tensor that give torch's result
        where = {d: i for i, d in enumerate(held)}
        axes = tuple(where[d] for d in dims)
    else:
        axes = dims
    if axes == tuple(range(rank)):
        return replace(x, meta=call.out_meta, layout=TORCH_ORDER)
    return KTensor(f"ops.transpose({x.expr}, {axes})", call.out_meta, TORCH_ORDER)


@op_hook("permute")
def permute(call: OpCall):
    dims = call.get("dims")
    if len(dims) == 1 and isinstance(dims[0], tuple | list):
        dims = tuple(dims[0])
    return _permuted(call, call.get("input"), tuple(dims))


@op_hook("transpose")
def transpose(call: OpCall):
    x = call.get("input")
    a, b = int(call.get("dim0")) % x.rank, int(call.get("dim1")) % x.rank
    dims = list(range(x.rank))
    dims[a], dims[b] = dims[b], dims[a]
    return _permuted(call, x, tuple(dims))


@op_hook("size")
def size(call: OpCall):
    from ..keras_layout import dim_size

    dim, x = call.get("dim"), call.get("input")
    if dim is None:  # every size, in torch's order (`torch.zeros(x.size())`)
        return tuple(dim_size(x, d) for d in range(x.rank))
    return dim_size(x, int(dim))


def _sizes_code(values, sources=None) -> str:
    """A shape as Keras source: named sizes by their names, the rest as numbers."""
    texts = []
    for v, src in zip(values, sources or [None] * len(values)):
        if isinstance(v, SymInt):
            texts.append(v.code)
        elif isinstance(v, int):
            texts.append(src if src and src.isidentifier() else str(v))
        else:
            raise Untranslatable("a size the translator cannot read")
    return f"({texts[0]},)" if len(texts) == 1 else f"({', '.join(texts)})"


def _size_args(call: OpCall, name: str):
    """A `*size` argument given as numbers or as one tuple: (values, their sources)."""
    values = call.get(name)
    sources = call.codes.get(name)
    if isinstance(values, tuple | list) and len(values) == 1 and isinstance(values[0], tuple | list):
        return tuple(values[0]), None
    return tuple(values), sources if isinstance(sources, list) else None


@op_hook("expand")
def expand(call: OpCall):
    """`x.expand(1, -1)` -> `ops.broadcast_to(x, (1, ops.shape(x)[0]))`: -1 keeps that size."""
    from ..keras_layout import KTensor

    x = _torch_order(call.get("input"))
    sizes, sources = _size_args(call, "size")
    offset = len(sizes) - x.rank
    if offset > 0 and all(int(v) == 1 for v in sizes[:offset]) and all(int(v) == -1 for v in sizes[offset:]):
        expr = x.expr  # only new leading axes of size 1 (`ids.expand((1, -1))`): ids[None]
        for _ in range(offset):
            expr = f"ops.expand_dims({expr}, 0)"
        return KTensor(expr, call.out_meta, TORCH_ORDER)
    shape = [SymInt(int(call.out_meta.shape[i]), f"ops.shape({x.expr})[{i - offset}]") if int(v) == -1 else v
             for i, v in enumerate(sizes)]
    return KTensor(f"ops.broadcast_to({x.expr}, {_sizes_code(shape, sources)})", call.out_meta, TORCH_ORDER)


@op_hook("filled")
def filled(call: OpCall):
    """`torch.zeros(size, dtype=torch.long)` -> `ops.zeros((1, 64), dtype="int64")` (ones alike)."""
    from ..keras_layout import KTensor

    sizes, sources = _size_args(call, "size")
    dtype = call.codes.get("dtype")
    text = f"ops.{call.rule.torch[0].rsplit('.', 1)[1]}({_sizes_code(sizes, sources)}"
    if dtype is not None:
        if dtype not in call.rule.values.get("dtype", {}):
            raise Untranslatable(f"{call.rule.torch[0]}(dtype={dtype}) has no Keras form in the rules")
        text += f", dtype={call.rule.values['dtype'][dtype]}"
    return KTensor(text + ")", call.out_meta, TORCH_ORDER)


def _pool_geometry(call: OpCall, nd: int):
    def tup(v, default):
        v = default if v is None else v
        return tuple(v) if isinstance(v, tuple | list) else (int(v),) * nd

    k = tup(call.get("kernel_size"), None)
    s = tup(call.get("stride"), k) if call.get("stride") not in (None, ()) else k
    p = tup(call.get("padding"), 0)
    if call.get("ceil_mode"):
        raise Untranslatable("ceil_mode=True is not supported yet")
    return k, s, p


def _ints(values) -> str:
    return str(values[0]) if len(set(values)) == 1 else f"({', '.join(map(str, values))})"


@op_hook("max_pool")
def max_pool(call: OpCall):
    from ..keras_layout import KTensor, to_layout

    x = to_layout(call.get("input"), CHANNELS_LAST)
    nd = x.rank - 2
    if call.get("return_indices") or call.get("dilation") not in (None, 1):
        raise Untranslatable("max pooling with indices or dilation has no Keras form")
    k, s, p = _pool_geometry(call, nd)
    src = x.expr
    if any(p):
        widths = ", ".join(f"({v}, {v})" for v in p)
        src = f"ops.pad({src}, ((0, 0), {widths}, (0, 0)), constant_values=float('-inf'))"
    return KTensor(f"ops.max_pool({src}, {_ints(k)}, {_ints(s)})", call.out_meta, CHANNELS_LAST)


@op_hook("avg_pool")
def avg_pool(call: OpCall):
    from ..keras_layout import KTensor, to_layout

    x = to_layout(call.get("input"), CHANNELS_LAST)
    k, s, p = _pool_geometry(call, x.rank - 2)
    if call.get("divisor_override") is not None:
        raise Untranslatable("divisor_override has no Keras form")
    src = x.expr
    if any(p):
        if call.get("count_include_pad") is False:
            raise Untranslatable("avg_pool with padding and count_include_pad=False is not supported yet")
        widths = ", ".join(f"({v}, {v})" for v in p)
        src = f"ops.pad({src}, ((0, 0), {widths}, (0, 0)))"
    return KTensor(f"ops.average_pool({src}, {_ints(k)}, {_ints(s)})", call.out_meta, CHANNELS_LAST)


@op_hook("adaptive_avg_pool")
def adaptive_avg_pool(call: OpCall):
    from ..keras_layout import KTensor, to_layout

    x = to_layout(call.get("input"), CHANNELS_LAST)
    out = call.get("output_size")
    sizes = tuple(out) if isinstance(out, tuple | list) else (out,)
    if None in sizes:
        raise Untranslatable("adaptive pooling that keeps a dimension (None) has no Keras form")
    if any(v != 1 for v in sizes):  # keras.ops uses torch's bins (floor/ceil bounds)
        return KTensor(f"ops.adaptive_average_pool({x.expr}, {out!r})", call.out_meta, CHANNELS_LAST)
    axes = tuple(range(1, x.rank - 1))
    axes_code = f"({', '.join(map(str, axes))}{',' if len(axes) == 1 else ''})"
    return KTensor(f"ops.mean({x.expr}, axis={axes_code}, keepdims=True)", call.out_meta, CHANNELS_LAST)


@op_hook("interpolate")
def interpolate(call: OpCall):
    from ..keras_layout import KTensor, to_layout

    x = to_layout(call.get("input"), CHANNELS_LAST)
    mode = call.get("mode") or "nearest"
    if call.get("size") is not None or call.get("scale_factor") is None:
        raise Untranslatable("interpolate(size=...) is not supported yet; use scale_factor")
    if mode not in ("nearest", "bilinear") or (mode == "bilinear" and call.get("align_corners")):
        raise Untranslatable(f"interpolate(mode={mode!r}, align_corners=True) has no exact Keras form")
    if x.rank != 4:
        raise Untranslatable("interpolate is translated for 2-D images only")
    h, w = (int(v) for v in call.out_meta.shape[2:])
    # integer scales: TensorFlow's half-pixel nearest/bilinear resize picks torch's pixels
    scale = call.get("scale_factor")
    scales = scale if isinstance(scale, tuple | list) else (scale, scale)
    if any(float(v) != int(v) for v in scales):
        raise Untranslatable("a non-integer scale_factor is not supported")
    return KTensor(f"ops.image.resize({x.expr}, ({h}, {w}), interpolation={mode!r})", call.out_meta, CHANNELS_LAST)


__all__ = ["OpCall", "apply_op", "fill"]


@op_hook("unflatten")
def unflatten(call: OpCall):
    out = tuple(call.out_meta.shape)
    texts = ["-1", *map(str, out[1:])]
    dim = int(call.get("dim")) % call.get("input").rank
    for j, size in enumerate(_written_sizes(call.codes.get("sizes"))):
        if size is not None and dim + j < len(texts) and dim + j > 0:
            texts[dim + j] = size  # as written (`self.filters_in * self.expand_ratio`): it may vary per use
    return _reshaped(call, call.get("input"), tuple(texts))


def _written_sizes(source: str | None) -> list[str | None]:
    """The elements of a tuple of sizes as written, where each is plain arithmetic on names
    and attributes (no calls: `x.size(0)` is torch's); None for the others."""
    import libcst as cst

    try:
        node = cst.parse_expression(source) if source else None
    except cst.ParserSyntaxError:
        return []
    if not isinstance(node, cst.Tuple | cst.List):
        return []
    out = []
    for el in node.elements:
        nodes = list(walk(el.value))
        # a size named in the source; numbers (and -1) are the computed sizes already
        plain = not any(isinstance(n, cst.Call | cst.Subscript | cst.Lambda) for n in nodes) and any(
            isinstance(n, cst.Name) for n in nodes)
        out.append(cst.Module([]).code_for_node(el.value) if plain and not isinstance(el, cst.StarredElement) else None)
    return out


@op_hook("pad")
def pad(call: OpCall):
    from ..keras_layout import KTensor, perm

    x = call.get("input")
    if (call.get("mode") or "constant") != "constant":
        raise Untranslatable(f"F.pad(mode={call.get('mode')!r}) is not supported yet")
    flat = tuple(int(v) for v in call.get("pad"))
    widths = [(0, 0)] * x.rank
    for i in range(len(flat) // 2):  # torch lists the last dim first
        widths[x.rank - 1 - i] = (flat[2 * i], flat[2 * i + 1])
    if x.layout == CHANNELS_LAST and x.rank >= 3:
        widths = [widths[d] for d in perm(x.rank, True)]
    text = "(" + ", ".join(f"({a}, {b})" for a, b in widths) + ")"
    value = call.get("value")
    extra = "" if not value else f", constant_values={call.codes.get('value', repr(value))}"
    return KTensor(f"ops.pad({x.expr}, {text}{extra})", call.out_meta, x.layout)


@op_hook("random_tensor")
def random_tensor(call: OpCall):
    """torch.rand/randn(size, dtype=, device=): keras.random.uniform/normal of a size in
    torch's axis order (device has no meaning in Keras)."""
    from ..keras_layout import KTensor

    dist = {"torch.rand": "uniform", "torch.randn": "normal"}[call.rule.torch[0]]
    dtype = f", dtype={call.codes['dtype']}" if "dtype" in call.given else ""
    return KTensor(f"keras.random.{dist}({call.codes['size']}{dtype})", call.out_meta, TORCH_ORDER)
