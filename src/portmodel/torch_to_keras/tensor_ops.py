"""torch functions and tensor methods -> keras.ops, in the layout the port holds each tensor.

Most ops are templates in `rules/ops/*.yaml` (`axes:` arguments are torch axes, rewritten
for the tensor's layout; `layout: torch` ops take the tensor in torch's order); the ones
that need reasoning about shapes (reshapes, permutes, pooling, padding) are hooks here,
registered under the names the rule files give.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from ..core.rules import OpRule
from .interpret import HARD, SOFT, WEAK, R, Run, Todo, _expr, code_of
from .layout import axis_text, concrete, keras_axis, spatial_ones
from .values import CL, DYN, Const, Items, Shape, T, Tensor, Value, Var, Weight

HOOKS: dict[str, Callable[[OpCtx], R]] = {}


def hook(name: str):
    def register(fn):
        if name in HOOKS:
            raise RuntimeError(f"PyTorch -> Keras op hook '{name}' registered twice")
        HOOKS[name] = fn
        return fn

    return register


@dataclass
class OpCtx:
    run: Run
    rule: OpRule
    args: dict[str, R]  # bound to the rule's signature; "*name" collects positional rest
    given: set[str] = field(default_factory=set)
    name: str = ""  # the torch function called (`torch.nn.functional.max_pool2d`)

    @property
    def ops(self) -> str:
        return self.run.k.ops

    def x(self, name: str = "input") -> R:
        r = self.args.get(name)
        if r is None:
            raise Todo(f"{self.rule.torch[0]}: argument '{name}' missing")
        return r

    def tensor(self, name: str = "input") -> Tensor:
        v = self.x(name).v
        return v if isinstance(v, Tensor) else Tensor(T)

    def const(self, name: str, default=None):
        r = self.args.get(name)
        if r is None:
            return default
        return r.v.value if isinstance(r.v, Const) else _literal(r.code, default=_NOTCONST)

    def code(self, name: str, default: str | None = None) -> str | None:
        r = self.args.get(name)
        return r.code if r is not None else default

    def torch_order(self, name: str = "input", strength: int = SOFT) -> str:
        return self.run.as_layout(self.x(name), T, strength)

    def temp(self, code: str) -> str:
        return self.run.file.temp(self.run, code)


_NOTCONST = object()


def _literal(code: str, default=None):
    import ast

    try:
        return ast.literal_eval(code)
    except (ValueError, SyntaxError):
        return default


def bind(rule: OpRule, positional: list[R], keywords: dict[str, R]) -> dict[str, R]:
    out: dict[str, R] = {}
    names = list(rule.signature)
    i = 0
    for name in names:
        if name.startswith("*"):
            rest = positional[i:]
            if len(rest) == 1 and isinstance(rest[0].v, Items):
                out[name] = rest[0]
            elif rest:
                out[name] = R(", ".join(r.code for r in rest), Items(tuple(r.v for r in rest)))
                out[name + "#list"] = R(", ".join(r.code for r in rest))
            i = len(positional)
            continue
        if i < len(positional):
            out[name] = positional[i]
            i += 1
    if i < len(positional):
        raise Todo(f"{rule.torch[0]}: more arguments than its rule's signature ({', '.join(names)})")
    for key, r in keywords.items():
        if key not in names and f"*{key}" not in names:
            alias = {"dim": "dims", "dims": "dim", "axis": "dim", "keepdims": "keepdim", "x": "input"}.get(key)
            if alias in names:
                key = alias
            else:
                raise Todo(f"{rule.torch[0]}: argument '{key}' is not in its rule's signature")
        out[key] = r
    return out


def apply(run: Run, rule: OpRule, positional: list[R], keywords: dict[str, R], name: str = "") -> R:
    args = bind(rule, positional, keywords)
    ctx = OpCtx(run, rule, args, set(args), name or rule.torch[0])
    if rule.hook:
        fn = HOOKS.get(rule.hook)
        if fn is None:
            raise Todo(f"{rule.torch[0]}: no PyTorch -> Keras hook '{rule.hook}'")
        return fn(ctx)
    return template(ctx)


def _main(ctx: OpCtx) -> Tensor | None:
    for name in ctx.rule.signature:
        r = ctx.args.get(name)
        if r is not None and isinstance(r.v, Tensor):
            return r.v
        if r is not None and isinstance(r.v, Items):
            each = r.v.items[0] if r.v.items else r.v.each
            if isinstance(each, Tensor):
                return each
    return None


def template(ctx: OpCtx) -> R:
    rule = ctx.rule
    main = _main(ctx)
    layout = T if rule.layout == "torch" else (main.layout if main is not None else T)
    axes_const = all(ctx.const(a, _NOTCONST) is not _NOTCONST for a in rule.axes if a in ctx.args)
    if rule.axes and main is not None and isinstance(main.layout, Var):
        ctx.run.demand(main.layout, CL, WEAK)
        layout = ctx.run.layouts.get(main.layout.n, CL) if not ctx.run.emit else CL
    if rule.axes and not axes_const:
        layout = T
    if main is not None and concrete(layout) and main.layout == CL and layout == CL and rule.axes:
        # channels-last axes need the rank for negative torch axes; else torch order
        for a in rule.axes:
            v = ctx.const(a, None)
            values = v if isinstance(v, tuple | list) else (v,)
            if any(isinstance(d, int) and axis_text(d, main) is None for d in values):
                layout = T
    texts: dict[str, str] = {}
    for name in rule.signature:
        bare = name.lstrip("*")
        r = ctx.args.get(name)
        if r is None:
            if bare in rule.defaults:
                texts[bare] = rule.defaults[bare]
            continue
        listed = ctx.args.get(name + "#list")
        if name.startswith("*") and listed is not None and isinstance(r.v, Items) and r.v.items is not None:
            texts[bare] = ", ".join(_in_layout(ctx, R(code, v), layout)
                                    for code, v in zip(_split_args(listed.code), r.v.items))
        else:
            texts[bare] = _in_layout(ctx, r, layout)
    for a in rule.axes:
        if a in ctx.args and layout == CL and main is not None:
            texts[a] = _axes(ctx.const(a), main)
        elif a not in ctx.args and a in rule.defaults:
            texts[a] = rule.defaults[a]
    for a, table in rule.values.items():
        if a in texts and texts[a] in table:
            texts[a] = table[texts[a]]
    given = set(ctx.given) | {n for n in rule.defaults}
    code = fill(ctx.run.k.requalify(rule.keras), texts, {n.lstrip("*") for n in given})
    out_layout = layout if main is not None else T
    rank = main.rank if main is not None and not rule.axes else None
    if main is not None and rule.axes and "keepdim" not in rule.signature and rule.layout != "torch":
        rank = main.rank  # an op along an axis (softmax, cat...) keeps the rank
    if main is not None and main.rank is not None and rule.axes and "keepdim" in rule.signature:
        dims = ctx.const(rule.axes[0], None)
        kept = ctx.const("keepdim", False)
        if dims is not None and kept is False:  # a reduction without keepdim drops its axes
            rank = main.rank - (len(dims) if isinstance(dims, tuple | list) else 1)
        elif kept is True:
            rank = main.rank
    if rule.returns == "python":
        return R(code, DYN)
    integer = '"int' in code or (ctx.name == "torch.arange" and not any(
        isinstance(r.v, Const) and isinstance(r.v.value, float) for r in ctx.args.values()) and "dtype" not in ctx.args)
    return R(code, Tensor(out_layout, rank, integer=integer))


def _in_layout(ctx: OpCtx, r: R, layout) -> str:
    v = r.v
    if isinstance(v, Tensor):
        return ctx.run.as_layout(r, layout, HARD if ctx.rule.layout == "torch" else WEAK)
    if isinstance(v, Items) and v.items is not None and any(isinstance(i, Tensor) for i in v.items):
        node = _expr(r.code)
        import libcst as cst

        if isinstance(node, cst.List | cst.Tuple) and len(node.elements) == len(v.items):
            parts = []
            for el, item in zip(node.elements, v.items):
                parts.append(ctx.run.as_layout(R(code_of(el.value), item), layout, WEAK))
            body = ", ".join(parts)
            return f"[{body}]" if isinstance(node, cst.List) else f"({body}{',' if len(parts) == 1 else ''})"
    if isinstance(v, Items) and isinstance(v.each, Tensor):
        if isinstance(v.each.layout, Var):
            ctx.run.demand(v.each.layout, layout, WEAK)
        elif concrete(v.each.layout) and v.each.layout != layout and v.each.rank != 2:
            return f"[{ctx.run.as_layout(R('t', v.each), layout)} for t in {r.code}]"
    return r.code


def _split_args(code: str) -> list[str]:
    node = _expr(f"({code},)")
    return [code_of(el.value) for el in node.elements]


def _axes(value, t: Tensor) -> str:
    if isinstance(value, tuple | list):
        return "(" + ", ".join(axis_text(d, t) for d in value) + ("," if len(value) == 1 else "") + ")"
    return axis_text(value, t)


_OPTIONAL = re.compile(r"\[\?(.*?)\?\]")


def fill(template_text: str, texts: dict[str, str], given: set[str]) -> str:
    def optional(m: re.Match) -> str:
        names = re.findall(r"\{(\w+)\}", m.group(1))
        return m.group(1) if all(n in texts for n in names) and any(n in given for n in names) else ""

    text = _OPTIONAL.sub(optional, template_text)
    missing = [n for n in re.findall(r"\{(\w+)\}", text) if n not in texts]
    if missing:
        raise Todo(f"argument '{missing[0]}' is needed by the Keras form")
    return text.format_map(texts)


# -- hooks -------------------------------------------------------------------------------------


def _shape_of(ctx: OpCtx, code: str) -> str:
    return f"{ctx.ops}.shape({code})"


def _name_for_reuse(ctx: OpCtx, code: str) -> str:
    """`code` as a name, when it is read twice (a temporary assigned before the statement)."""
    if re.fullmatch(r"[\w.]+", code):
        return code
    return ctx.temp(code)


@hook("flatten")
def flatten(ctx: OpCtx) -> R:
    t = ctx.tensor()
    start = ctx.const("start_dim", 0)
    end = ctx.const("end_dim", -1)
    if not isinstance(start, int) or not isinstance(end, int):
        raise Todo("flatten with computed axes")
    x = ctx.x()
    if t.layout == CL and start == 1 and end == -1 and spatial_ones(t):
        code = x.code
    else:
        code = ctx.torch_order(strength=SOFT)
    if start == 0 and end == -1:
        return R(f"{ctx.ops}.reshape({code}, (-1,))", Tensor(T, 1))
    if end == -1 and start == 1:  # the batch size reads the same from the tensor as given
        batch = _name_for_reuse(ctx, x.code if code != x.code and re.fullmatch(r"[\w.]+", x.code) else code)
        if batch == code:
            code = batch
        return R(f"{ctx.ops}.reshape({code}, ({_shape_of(ctx, batch)}[0], -1))", Tensor(T, 2))
    name = _name_for_reuse(ctx, code)
    if end == -1:
        lead = f"*{_shape_of(ctx, name)}[:{start}]"
        return R(f"{ctx.ops}.reshape({name}, ({lead}, -1))", Tensor(T, start + 1))
    tail = f"*{_shape_of(ctx, name)}[{end + 1}:]" if end != -1 else ""
    rank = None
    if t.rank is not None:
        rank = t.rank - ((end % t.rank) - (start % t.rank))
    return R(f"{ctx.ops}.reshape({name}, (*{_shape_of(ctx, name)}[:{start}], -1, {tail}))", Tensor(T, rank))


@hook("reshape")
def reshape(ctx: OpCtx) -> R:
    x = ctx.x()
    shape = ctx.args.get("*shape")
    if shape is None:
        raise Todo("reshape without a shape")
    t = ctx.tensor()
    if t.layout == CL and spatial_ones(t) and _is_flat(shape):
        code = x.code
    else:
        code = ctx.torch_order()
    listed = ctx.args.get("*shape#list")
    if listed is not None:
        shape_code = f"({listed.code})" if len(_split_args(listed.code)) > 1 else f"({listed.code},)"
    elif isinstance(shape.v, Items) and shape.v.items is not None and len(shape.v.items) == 1 \
            and not isinstance(shape.v.items[0], Items | Shape) and shape.v.items[0] == DYN \
            and not _names_a_shape(ctx, shape.code):
        shape_code = f"({shape.code},)"  # x.view(n)
    else:
        shape_code = shape.code
    rank = len(shape.v.items) if isinstance(shape.v, Items) and shape.v.items is not None else None
    return R(f"{ctx.ops}.reshape({code}, {shape_code})", Tensor(T, rank))


def _names_a_shape(ctx: OpCtx, code: str) -> bool:
    """`x.view(new_shape)` where `new_shape` holds a tuple (sizes read from a shape)."""
    v = ctx.run.env.get(code)
    return isinstance(v, Items | Shape)


def _is_flat(shape: R) -> bool:
    v = shape.v
    return isinstance(v, Items) and v.items is not None and len(v.items) == 2 and \
        isinstance(v.items[1], Const) and v.items[1].value == -1


@hook("permute")
def permute(ctx: OpCtx) -> R:
    t = ctx.tensor()
    dims_r = ctx.args.get("*dims")
    dims = None
    if dims_r is not None and isinstance(dims_r.v, Items) and dims_r.v.items is not None:
        values = [i.value if isinstance(i, Const) else None for i in dims_r.v.items]
        if len(values) == 1 and isinstance(dims_r.v.items[0], Items):
            inner = dims_r.v.items[0]
            values = [i.value if isinstance(i, Const) else None for i in (inner.items or ())]
        dims = values if values and all(isinstance(d, int) for d in values) else None
    if dims_r is not None and dims is None and isinstance(dims_r.v, Items) and dims_r.v.items is None:
        dims = None
    if dims is None:
        if dims_r is None:
            raise Todo("permute without its axes")
        code = ctx.torch_order(strength=HARD)
        listed = ctx.args.get("*dims#list")
        perm = f"({listed.code})" if listed is not None else dims_r.code
        return R(f"{ctx.ops}.transpose({code}, {perm})", Tensor(T))
    rank = len(dims)
    dims = [d % rank for d in dims]
    x = ctx.x()
    if isinstance(t.layout, Var):
        ctx.run.demand(t.layout, CL if dims[-1] == 1 else T, WEAK, rank)
        layout = ctx.run.layouts.get(t.layout.n, T)
    else:
        layout = t.layout if t.rank in (None, rank) else T
    if layout == CL:
        src = [0, *range(2, rank), 1]  # keras axis j holds torch axis src[j]
    else:
        src = list(range(rank))
    pos = {torch_axis: j for j, torch_axis in enumerate(src)}
    perm = [pos[d] for d in dims]
    ones = frozenset(i for i, d in enumerate(dims) if d in t.ones)
    if perm == list(range(rank)):
        return R(x.code, Tensor(T, rank, ones))
    if rank > 3 and [perm[j] for j in (0, *range(2, rank), 1)] == list(range(rank)):
        return R(x.code, Tensor(CL, rank, ones))  # the result, channels last, is the tensor as held
    return R(f"{ctx.ops}.transpose({x.code}, {tuple(perm)})", Tensor(T, rank, ones))


@hook("transpose")
def transpose(ctx: OpCtx) -> R:
    d0, d1 = ctx.const("dim0"), ctx.const("dim1")
    t = ctx.tensor()
    if isinstance(d0, int) and isinstance(d1, int) and t.rank is not None and -t.rank <= min(d0, d1) \
            and max(d0, d1) < t.rank:
        dims = list(range(t.rank))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        items = Items(tuple(Const(d) for d in dims))
        sub = OpCtx(ctx.run, ctx.rule, {"input": ctx.x(), "*dims": R(str(tuple(dims)), items)})
        return permute(sub)
    code = ctx.torch_order(strength=HARD)
    return R(f"{ctx.ops}.swapaxes({code}, {ctx.code('dim0')}, {ctx.code('dim1')})", Tensor(T, t.rank))


@hook("size")
def size(ctx: OpCtx) -> R:
    x = ctx.x()
    t = ctx.tensor()
    if "dim" not in ctx.args:
        shape = Shape(t, x.code)
        return R(shape_code(ctx.run, shape), shape)
    return shape_index(ctx.run, Shape(t, x.code), ctx.x("dim"))


def shape_code(run: Run, shape: Shape) -> str:
    """The torch-ordered shape of a tensor as Keras source."""
    t = shape.tensor
    if t.layout == CL and not (t.rank is not None and t.rank <= 2):
        return f"{run.k.ops}.shape({run.k.ops}.moveaxis({shape.code}, -1, 1))"
    if isinstance(t.layout, Var):
        run.demand(t.layout, T, SOFT)
    return f"{run.k.ops}.shape({shape.code})"


def shape_index(run: Run, shape: Shape, index: R) -> R:
    t = shape.tensor
    d = index.v.value if isinstance(index.v, Const) else None
    if isinstance(d, int):
        if isinstance(t.layout, Var):
            run.demand(t.layout, CL, WEAK)
        ax = axis_text(d, t) if t.layout == CL else str(d)
        if ax is not None:
            return R(f"{run.k.ops}.shape({shape.code})[{ax}]", DYN)
    return R(f"{shape_code(run, shape)}[{index.code}]", DYN)


@hook("unflatten")
def unflatten(ctx: OpCtx) -> R:
    dim = ctx.const("dim")
    if not isinstance(dim, int):
        raise Todo("unflatten with a computed axis")
    code = _name_for_reuse(ctx, ctx.torch_order())
    sizes = ctx.code("sizes")
    rest = f", *{ctx.ops}.shape({code})[{dim + 1}:]" if dim != -1 else ""
    n = ctx.const("sizes")
    t = ctx.tensor()
    rank = t.rank - 1 + len(n) if t.rank is not None and isinstance(n, tuple | list) else None
    return R(f"{ctx.ops}.reshape({code}, (*{ctx.ops}.shape({code})[:{dim}], *{sizes}{rest}))", Tensor(T, rank))


@hook("pad")
def pad(ctx: OpCtx) -> R:
    t0 = ctx.tensor()
    if isinstance(t0.layout, Var):  # pads are along axes: either layout serves
        ctx.run.demand(t0.layout, CL, WEAK)
        return R(ctx.x().code, t0)
    if t0.layout == CL and t0.rank is not None:
        return _pad_channels_last(ctx, t0)
    code = ctx.torch_order()
    pads = ctx.x("pad")
    mode = ctx.const("mode", "constant")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise Todo(f"F.pad(mode={mode!r})")
    keras_mode = {"constant": None, "reflect": '"reflect"', "replicate": '"edge"', "circular": '"wrap"'}[mode]
    values = pads.v.items if isinstance(pads.v, Items) and pads.v.items is not None else None
    if values is None:
        raise Todo("F.pad with a computed padding list")
    node = _expr(pads.code)
    if not isinstance(node, cst.Tuple | cst.List):
        raise Todo("F.pad with a padding computed elsewhere")
    parts = [code_of(el.value) for el in node.elements]
    pairs = [f"({parts[i]}, {parts[i + 1]})" for i in range(0, len(parts), 2)][::-1]
    k = len(pairs)
    t = ctx.tensor()
    if t.rank is not None:
        width = "[" + ", ".join(["(0, 0)"] * (t.rank - k) + pairs) + "]"
    else:
        width = f"[(0, 0)] * (len({ctx.ops}.shape({_name_for_reuse(ctx, code)})) - {k}) + [{', '.join(pairs)}]"
        code = _name_for_reuse(ctx, code)
    extra = f", mode={keras_mode}" if keras_mode else ""
    if "value" in ctx.args and mode == "constant":
        extra += f", constant_values={ctx.code('value')}"
    return R(f"{ctx.ops}.pad({code}, {width}{extra})", Tensor(T, t.rank))


def _pad_channels_last(ctx: OpCtx, t: Tensor) -> R:
    """F.pad of a channels-last tensor: torch's (last axis first) pairs on the axes holding them."""
    node = _expr(ctx.x("pad").code)
    if not isinstance(node, cst.Tuple | cst.List):
        return R(ctx.torch_order(), Tensor(T, t.rank))
    parts = [code_of(el.value) for el in node.elements]
    width = ["(0, 0)"] * t.rank
    for i in range(0, len(parts), 2):
        dim = t.rank - 1 - i // 2
        width[keras_axis(dim, t) % t.rank] = f"({parts[i]}, {parts[i + 1]})"
    mode = ctx.const("mode", "constant")
    if mode != "constant":
        raise Todo(f"F.pad(mode={mode!r}) of a channels-last tensor")
    extra = f", constant_values={ctx.code('value')}" if "value" in ctx.args else ""
    return R(f"{ctx.ops}.pad({ctx.x().code}, ({', '.join(width)}){extra})", t)


def _pool_nd(ctx: OpCtx) -> int:
    return 1 if ctx.name.endswith("1d") else 2


@hook("max_pool")
def max_pool(ctx: OpCtx) -> R:
    return _pool(ctx, "max_pool", '-float("inf")')


@hook("avg_pool")
def avg_pool(ctx: OpCtx) -> R:
    if ctx.const("count_include_pad", True) is not True or ctx.const("divisor_override") is not None:
        raise Todo("average pooling without count_include_pad")
    return _pool(ctx, "average_pool", None)


def _pool(ctx: OpCtx, op: str, fill_value: str | None) -> R:
    nd = _pool_nd(ctx)
    if ctx.const("ceil_mode", False) is not False:
        raise Todo("functional pooling with ceil_mode")
    if ctx.const("return_indices", False) is not False:
        raise Todo("pooling with return_indices")
    code = ctx.run.as_layout(ctx.x(), CL)
    k = ctx.code("kernel_size")
    stride = ctx.code("stride") if ctx.const("stride", None) is not None else k
    p = ctx.const("padding", 0)
    if p != 0:
        pcode = ctx.code("padding")
        pairs = f"[(0, 0)] + [(p, p) for p in _ntuple({pcode}, {nd})] + [(0, 0)]"
        ctx.run.file.support.add("_ntuple")
        extra = f", constant_values={fill_value}" if fill_value else ""
        code = f"{ctx.ops}.pad({code}, {pairs}{extra})"
    return R(f"{ctx.ops}.{op}({code}, {k}, {stride})", Tensor(CL, nd + 2))


@hook("adaptive_avg_pool")
def adaptive_avg_pool(ctx: OpCtx) -> R:
    nd = _pool_nd(ctx)
    code = ctx.run.as_layout(ctx.x(), CL)
    size = ctx.const("output_size")
    values = size if isinstance(size, tuple | list) else (size,)
    if all(v == 1 for v in values):
        axes = tuple(range(1, nd + 1))
        return R(f"{ctx.ops}.mean({code}, axis={axes}, keepdims=True)",
                 Tensor(CL, nd + 2, frozenset(range(2, nd + 2))))
    return R(f"{ctx.ops}.adaptive_average_pool({code}, {ctx.code('output_size')})", Tensor(CL, nd + 2))


@hook("interpolate")
def interpolate(ctx: OpCtx) -> R:
    """Integer up-scaling of an image: TensorFlow's half-pixel nearest and bilinear resizes
    pick torch's pixels (bilinear with align_corners=False)."""
    mode = ctx.const("mode", "nearest")
    if mode not in ("nearest", "bilinear") or ctx.const("align_corners", None):
        raise Todo(f"F.interpolate(mode={mode!r}, align_corners=True) has no exact Keras form")
    scale = ctx.const("scale_factor")
    if "size" in ctx.args and ctx.code("size") != "None":
        code = ctx.run.as_layout(ctx.x(), CL)
        size = ctx.code("size")
        return R(f"{ctx.ops}.image.resize({code}, {size}, interpolation={mode!r})", Tensor(CL, 4))
    scales = scale if isinstance(scale, tuple | list) else (scale, scale)
    if scale is None or any(not isinstance(v, int | float) or float(v) != int(v) for v in scales):
        raise Todo("F.interpolate with a computed or non-integer scale_factor has no exact Keras form yet")
    code = _name_for_reuse(ctx, ctx.run.as_layout(ctx.x(), CL))
    h, w = (int(v) for v in scales)
    size = f"({ctx.ops}.shape({code})[1] * {h}, {ctx.ops}.shape({code})[2] * {w})"
    return R(f"{ctx.ops}.image.resize({code}, {size}, interpolation={mode!r})", Tensor(CL, 4))


@hook("expand")
def expand(ctx: OpCtx) -> R:
    code = _name_for_reuse(ctx, ctx.torch_order())
    sizes = ctx.args.get("*size")
    if sizes is None or not isinstance(sizes.v, Items) or sizes.v.items is None:
        raise Todo("expand with computed sizes")
    listed = ctx.args.get("*size#list")
    node = _expr(f"({listed.code},)" if listed is not None else sizes.code)
    elements = node.elements
    if len(elements) == 1 and isinstance(elements[0].value, cst.Tuple | cst.List):  # x.expand((1, -1))
        elements = elements[0].value.elements
    n = len(elements)
    parts = []
    for i, el in enumerate(elements):
        text = code_of(el.value)
        # torch aligns the sizes with the tensor's last axes: -1 keeps the axis n - i from the end
        rank = ctx.tensor().rank
        axis = i - n + rank if rank is not None else i - n
        parts.append(f"{ctx.ops}.shape({code})[{axis}]" if text == "-1" else text)
    return R(f"{ctx.ops}.broadcast_to({code}, ({', '.join(parts)}{',' if len(parts) == 1 else ''}))",
             Tensor(T, len(parts)))


@hook("filled")
def filled(ctx: OpCtx) -> R:
    name = ctx.name.rsplit(".", 1)[1]
    sizes = ctx.args.get("*size")
    if sizes is None:
        raise Todo(f"torch.{name} without a size")
    listed = ctx.args.get("*size#list")
    # one argument is the shape as given (an int or a sequence: ops.zeros takes both)
    shape = f"({listed.code})" if listed is not None and len(_split_args(listed.code)) > 1 else (
        listed.code if listed is not None else sizes.code)
    dtype = ctx.code("dtype")
    if dtype is not None:
        table = ctx.rule.values.get("dtype", {})
        dtype = table.get(dtype, dtype)
    func = {"zeros": "zeros", "ones": "ones", "empty": "zeros"}.get(name, name)
    extra = f", dtype={dtype}" if dtype else ""
    return R(f"{ctx.ops}.{func}({shape}{extra})", Tensor(T))


@hook("random_tensor")
def random_tensor(ctx: OpCtx) -> R:
    name = ctx.name.rsplit(".", 1)[1]
    listed = ctx.args.get("*size#list")
    sizes = ctx.args.get("*size") or ctx.args.get("size")
    shape = f"({listed.code},)" if listed is not None else (sizes.code if sizes else "()")
    fn = "uniform" if name == "rand" else "normal"
    dtype = f", dtype={ctx.code('dtype')}" if "dtype" in ctx.args else ""
    return R(f"keras.random.{fn}({shape}{dtype})", Tensor(T))


@hook("chunk")
def chunk(ctx: OpCtx) -> R:
    t = ctx.tensor()
    dim = ctx.const("dim", 0)
    x = ctx.x()
    if not isinstance(dim, int):
        code, axis = ctx.torch_order(), ctx.code("dim")
        layout = T
    else:
        if isinstance(t.layout, Var):
            ctx.run.demand(t.layout, CL, WEAK)
        axis = axis_text(dim, t) if t.layout == CL else str(dim)
        code, layout = x.code, (t.layout if axis is not None else T)
        if axis is None:
            code, axis, layout = ctx.torch_order(), str(dim), T
    part = Tensor(layout, t.rank)
    return R(f"{ctx.ops}.split({code}, {ctx.code('chunks')}, axis={axis})", Items(None, part))


@hook("roll")
def roll(ctx: OpCtx) -> R:
    t = ctx.tensor()
    code = ctx.x().code
    dims = ctx.const("dims")
    values = dims if isinstance(dims, tuple | list) else (dims,)
    layout = t.layout
    if t.layout == CL and all(isinstance(d, int) and axis_text(d, t) is not None for d in values):
        axes = _axes(dims, t)
    else:
        code, axes, layout = ctx.torch_order(), ctx.code("dims"), T
    return R(f"{ctx.ops}.roll({code}, shift={ctx.code('shifts')}, axis={axes})", Tensor(layout, t.rank))


@hook("dropout")
def dropout(ctx: OpCtx) -> R:
    x = ctx.x()
    p = ctx.code("p", "0.5")
    training = ctx.code("training", "True")
    return R(f"keras.random.dropout({x.code}, {p}) if {training} else {x.code}", x.v)


@hook("linear")
def linear(ctx: OpCtx) -> R:
    code = ctx.torch_order(strength=HARD)
    w = ctx.x("weight")
    out = f"{ctx.ops}.matmul({code}, {_transposed(ctx, w)})"
    if "bias" in ctx.args and ctx.code("bias") != "None":
        out = f"{out} + {ctx.code('bias')}"
    return R(out, Tensor(T, ctx.tensor().rank))


def _transposed(ctx: OpCtx, w: R) -> str:
    """torch's (out, in) weight as the (in, out) matrix ops.matmul takes."""
    if isinstance(w.v, Weight) and w.v.name == "weight" and w.code.startswith(f"{ctx.ops}.transpose("):
        return f"{w.v.owner}.kernel"  # a Dense kernel is already (in, out)
    return f"{ctx.ops}.transpose({w.code})"


@hook("layer_norm")
def layer_norm(ctx: OpCtx) -> R:
    code = ctx.torch_order(strength=HARD)
    shape = ctx.const("normalized_shape")
    n = len(shape) if isinstance(shape, tuple | list) else None
    if n is None:
        shape_code = ctx.code("normalized_shape")
        axis = f"tuple(range(-len({shape_code}), 0))"
    else:
        axis = str(tuple(range(-n, 0))) if n > 1 else "-1"
    parts = [code]
    weight, bias = ctx.code("weight"), ctx.code("bias")
    if weight and weight != "None":
        parts.append(f"gamma={weight}")
    if bias and bias != "None":
        parts.append(f"beta={bias}")
    parts.append(f"axis={axis}")
    parts.append(f"epsilon={ctx.code('eps', '1e-05')}")
    return R(f"{ctx.ops}.layer_normalization({', '.join(parts)})", Tensor(T, ctx.tensor().rank))


@hook("normalize")
def normalize(ctx: OpCtx) -> R:
    t = ctx.tensor()
    dim = ctx.const("dim", 1)
    code = ctx.x().code
    if not (isinstance(dim, int) and (t.layout != CL or axis_text(dim, t) is not None)):
        code, axis = ctx.torch_order(), ctx.code("dim", "1")
        layout = T
    else:
        axis, layout = (axis_text(dim, t) if t.layout == CL else str(dim)), t.layout
    p = ctx.code("p", "2.0")
    eps = ctx.code("eps", "1e-12")
    # torch: x / max(||x||_p, eps)
    norm = f"{ctx.ops}.maximum({ctx.ops}.norm({code}, ord={p}, axis={axis}, keepdims=True), {eps})"
    return R(f"{code} / {norm}", Tensor(layout, t.rank))


__all__ = ["HOOKS", "Value", "apply", "shape_code", "shape_index"]


@hook("clamp")
def clamp(ctx: OpCtx) -> R:
    code = ctx.x().code
    lo, hi = ctx.code("min"), ctx.code("max")
    if lo not in (None, "None") and hi not in (None, "None"):
        out = f"{ctx.ops}.clip({code}, {lo}, {hi})"
    elif hi not in (None, "None"):
        out = f"{ctx.ops}.minimum({code}, {hi})"
    elif lo not in (None, "None"):
        out = f"{ctx.ops}.maximum({code}, {lo})"
    else:
        out = code
    return R(out, ctx.x().v)


@hook("checkpoint")
def checkpoint(ctx: OpCtx) -> R:
    """Gradient checkpointing recomputes in the backward pass; the forward is the call itself."""
    args = ctx.args.get("*args")
    listed = ctx.args.get("*args#list")
    inner = listed.code if listed is not None else (f"*{args.code}" if args is not None else "")
    ctx.run.notes.append((None, "torch.utils.checkpoint: called directly (Keras' RematScope can add recomputation)"))
    v = args.v.each if args is not None and isinstance(args.v, Items) else DYN
    return R(f"{ctx.x('function').code}({inner})", v)
