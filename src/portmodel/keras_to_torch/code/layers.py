"""Keras layers as PyTorch code, for any value of their arguments (the code engine).

A writer takes a layer call as written (`layers.Conv2D(filters, 3, strides=stride,
padding="same", name=f"{name}_conv")(x)`): its arguments as source text, and what the
engine knows of the input (its channel count as an expression the generated `__init__`
can evaluate, its rank). It gives the module `__init__` builds (None for a layer without
weights, applied as a function), the expression `forward` computes over `{m}` (the module)
and `{x}` (the input, or the inputs joined), and the channel count and rank afterwards.

Writers are keyed by the rule family's `lower` name (`rules/layers/*.yaml` says which Keras
classes a family covers and in which order their positional arguments come), so the
mapping from a Keras class to its writer stays in the rule files. Tensors are held in
torch's order (channels first); the Keras code around them keeps believing in
channels-last (`backend.image_data_format()` is "channels_last" in the port), so axes the
code passes (`axis=bn_axis`, `Concatenate(axis=-1)`) are Keras axes, rewritten here.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from ..hooks import Untranslatable
from ..hooks.conv import SAME_PAD, transpose_padding
from ..hooks.core import AUGMENTATION_NOTE, CROP_DEFAULTS, crop_pairs, crop_slice
from ..hooks.norm import NORMALIZATION
from ..hooks.registry import support_function

SEVERAL_INPUTS = frozenset({"multi_head_attention"})  # writers of layers called with several tensors ({x0}, {x1})
UNKNOWN_CHANNELS = ""  # the channel count is only known when the module first runs (LazyLinear)
SUM_OF_INPUTS = "+"  # a concatenation over channels: the inputs' counts added
UNKNOWN_SIZE = ""  # the spatial size is not known to `__init__` (a reshape to -1, say)
NO_SIZE = "()"  # no spatial axes left (a global pool, a Flatten)


@dataclass
class Args:
    """A layer call's arguments as source text, bound to the rule's signature."""

    given: dict[str, str]
    rank: int | None  # the input's rank (4: an image batch)
    channels: str  # the input's channel count: an expression `__init__` evaluates, or UNKNOWN_CHANNELS
    rules: object = None  # the RuleSet (activations)
    static: dict = field(default_factory=dict)  # argument -> its value where the engine knows it (`bn_axis` = 3)
    # the arguments as `__init__`'s size bookkeeping reads them (`correct_pad(x, 3)` from `x_size`),
    # where that differs from `given`; None: an argument `__init__` cannot read
    sized: dict = field(default_factory=dict)
    rule: object = None  # the LayerRule (its torch class and argument names, for the generic writers)
    cls: str = ""  # the Keras class written (`Conv1D`: a sequence, where the input's rank is not known)
    inputs: int = 1  # the tensors the layer is called with (`attention(query, value)`: 2)

    def text(self, name: str, default: str | None = None) -> str | None:
        return self.given.get(name, default)

    def need(self, *names: str) -> None:
        """Arguments the layer cannot be built without (Keras raises without them too)."""
        missing = [n for n in names if n not in self.given]
        if missing:
            raise Untranslatable(f"{self.cls or 'a layer'} without {', '.join(missing)}")

    def size_text(self, name: str, default: str | None = None) -> str | None:
        """The argument as `__init__` reads it for the size bookkeeping (None: it cannot)."""
        return self.sized[name] if name in self.sized else self.given.get(name, default)

    def value(self, name: str, default=None):
        """The argument's value where the source writes a literal (None: `default`)."""
        text = self.given.get(name)
        if text is None:
            return default
        if name in self.static:
            return self.static[name]
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return _SYMBOLIC

    def is_literal(self, name: str) -> bool:
        return self.value(name) is not _SYMBOLIC


_SYMBOLIC = object()


@dataclass
class Applied:
    """A layer as PyTorch code: the module `__init__` builds (None: a function in `forward`),
    the `forward` expression over `{m}` and `{x}`, channels (None: unchanged) and rank after."""

    module: str | None
    call: str
    channels: str | None = None
    rank: int | None = None
    join: str | None = None  # merge layers: the inputs joined by this operator
    # the spatial size after, an `__init__` expression of `{s}` (the input's size tuple);
    # None: unchanged, UNKNOWN_SIZE: not known to `__init__`
    size: str | None = None
    note: str | None = None  # a note for the report (what the port leaves out, and why)


WRITERS: dict[str, Callable[[Args], Applied]] = {}
# arguments that shape only the Keras object (its name, initial values, regularisers) or that
# the port takes from the checkpoint: the code engine writes no torch argument for them
KERAS_ONLY = frozenset({
    "name", "kernel_initializer", "bias_initializer", "depthwise_initializer", "pointwise_initializer",
    "gamma_initializer", "beta_initializer", "moving_mean_initializer", "moving_variance_initializer",
    "kernel_regularizer", "bias_regularizer", "activity_regularizer", "depthwise_regularizer",
    "gamma_regularizer", "beta_regularizer", "kernel_constraint", "bias_constraint", "dtype", "trainable",
    "synchronized", "input_shape",
})


def paren(text: str) -> str:
    """An expression as an operand of `*`, `+` ...: parenthesized unless a name or a number."""
    return text if text.isidentifier() or text.isdigit() else f"({text})"


def writer(name: str):
    def register(fn):
        if name in WRITERS:
            raise RuntimeError(f"code writer '{name}' registered twice")
        WRITERS[name] = fn
        return fn

    return register


ACTIVATION = support_function('''
def keras_activation(x, name, dim=1):
    """A Keras activation given by name, as the port computes it (None and "linear": none);
    written by portmodel where the name is an argument of the model, known only at run time."""
    if name is None or name == "linear":
        return x
    if callable(name):
        return name(x)
    functions = {
        "relu": F.relu, "relu6": F.relu6, "elu": F.elu, "selu": F.selu, "gelu": F.gelu,
        "silu": F.silu, "swish": F.silu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
        "hard_sigmoid": F.hardsigmoid, "hard_silu": F.hardswish, "hard_swish": F.hardswish,
        "softplus": F.softplus, "softsign": F.softsign, "exponential": torch.exp,
        "softmax": lambda t: F.softmax(t, dim=dim), "log_softmax": lambda t: F.log_softmax(t, dim=dim),
    }
    if name not in functions:
        raise ValueError(f"activation {name!r} has no PyTorch form in this port")
    return functions[name](x)
''')


CORRECT_PAD = support_function('''
def keras_correct_pad(x, kernel_size):
    """keras.applications' `imagenet_utils.correct_pad` for a channels-first tensor: the zero
    padding ((top, bottom), (left, right)) a stride-2 'valid' convolution needs to match
    TensorFlow's 'same'."""
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1 - x.shape[2] % 2, 1 - x.shape[3] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))
''')
SAME_AVG_POOL = support_function('''
def tf_same_avg_pool2d(x, kernel_size, stride):
    """TensorFlow's 'same' average pooling: each window's mean over the pixels inside the
    input (the padding counted out), the odd padding pixel at the end."""
    ones = torch.ones_like(x[:1, :1])
    total = F.avg_pool2d(tf_same_pad(x, kernel_size, stride), kernel_size, stride)
    return total / F.avg_pool2d(tf_same_pad(ones, kernel_size, stride), kernel_size, stride)
''')
GET_UID = support_function('''
def keras_get_uid(prefix=""):
    """Keras' `backend.get_uid`: a counter per name prefix (1, 2, ...), for the names Keras
    makes up where none is given."""
    counts = keras_get_uid.__dict__.setdefault("counts", {})
    counts[prefix] = counts.get(prefix, 0) + 1
    return counts[prefix]
''')

LAYER_KEY = support_function('''
def keras_layer_key(modules, name, base):
    """The key of a layer built with the Keras name `name` in `modules`; where the name is
    None, the one Keras would give it (`conv2d`, `conv2d_1`, ...)."""
    if name is not None:
        return name
    key, n = base, 1
    while key in modules:
        key, n = f"{base}_{n}", n + 1
    return key
''')
FIXED_AFFINE = support_function('''
def keras_fixed_affine(norm, scale=True, center=True):
    """A torch normalisation layer for a Keras one built with scale=False or center=False: its
    weight (ones) or bias (zeros) a constant buffer, not a parameter of the checkpoint."""
    for name, kept, fill in (("weight", scale, 1.0), ("bias", center, 0.0)):
        if not kept:
            value = getattr(norm, name).detach().clone().fill_(fill)
            del norm._parameters[name]
            norm.register_buffer(name, value, persistent=False)
    return norm
''')
PAD_AMOUNTS = support_function('''
def keras_pad_amounts(padding):
    """ZeroPadding2D's `padding` (an int, (rows, cols) or ((top, bottom), (left, right))) as
    F.pad's amounts (left, right, top, bottom)."""
    if isinstance(padding, int):
        padding = (padding, padding)
    (top, bottom), (left, right) = [(p, p) if isinstance(p, int) else tuple(p) for p in padding]
    return (left, right, top, bottom)
''')
CONV_SIZE = support_function('''
def keras_conv_size(size, kernel_size, strides=1, padding="valid", dilation_rate=1):
    """The spatial size (a tuple, None where unknown) after a Keras convolution or pooling
    window of `kernel_size`, `strides` and `dilation_rate` (each an int or one per axis)."""
    n = len(size)
    k, s, d = [(v,) * n if isinstance(v, int) else tuple(v) for v in (kernel_size, strides, dilation_rate)]
    same = str(padding).lower() == "same"
    return tuple(None if size[i] is None else (size[i] - 1) // s[i] + 1 if same
                 else (size[i] - (k[i] - 1) * d[i] - 1) // s[i] + 1 for i in range(n))
''')
PAD_SIZE = support_function('''
def keras_pad_size(size, padding):
    """The spatial size (a tuple, None where unknown) after Keras' ZeroPadding (an int, one
    per axis or one (start, end) pair per axis)."""
    n = len(size)
    if isinstance(padding, int):
        padding = (padding,) * n
    pairs = [(p, p) if isinstance(p, int) else tuple(p) for p in padding]
    return tuple(None if size[i] is None else size[i] + pairs[i][0] + pairs[i][1] for i in range(n))
''')
CORRECT_PAD_SIZE = support_function('''
def keras_correct_pad_size(size, kernel_size):
    """keras.applications' `imagenet_utils.correct_pad` from a spatial size (a tuple, None
    where unknown), as `__init__` knows it."""
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))
''')


def activation(rules, text: str | None, x: str, rank: int | None) -> str:
    """`x` through the Keras activation written `text` (a literal name, None, or an expression)."""
    if text is None:
        return x
    dim = 1 if rank in (3, 4, 5) else -1
    try:
        name = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return f"{ACTIVATION}({x}, {text}, dim={dim})" if dim != 1 else f"{ACTIVATION}({x}, {text})"
    if name is None or name == "linear":
        return x
    rule = rules.activations.get(name) if isinstance(name, str) else None
    if rule is None:
        raise Untranslatable(f"activation {text} has no rule")
    return rule.torch.format(x=x, dim=dim)


def _need_image(args: Args, what: str) -> None:
    if args.rank not in (4, None):
        raise Untranslatable(f"{what} on a rank-{args.rank} tensor is not translated by the code engine yet")


def _spatial_dims(args: Args, what: str) -> int:
    """The number of spatial axes of the layer's input: 1 (a sequence, rank 3) or 2 (an image,
    rank 4); where the engine does not know the rank (a helper's argument), as the class says
    (`Conv1D`), else 2."""
    if args.rank not in (3, 4, None):
        raise Untranslatable(f"{what} on a rank-{args.rank} tensor is not translated by the code engine yet")
    if args.rank is None:
        return 1 if args.cls.endswith("1D") else 2
    return 1 if args.rank == 3 else 2


def _channels_last(args: Args) -> None:
    fmt = args.value("data_format")
    if fmt not in (None, "channels_last"):
        raise Untranslatable("data_format other than channels_last: the port holds images channels first already")


def _same(args: Args) -> bool | None:
    """True for 'same' padding, False for 'valid', None where the padding is an expression."""
    pad = args.value("padding", "valid")
    if pad is _SYMBOLIC:
        return None
    return str(pad).lower() == "same"


KERAS_SAME_PAD = support_function('''
def keras_same_pad(x, kernel_size, strides=1, dilation_rate=1):
    """TensorFlow's 'same' padding of a channels-first `x` for a Keras layer's kernel_size,
    strides and dilation_rate (each an int or one per spatial axis), the odd pixel at the end."""
    n = x.dim() - 2
    sizes = [(v,) * n if isinstance(v, int) else tuple(v) for v in (kernel_size, strides, dilation_rate)]
    return tf_same_pad(x, *sizes)
''')


def _padded(args: Args, m: str) -> str:
    """`{m}({x})` with TensorFlow's 'same' padding where the layer asks for it: torch's
    `padding="same"` only takes stride 1 and pads the odd pixel first."""
    same = _same(args)
    sizes = [args.text("kernel_size"), args.text("strides", "1"), args.text("dilation_rate", "1")]
    if sizes[2] == "1":
        sizes = sizes[:2]
    runtime = f"{KERAS_SAME_PAD}({{x}}, {', '.join(sizes)})"
    if same is False:
        return f"{m}({{x}})"
    if same is None:
        return f"{m}({runtime} if str({args.text('padding')}).lower() == \"same\" else {{x}})"
    return f"{m}({runtime})"


def _same_is_symmetric(args: Args) -> bool:
    """'same' padding torch's own `padding="same"` does exactly: stride 1 written out."""
    ones = (1, (1,), (1, 1), [1], [1, 1])
    return _same(args) is True and args.value("strides", 1) in ones and args.value("dilation_rate", 1) in ones


def _kw(parts: list[str], torch_name: str, text: str | None, default=None) -> None:
    if text is not None and text != repr(default):
        parts.append(f"{torch_name}={text}")


@writer("conv")
def conv(args: Args) -> Applied:
    nd = _spatial_dims(args, "Conv1D/Conv2D")
    _channels_last(args)
    filters, k = args.text("filters"), args.text("kernel_size")
    if filters is None or k is None:
        raise Untranslatable("a convolution without filters or kernel_size")
    parts = [args.channels, filters, k]
    _kw(parts, "stride", args.text("strides"), 1)
    _kw(parts, "dilation", args.text("dilation_rate"), 1)
    _kw(parts, "groups", args.text("groups"), 1)
    _kw(parts, "bias", args.text("use_bias"), True)
    if args.value("padding") == "causal":
        return _causal(args, parts, filters)
    return _conv_like(args, parts, filters, nd)


def _causal(args: Args, parts: list[str], filters: str) -> Applied:
    """Conv1D(padding="causal"): (kernel_size - 1) * dilation_rate zeros before the sequence."""
    if _spatial_dims(args, "causal padding") != 1:
        raise Untranslatable("causal padding of other than a sequence (Conv1D)")
    if not args.channels:
        raise Untranslatable("the convolution's input channels are not known to the code engine")
    k, d = _single(args.value("kernel_size")), _single(args.value("dilation_rate", 1))
    if isinstance(k, int) and isinstance(d, int):
        amount = str((k - 1) * d)
    else:  # an argument of the builder: an int (Keras also takes a one-element tuple, not read here)
        amount = f"({args.text('kernel_size')} - 1)" + ("" if d == 1 else f" * {args.text('dilation_rate')}")
    size = None if _single(args.value("strides", 1)) == 1 else UNKNOWN_SIZE
    return Applied(f"nn.Conv1d({', '.join(parts)})", f"{{m}}(F.pad({{x}}, ({amount}, 0)))", filters, 3, size=size)


def _single(value):
    """A 1-D layer's size written as an int or a one-element tuple, as the int."""
    return value[0] if isinstance(value, list | tuple) and len(value) == 1 else value


@writer("depthwise_conv")
def depthwise_conv(args: Args) -> Applied:
    _need_image(args, "DepthwiseConv2D")
    _channels_last(args)
    args.need("kernel_size")
    k = args.text("kernel_size")
    dm = args.text("depth_multiplier", "1")
    out = args.channels if dm == "1" else f"{args.channels} * {dm}"
    parts = [args.channels, out, k]
    _kw(parts, "stride", args.text("strides"), 1)
    _kw(parts, "dilation", args.text("dilation_rate"), 1)
    parts.append(f"groups={args.channels}")
    _kw(parts, "bias", args.text("use_bias"), True)
    return _conv_like(args, parts, None if dm == "1" else out)


def _conv_like(args: Args, parts: list[str], out: str | None, nd: int = 2) -> Applied:
    if _same_is_symmetric(args):
        parts.append('padding="same"')
        call = "{m}({x})"
    else:
        call = _padded(args, "{m}")
    if not args.channels:
        raise Untranslatable("the convolution's input channels are not known to the code engine")
    return Applied(f"nn.Conv{nd}d({', '.join(parts)})", call, out, nd + 2, size=_window_size(args, "kernel_size"))


def _window_size(args: Args, kernel: str, strides: str | None = None) -> str:
    """The size after a convolution or pooling window, as `__init__` computes it."""
    texts = [args.size_text(kernel), strides or args.size_text("strides", "1"),
             args.size_text("padding", '"valid"'), args.size_text("dilation_rate", "1")]
    if None in texts:
        return UNKNOWN_SIZE
    if texts[3] == "1":
        texts = texts[:3]
    return f"{CONV_SIZE}({{s}}, {', '.join(texts)})"


@writer("separable_conv")
def separable_conv(args: Args) -> Applied:
    """Depthwise then pointwise, as the rule's two-module nn.Sequential (its weights: 0, 1)."""
    _need_image(args, "SeparableConv2D")
    _channels_last(args)
    args.need("filters", "kernel_size")
    filters, k = args.text("filters"), args.text("kernel_size")
    dm = args.text("depth_multiplier", "1")
    mid = args.channels if dm == "1" else f"{args.channels} * {dm}"
    depthwise = [args.channels, mid, k]
    _kw(depthwise, "stride", args.text("strides"), 1)
    _kw(depthwise, "dilation", args.text("dilation_rate"), 1)
    depthwise += [f"groups={args.channels}", "bias=False"]
    pointwise = [mid, filters, "1"]
    _kw(pointwise, "bias", args.text("use_bias"), True)
    applied = _conv_like(args, depthwise, filters)
    module = f"nn.Sequential({applied.module}, nn.Conv2d({', '.join(pointwise)}))"
    return Applied(module, applied.call, filters, 4, size=applied.size)


@writer("dense")
def dense(args: Args) -> Applied:
    args.need("units")
    units = args.text("units")
    bias = [f"bias={args.text('use_bias')}"] if args.text("use_bias") not in (None, "True") else []
    if args.channels:
        module = f"nn.Linear({', '.join([args.channels, units, *bias])})"
    else:  # after a Flatten of an input whose size the builder leaves open
        module = f"nn.LazyLinear({', '.join([units, *bias])})"
    call = "{m}({x})" if args.rank in (2, None) else "{m}({x}.movedim(1, -1)).movedim(-1, 1)"
    return Applied(module, call, units)


@writer("batch_norm")
def batch_norm(args: Args) -> Applied:
    rank = args.rank or 4
    axis = args.value("axis", -1)
    if axis is _SYMBOLIC or axis not in (-1, rank - 1):
        raise Untranslatable(f"BatchNormalization(axis={args.text('axis')}) on a rank-{rank} tensor: "
                             "only the channel axis is translated")
    center, scale = args.value("center", True), args.value("scale", True)
    if center is _SYMBOLIC or scale is _SYMBOLIC:
        raise Untranslatable("BatchNormalization whose center or scale is only known at run time")
    eps = args.text("epsilon", "0.001")
    momentum = args.text("momentum", "0.99")
    m = ast.literal_eval(momentum) if args.is_literal("momentum") else None
    momentum_torch = repr(round(1 - m, 10)) if isinstance(m, float) else f"1 - {momentum}"
    cls = {2: "nn.BatchNorm1d", 3: "nn.BatchNorm1d", 4: "nn.BatchNorm2d", 5: "nn.BatchNorm3d"}[rank]
    if rank == 3:
        raise Untranslatable("BatchNormalization over the last axis of a sequence")
    if center and scale:
        return Applied(f"{cls}({args.channels}, eps={eps}, momentum={momentum_torch})", "{m}({x})")
    flags = "".join(f", {n}=False" for n, on in (("scale", scale), ("center", center)) if not on)
    return Applied(f"{FIXED_AFFINE}({cls}({args.channels}, eps={eps}, momentum={momentum_torch}){flags})", "{m}({x})")


@writer("layer_norm")
def layer_norm(args: Args) -> Applied:
    """nn.LayerNorm over the Keras last axis: the port's channels (dim 1) moved last and back;
    a rank-2 tensor (after a global pool) as it is."""
    rank = args.rank
    axis = args.value("axis", -1)
    if isinstance(axis, list | tuple) and len(axis) == 1:
        axis = axis[0]
    if axis is _SYMBOLIC or not isinstance(axis, int) or axis not in (-1, (rank or 0) - 1):
        raise Untranslatable(f"LayerNormalization(axis={args.text('axis')}) on a rank-{rank or '?'} tensor: "
                             "only the last (channel) axis is translated")
    if args.value("rms_scaling", False) is not False:
        raise Untranslatable("LayerNormalization(rms_scaling=...): deprecated in Keras (it scales by the "
                             "variance), not translated")
    if not args.channels:
        raise Untranslatable("LayerNormalization of a tensor whose channel count the code engine does not know")
    norm = f"nn.LayerNorm({args.channels}, eps={args.text('epsilon', '0.001')}"
    module = _affine(args, norm, "elementwise_affine=False", "bias=False")
    call = "{m}({x})" if rank == 2 else "{m}({x}.movedim(1, -1)).movedim(-1, 1)"
    return Applied(module, call)


def _affine(args: Args, norm: str, neither: str, no_bias: str | None = None) -> str:
    """The torch normalisation `norm` (its constructor, not closed) as Keras' center and scale
    ask: both, as it is; neither, with torch's flag `neither`; no center, with `no_bias` where
    torch has one; else (scale=False, or either only known at run time) the missing weight a
    constant (`keras_fixed_affine`)."""
    center, scale = args.value("center", True), args.value("scale", True)
    if center is True and scale is True:
        return norm + ")"
    if center is False and scale is False:
        return norm + f", {neither})"
    if no_bias and center is False and scale is True:
        return norm + f", {no_bias})"
    flags = "".join(f", {n}={args.text(n)}" for n in ("scale", "center") if args.text(n) not in (None, "True"))
    return f"{FIXED_AFFINE}({norm}){flags})"


@writer("activation")
def activation_layer(args: Args) -> Applied:
    return Applied(None, activation(args.rules, args.text("activation"), "{x}", args.rank))


@writer("relu")
def relu(args: Args) -> Applied:
    top, slope, threshold = args.value("max_value"), args.value("negative_slope", 0.0), args.value("threshold", 0.0)
    if slope not in (0, 0.0) or threshold not in (0, 0.0):
        raise Untranslatable("ReLU with negative_slope or threshold")
    if top is None:
        return Applied(None, "F.relu({x})")
    if top == 6.0:
        return Applied(None, "F.relu6({x})")
    return Applied(None, f"torch.clamp({{x}}, 0.0, {args.text('max_value')})")


@writer("softmax")
def softmax(args: Args) -> Applied:
    return Applied(None, f"F.softmax({{x}}, dim={_axis(args, args.value('axis', -1))})")


def _axis(args: Args, axis) -> int:
    """A Keras axis (channels last) as the torch dim of the channels-first tensor."""
    if axis is _SYMBOLIC:
        raise Untranslatable("an axis only known at run time")
    rank = args.rank or 4
    axis = axis % rank
    if rank < 3 or axis == 0:
        return axis
    return 1 if axis == rank - 1 else axis + 1


def _pool_sizes(args: Args, name: str, default, nd: int = 2):
    value = args.value(name, default)
    if value is _SYMBOLIC:
        return _Text(args.text(name))  # torch takes an int or one per axis, as Keras
    return (value,) * nd if isinstance(value, int) else tuple(value)


@dataclass(frozen=True)
class Sequence:
    """A tuple the code builds from values known at run time (`se_shape = (1, 1, filters)`):
    its name and length."""

    name: str
    length: int


class _Text(str):
    """An argument only known at run time, written as its source text."""

    def __repr__(self) -> str:
        return str(self)


@writer("max_pool")
def max_pool(args: Args) -> Applied:
    return _pool(args, "max")


@writer("avg_pool")
def avg_pool(args: Args) -> Applied:
    return _pool(args, "avg")


def _pool(args: Args, kind: str) -> Applied:
    nd = _spatial_dims(args, "pooling")
    _channels_last(args)
    k = _pool_sizes(args, "pool_size", 2, nd)
    s = _pool_sizes(args, "strides", None, nd) if args.value("strides") is not None else k
    same = _same(args)
    if same is None:
        raise Untranslatable("pooling padding only known at run time")
    if same and (isinstance(k, _Text) or isinstance(s, _Text)):
        raise Untranslatable("'same' pooling with a window or stride only known at run time")
    x = "{x}"
    padding = '"same"' if same else '"valid"'
    size = f"{CONV_SIZE}({{s}}, {k}, {s}, {padding})"
    if same and (k != (1,) * nd or s != (1,) * nd):
        if kind == "avg" and nd == 2:  # TensorFlow leaves the padding out of the mean
            return Applied(None, f"{SAME_AVG_POOL}({{x}}, {k}, {s})", size=size)
        if kind == "avg":
            raise Untranslatable("'same' 1-D average pooling is not translated by the code engine yet")
        x = f"{SAME_PAD}({{x}}, {k}, {s}, value=float(\"-inf\"))"
    return Applied(None, f"F.{kind}_pool{nd}d({x}, {k}, {s})", size=size)


@writer("global_avg_pool")
def global_avg_pool(args: Args) -> Applied:
    return _global(args, "mean")


@writer("global_max_pool")
def global_max_pool(args: Args) -> Applied:
    return _global(args, "amax")


def _global(args: Args, fn: str) -> Applied:
    nd = _spatial_dims(args, "global pooling")
    _channels_last(args)
    keep = args.value("keepdims", False)
    if keep is _SYMBOLIC:
        raise Untranslatable("keepdims only known at run time")
    dims = "2" if nd == 1 else "(2, 3)"
    if keep:
        return Applied(None, f"{{x}}.{fn}({dims}, keepdim=True)", size="(1,)" if nd == 1 else "(1, 1)")
    return Applied(None, f"{{x}}.{fn}({dims})", rank=2, size=NO_SIZE)


@writer("zero_padding")
def zero_padding(args: Args) -> Applied:
    _need_image(args, "ZeroPadding2D")
    _channels_last(args)
    pad = args.value("padding", (1, 1))
    text = args.size_text("padding", "(1, 1)")
    size = UNKNOWN_SIZE if text is None else f"{PAD_SIZE}({{s}}, {text})"
    if pad is _SYMBOLIC:
        return Applied(None, f"F.pad({{x}}, {PAD_AMOUNTS}({args.text('padding')}))", size=size)
    if isinstance(pad, int):
        (top, bottom), (left, right) = (pad, pad), (pad, pad)
    elif all(isinstance(p, int) for p in pad):
        (top, bottom), (left, right) = (pad[0], pad[0]), (pad[1], pad[1])
    else:
        (top, bottom), (left, right) = pad
    return Applied(None, f"F.pad({{x}}, ({left}, {right}, {top}, {bottom}))", size=size)


CROP = support_function('''
def keras_crop(x, cropping):
    """Keras' Cropping1D/2D/3D `cropping` (an int, one size per spatial axis or one (start, end)
    pair per axis; Cropping1D's pair is (start, end)) on a channels-first `x`."""
    nd = x.dim() - 2
    if isinstance(cropping, int):
        pairs = [(cropping, cropping)] * nd
    elif nd == 1:
        pairs = [tuple(cropping)]
    else:
        pairs = [(c, c) if isinstance(c, int) else tuple(c) for c in cropping]
    spans = [slice(a, x.shape[2 + i] - b) for i, (a, b) in enumerate(pairs)]
    return x[(slice(None), slice(None), *spans)]
''')
CROP_SIZE = support_function('''
def keras_crop_size(size, cropping):
    """The spatial size (a tuple, None where unknown) after Keras' Cropping1D/2D/3D."""
    if isinstance(cropping, int):
        pairs = [(cropping, cropping)] * len(size)
    elif len(size) == 1:
        pairs = [tuple(cropping)]
    else:
        pairs = [(c, c) if isinstance(c, int) else tuple(c) for c in cropping]
    return tuple(None if n is None else n - a - b for n, (a, b) in zip(size, pairs))
''')


@writer("cropping")
def cropping(args: Args) -> Applied:
    """A slice of the channels-first tensor (`{x}[:, :, 1:-1, 2:]`), no module."""
    _channels_last(args)
    rank = args.rank or 4
    if rank not in CROP_DEFAULTS:
        raise Untranslatable(f"cropping of a rank-{rank} tensor")
    crop = args.value("cropping", CROP_DEFAULTS[rank])
    if crop is _SYMBOLIC or isinstance(crop, Sequence):  # sizes only known at run time
        text = args.size_text("cropping")
        size = UNKNOWN_SIZE if text is None else f"{CROP_SIZE}({{s}}, {text})"
        return Applied(None, f"{CROP}({{x}}, {args.text('cropping')})", size=size)
    pairs = crop_pairs(crop, rank - 2)
    written = tuple(pairs) if len(pairs) > 1 else pairs[0]  # Cropping1D's is one (start, end) pair
    return Applied(None, crop_slice(pairs), size=f"{CROP_SIZE}({{s}}, {written})")


@writer("flatten")
def flatten(args: Args) -> Applied:
    _channels_last(args)
    if args.rank == 2:
        return Applied(None, "{x}")
    # Keras flattens channels-last: the Dense after it takes the same kernel
    order = "(0, 2, 3, 1)" if args.rank in (4, None) else "(0, 2, 1)" if args.rank == 3 else None
    if order is None:
        raise Untranslatable(f"Flatten of a rank-{args.rank} tensor")
    return Applied(None, f"torch.flatten({{x}}.permute{order}, 1)", UNKNOWN_CHANNELS, 2, size=NO_SIZE)


@writer("add")
def add(args: Args) -> Applied:
    return Applied(None, "", join=" + ")


@writer("multiply")
def multiply(args: Args) -> Applied:
    return Applied(None, "", join=" * ")


@writer("subtract")
def subtract(args: Args) -> Applied:
    return Applied(None, "", join=" - ")


@writer("maximum")
def maximum(args: Args) -> Applied:
    return Applied(None, "torch.stack({xs}).amax(0)")


@writer("minimum")
def minimum(args: Args) -> Applied:
    return Applied(None, "torch.stack({xs}).amin(0)")


@writer("average")
def average(args: Args) -> Applied:
    return Applied(None, "torch.stack({xs}).mean(0)")


@writer("concatenate")
def concatenate(args: Args) -> Applied:
    dim = _axis(args, args.value("axis", -1))
    channels = SUM_OF_INPUTS if dim == 1 else None
    return Applied(None, f"torch.cat({{xs}}, dim={dim})", channels, size=None if dim == 1 else UNKNOWN_SIZE)


@writer("reshape")
def reshape(args: Args) -> Applied:
    """Keras reshapes channels-last: the tensor goes to Keras' order, is reshaped there, and an
    image result comes back channels first."""
    target = args.value("target_shape")
    if target is _SYMBOLIC:  # sizes from the arguments: `(1, 1, int(1024 * alpha))`
        try:
            node = ast.parse(args.text("target_shape"), mode="eval").body
        except SyntaxError:
            node = None
        if not isinstance(node, ast.Tuple | ast.List) or any(isinstance(e, ast.Starred) for e in node.elts):
            raise Untranslatable("Reshape to a shape of a length only known at run time")
        target = [_Text(ast.unparse(e)) for e in node.elts]
    if target is None:
        raise Untranslatable("Reshape without a target shape")
    if isinstance(target, Sequence):
        target = [_Text(f"{target.name}[{i}]") for i in range(target.length)]
    to_keras = {4: "{x}.permute(0, 2, 3, 1)", 3: "{x}.transpose(1, 2)", 2: "{x}"}
    if args.rank not in to_keras:
        raise Untranslatable(f"Reshape of a rank-{args.rank} tensor")
    rank = len(target) + 1
    out = f"{to_keras[args.rank]}.flatten(1)"  # the batch axis kept as it is (the target may hold a -1)
    if rank > 2:
        out += f".unflatten(1, ({', '.join(map(str, target))}))"
    if rank not in to_keras:
        raise Untranslatable(f"Reshape to rank {rank}")
    out += {4: ".permute(0, 3, 1, 2)", 3: ".transpose(1, 2)", 2: ""}[rank]  # back to channels first
    channels = str(target[-1]) if target[-1] not in (None, -1, "-1") else UNKNOWN_CHANNELS
    spatial = [str(t) for t in target[:-1]]
    size = UNKNOWN_SIZE if any(t in ("None", "-1") for t in spatial) else \
        "(" + ", ".join(spatial) + ("," if len(spatial) == 1 else "") + ")"
    return Applied(None, out, channels, rank, size=size)


@writer("rescaling")
def rescaling(args: Args) -> Applied:
    """x * scale + offset; a list (per channel) broadcast along the channels, torch's dim 1."""
    out = "{x}"
    for name, op, default in (("scale", "*", 1.0), ("offset", "+", 0.0)):
        text, value = args.text(name), args.value(name, default)
        if text is None or value == default:
            continue
        if value is _SYMBOLIC or isinstance(value, list | tuple):  # maybe one number per channel
            dims = ", ".join(["-1"] + ["1"] * ((args.rank or 4) - 2))
            text = f"torch.as_tensor({text}, dtype={{x}}.dtype).reshape({dims})"
        elif isinstance(value, int | float) and value < 0 and op == "+":
            op, text = "-", repr(-value) if args.is_literal(name) else f"({text})"
        elif not text.replace(".", "").replace("_", "").isalnum():
            text = f"({text})"
        out = f"{out} {op} {text}"
    return Applied(None, out)


@writer("normalization")
def normalization(args: Args) -> Applied:
    rank = args.rank or 4
    if args.value("axis", -1) not in (-1, rank - 1):
        raise Untranslatable(f"Normalization(axis={args.text('axis')}): only the channel axis is translated")
    parts = [args.channels] + [f"{n}={args.text(n)}" for n in ("mean", "variance", "invert") if args.text(n)]
    return Applied(f"{NORMALIZATION}({', '.join(parts)})", "{m}({x})")


@writer("dropout")
def dropout(args: Args) -> Applied:
    args.need("rate")
    noise = args.value("noise_shape")
    if noise is None:
        return Applied(None, f"F.dropout({{x}}, {args.text('rate')}, self.training)")
    if noise is _SYMBOLIC or args.rank is None or len(noise) != args.rank:
        raise Untranslatable("Dropout with a noise_shape the code engine cannot place")
    # the mask's shape (None: the input's size) in torch's order, channels first
    order = list(range(args.rank)) if args.rank < 3 else [0, args.rank - 1, *range(1, args.rank - 1)]
    dims = ", ".join(f"{{x}}.shape[{i}]" if noise[k] is None else str(noise[k]) for i, k in enumerate(order))
    return Applied(None, f"{{x}} * F.dropout({{x}}.new_ones(({dims})), {args.text('rate')}, self.training)")


@writer("inference_identity")
def inference_identity(args: Args) -> Applied:
    """A layer that only acts in training (random augmentation): the identity in the port."""
    return Applied(None, "{x}", note=AUGMENTATION_NOTE)


@writer("conv_transpose")
def conv_transpose(args: Args) -> Applied:
    """nn.ConvTranspose2d, its padding from the window and stride (`transpose_padding`, which
    the first engine shares)."""
    _need_image(args, "Conv2DTranspose")
    _channels_last(args)
    filters = args.text("filters")
    k, s = args.value("kernel_size"), args.value("strides", 1)
    if filters is None or k is None:
        raise Untranslatable("Conv2DTranspose without filters or kernel_size")
    if k is _SYMBOLIC or s is _SYMBOLIC or _same(args) is None:
        raise Untranslatable("Conv2DTranspose whose kernel_size, strides or padding are only known at run time")
    if args.value("dilation_rate", 1) not in (1, (1, 1)) or args.value("output_padding") is not None:
        raise Untranslatable("Conv2DTranspose with dilation_rate or output_padding")
    if not args.channels:
        raise Untranslatable("the transposed convolution's input channels are not known to the code engine")
    k, s = [(v, v) if isinstance(v, int) else tuple(v) for v in (k, s)]
    pad, out_pad, sliced = transpose_padding(k, s, _same(args))
    parts = [args.channels, filters, args.text("kernel_size")]
    _kw(parts, "stride", args.text("strides"), 1)
    if any(pad):
        parts.append(f"padding={tuple(pad)}")
    if any(out_pad):
        parts.append(f"output_padding={tuple(out_pad)}")
    _kw(parts, "bias", args.text("use_bias"), True)
    return Applied(f"nn.ConvTranspose2d({', '.join(parts)})", "{m}({x})" + sliced, filters, 4, size=UNKNOWN_SIZE)


@writer("upsampling")
def upsampling(args: Args) -> Applied:
    """F.interpolate by whole factors; Keras' 'bilinear' is torch's with align_corners=False
    (half-pixel centres)."""
    nd = _spatial_dims(args, "UpSampling")
    _channels_last(args)
    mode = args.value("interpolation", "nearest")
    if mode not in ("nearest", "bilinear") or (mode == "bilinear" and nd != 2):
        raise Untranslatable(f"UpSampling with interpolation={args.text('interpolation')}")
    size = args.value("size", 2)
    factor = args.text("size") if size is _SYMBOLIC else repr(_single(size) if nd == 1 else (
        (size, size) if isinstance(size, int) else tuple(size)))
    extra = ', mode="bilinear", align_corners=False' if mode == "bilinear" else ""
    return Applied(None, f"F.interpolate({{x}}, scale_factor={factor}{extra})", size=UNKNOWN_SIZE)


@writer("module_same_shape")
def module_same_shape(args: Args) -> Applied:
    """A module whose torch constructor takes the rule's renamed arguments (ELU, Identity)."""
    rule = args.rule
    unknown = set(args.given) - set(rule.args) - set(rule.ignore)
    if unknown:
        raise Untranslatable(f"layers.{rule.keras[0]}({', '.join(sorted(unknown))}=...): no rule for the argument")
    kwargs = [f"{rule.args[k]}={v}" for k, v in args.given.items() if k in rule.args]
    return Applied(f"{rule.torch}({', '.join(kwargs)})", "{m}({x})")


@writer("leaky_relu")
def leaky_relu(args: Args) -> Applied:
    """F.leaky_relu with Keras' slope written out (Keras' default 0.3, torch's 0.01; `alpha`
    is Keras 2's name for it)."""
    slope = args.text("negative_slope") or args.text("alpha") or "0.3"
    return Applied(None, f"F.leaky_relu({{x}}, {slope})")


@writer("group_norm")
def group_norm(args: Args) -> Applied:
    rank = args.rank or 4
    axis = args.value("axis", -1)
    if axis is _SYMBOLIC or axis not in (-1, rank - 1):
        raise Untranslatable(f"GroupNormalization(axis={args.text('axis')}): only the channel axis is translated")
    if not args.channels:
        raise Untranslatable("GroupNormalization of a tensor whose channel count the code engine does not know")
    norm = f"nn.GroupNorm({args.text('groups', '32')}, {args.channels}, eps={args.text('epsilon', '0.001')}"
    return Applied(_affine(args, norm, "affine=False"), "{m}({x})")


@writer("embedding")
def embedding(args: Args) -> Applied:
    """nn.Embedding of the token ids; the vectors are the channels (torch's dim 1) after it."""
    if args.value("mask_zero", False) is not False:
        raise Untranslatable("Embedding(mask_zero=...): masking is not translated")
    rank = args.rank or 2
    call = "{m}({x}.long())" + (".movedim(-1, 1)" if rank >= 2 else "")
    args.need("input_dim", "output_dim")
    module = f"nn.Embedding({args.text('input_dim')}, {args.text('output_dim')})"
    return Applied(module, call, args.text("output_dim"), rank + 1, size=UNKNOWN_SIZE)


@writer("lstm")
def lstm(args: Args) -> Applied:
    return _recurrent(args)


@writer("gru")
def gru(args: Args) -> Applied:
    if args.value("reset_after", True) is not True:
        raise Untranslatable("GRU(reset_after=False) has no exact torch equivalent")
    return _recurrent(args)


@writer("simple_rnn")
def simple_rnn(args: Args) -> Applied:
    act = args.value("activation", "tanh")
    if act not in ("tanh", "relu"):
        raise Untranslatable(f"SimpleRNN(activation={args.text('activation')}): torch's RNN has tanh and relu only")
    return _recurrent(args, "" if act == "tanh" else ', nonlinearity="relu"')


def _recurrent(args: Args, extra: str = "") -> Applied:
    """torch's recurrent module, batch first: the sequence (channels first in the port) goes in
    as (batch, steps, features); all steps out, or the last one. The gate order and the split
    biases are the rule's weight transforms (hooks/rnn.py)."""
    name = args.rule.keras[0]
    if args.rank not in (3, None):  # None: a helper's argument, a sequence as the layer says
        raise Untranslatable(f"{name} needs a (batch, steps, features) input")
    for flag in ("go_backwards", "stateful", "return_state"):
        if args.value(flag, False) is not False:
            raise Untranslatable(f"{name}({flag}={args.text(flag)}) is not translated")
    if args.rule.id != "simple_rnn" and args.value("activation", "tanh") != "tanh" \
            or args.value("recurrent_activation", "sigmoid") != "sigmoid":
        raise Untranslatable(f"{name} with other activations than tanh and sigmoid: torch's has only these")
    every_step = args.value("return_sequences", False)
    if every_step not in (True, False):
        raise Untranslatable(f"{name}(return_sequences={args.text('return_sequences')}): only known at run time")
    if not args.channels:
        raise Untranslatable(f"{name} of a sequence whose feature count the code engine does not know")
    args.need("units")
    units = args.text("units")
    parts = [args.channels, units, "batch_first=True"]
    _kw(parts, "bias", args.text("use_bias"), True)
    module = f"{args.rule.torch}({', '.join(parts)}{extra})"
    if every_step:
        return Applied(module, "{m}({x}.transpose(1, 2))[0].transpose(1, 2)", units, 3)
    return Applied(module, "{m}({x}.transpose(1, 2))[0][:, -1]", units, 2, size=NO_SIZE)


@writer("bidirectional")
def bidirectional(args: Args) -> Applied:
    """The wrapped recurrent layer's module with bidirectional=True (the backward weights are
    its *_reverse parameters); without return_sequences, the two final states side by side."""
    if args.text("backward_layer") is not None or args.value("merge_mode", "concat") != "concat":
        raise Untranslatable("Bidirectional with a backward_layer or a merge_mode other than 'concat'")
    inner, rule = _wrapped(args)
    applied = WRITERS[rule.lower](inner)
    module = applied.module[:-1] + ", bidirectional=True)"
    units = f"2 * {paren(applied.channels)}"
    if applied.rank == 3:  # every step: the two directions' features side by side already
        return Applied(module, applied.call, units, 3)
    final = "[1][0]" if rule.lower == "lstm" else "[1]"  # h_n (LSTM: of (h_n, c_n)), one row per direction
    return Applied(module, f"torch.cat({{m}}({{x}}.transpose(1, 2)){final}.unbind(0), dim=-1)", units, 2, size=NO_SIZE)


def _wrapped(args: Args):
    """The recurrent layer a wrapper's `layer` argument builds (`layers.LSTM(units, ...)`), as
    its writer's arguments: (Args, its rule)."""
    try:
        call = ast.parse(args.text("layer") or "", mode="eval").body
    except SyntaxError:
        call = None
    func = call.func if isinstance(call, ast.Call) else None
    cls = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    rule = args.rules.layers.get(cls) if cls else None
    if rule is None or rule.lower not in ("lstm", "gru", "simple_rnn") or \
            any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        raise Untranslatable("Bidirectional of other than an LSTM, GRU or SimpleRNN built in place")
    if len(call.args) > len(rule.signature):
        raise Untranslatable(f"{cls}: more positional arguments than the rule's signature names")
    given = {name: ast.unparse(a) for name, a in zip(rule.signature, call.args)}
    given.update({k.arg: ast.unparse(k.value) for k in call.keywords})
    given = {k: v for k, v in given.items() if k not in KERAS_ONLY}
    return Args(given, args.rank, args.channels, args.rules, rule=rule, cls=cls), rule


@writer("multi_head_attention")
def multi_head_attention(args: Args) -> Applied:
    """nn.MultiheadAttention, batch first, over sequences (channels first in the port: moved
    last and back). Keras calls (query, value[, key]), torch (query, key, value). The packed
    projections only hold Keras' when num_heads * key_dim is the width and the three inputs
    have it too (the checkpoint says otherwise where not: its weights do not fit)."""
    if args.inputs not in (2, 3):
        raise Untranslatable("MultiHeadAttention called with other than (query, value[, key])")
    args.need("num_heads", "key_dim")
    if args.rank not in (3, None):
        raise Untranslatable("MultiHeadAttention over other than sequences (attention_axes)")
    for name in ("value_dim", "output_shape", "attention_axes"):
        if args.text(name) not in (None, "None"):
            raise Untranslatable(f"MultiHeadAttention({name}=...) has no torch form")
    heads, key_dim = args.value("num_heads"), args.value("key_dim")
    if isinstance(heads, int) and isinstance(key_dim, int) and args.channels.isdigit() \
            and heads * key_dim != int(args.channels):
        raise Untranslatable("MultiHeadAttention with num_heads * key_dim != the model width has no torch form")
    parts = [args.channels, args.text("num_heads"), "batch_first=True"]
    _kw(parts, "dropout", args.text("dropout"), 0.0)
    _kw(parts, "bias", args.text("use_bias"), True)
    key = "{x2}" if args.inputs == 3 else "{x1}"
    last = "{}.transpose(1, 2)"
    call = "{m}(" + ", ".join(last.format(t) for t in ("{x0}", key, "{x1}")) + ", need_weights=False)[0].transpose(1, 2)"
    return Applied(f"nn.MultiheadAttention({', '.join(parts)})", call, None, 3)
