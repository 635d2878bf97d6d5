"""torch.nn layers -> Keras layers, from the constructor's arguments as written.

Each writer is registered under the `write:` name of a rule (`rules/layers/*.yaml`,
`from_torch:`), which also gives the torch signature the arguments are bound to. An
argument is source text and, where the code writes a constant, its value: a writer
writes the form that is right for every value of a symbolic argument (an explicit
`ZeroPadding2D(padding)` before a 'valid' convolution, `groups=groups`), and the idiomatic
Keras form where the constants allow it (`padding="same"`, no default written).

A class used as a value (`norm_layer = nn.BatchNorm2d`) becomes a function with torch's
signature returning the same form with every argument symbolic (`adapter`).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .kinds import Layer
from .values import CL, T

WRITERS: dict[str, Callable[[Args], Written]] = {}
_MISSING = object()


class NotWritable(Exception):
    """The rule cannot write this use of the layer; the message says why (a TODO)."""


def writer(name: str):
    def register(fn):
        if name in WRITERS:
            raise RuntimeError(f"PyTorch -> Keras layer writer '{name}' registered twice")
        WRITERS[name] = fn
        return fn

    return register


@dataclass
class Written:
    code: str  # the Keras constructor (or a keras.Sequential of a padding and the layer)
    kind: Layer
    support: tuple[str, ...] = ()  # support layers of `support.py` the code uses
    notes: list[str] = field(default_factory=list)


@dataclass
class Args:
    """A torch.nn constructor call bound to its signature."""

    cls: str
    given: dict[str, str]  # parameter -> source text as written
    defaults: dict[str, Any]  # parameter -> default value (signature)
    layers: str = "layers"  # how the file names keras.layers
    imports: set = field(default_factory=set)  # imports the written code needs

    def code(self, name: str) -> str | None:
        return self.given.get(name)

    def const(self, name: str, missing: Any = _MISSING) -> Any:
        """The argument's value when it is a constant in the source (or left out: its
        default); `missing` when the code computes it."""
        if name not in self.given:
            return self.defaults.get(name, missing)
        value = literal(self.given[name])
        return missing if value is _NOT_LITERAL else value

    def known(self, name: str) -> bool:
        return self.const(name) is not _MISSING

    def text(self, name: str) -> str:
        return self.given[name] if name in self.given else repr(self.defaults.get(name))

    def is_default(self, name: str) -> bool:
        return name not in self.given or self.const(name) == self.defaults.get(name, _MISSING)

    def L(self, name: str) -> str:
        return f"{self.layers}.{name}"


_NOT_LITERAL = object()


@functools.lru_cache(maxsize=4096)
def literal(code: str):
    """The value of a constant written in source, or `_NOT_LITERAL`."""
    try:
        return ast.literal_eval(code)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_LITERAL


def ctor(name: str, positional: list[str], keywords: dict[str, str | None]) -> str:
    parts = positional + [f"{k}={v}" for k, v in keywords.items() if v is not None]
    return f"{name}({', '.join(parts)})"


def unless_default(args: Args, name: str) -> str | None:
    return None if args.is_default(name) else args.text(name)


def _all(value, pred) -> bool:
    values = value if isinstance(value, tuple | list) else (value,)
    return all(pred(v) for v in values)


def _tuple(value, n: int) -> tuple:
    return tuple(value) if isinstance(value, tuple | list) else (value,) * n


def _nd(cls: str) -> int:
    return int(cls[-2]) if cls[-2].isdigit() else 2


# -- convolutions ------------------------------------------------------------------------


def _same(args: Args, nd: int) -> bool:
    """torch's symmetric padding is Keras 'same' here (stride 1, odd effective kernel)."""
    p, k, s, d = (args.const(n) for n in ("padding", "kernel_size", "stride", "dilation"))
    if _MISSING in (p, k, s, d) or isinstance(p, str):
        return False
    if not _all(s, lambda v: v == 1):
        return False
    ks, ds, ps = _tuple(k, nd), _tuple(d, nd), _tuple(p, nd)
    return all((ki - 1) * di % 2 == 0 and pi == (ki - 1) * di // 2 for ki, di, pi in zip(ks, ds, ps))


def padded(args: Args, nd: int, layer: str, pad_layer: str | None = None) -> str:
    """`layer` after torch's explicit padding: nothing, or a ZeroPadding layer first."""
    p = args.const("padding")
    if p is not _MISSING and _all(p, lambda v: v == 0):
        return layer
    pad = pad_layer or f"{args.L(f'ZeroPadding{nd}D')}({args.text('padding')})"
    return f"keras.Sequential([{pad}, {layer}])"


@writer("conv")
def conv(args: Args) -> Written:
    nd = _nd(args.cls)
    if args.const("padding_mode", "zeros") != "zeros":  # a computed one is taken to be "zeros"
        raise NotWritable(f"{args.cls}(padding_mode={args.text('padding_mode')}) has no Keras form yet")
    p = args.const("padding")
    same = p == "same" or _same(args, nd)
    keywords = {
        "strides": unless_default(args, "stride"),
        "padding": '"same"' if same else None,
        "dilation_rate": unless_default(args, "dilation"),
        "groups": unless_default(args, "groups"),
        "use_bias": unless_default(args, "bias"),
    }
    groups, cin, cout = args.const("groups"), args.const("in_channels"), args.const("out_channels")
    if nd == 2 and isinstance(groups, int) and groups > 1 and groups == cin and isinstance(cout, int) \
            and cout % cin == 0:  # one filter group per channel: Keras' depthwise convolution
        keywords.pop("groups")
        keywords["depth_multiplier"] = str(cout // cin) if cout != cin else None
        layer = ctor(args.L("DepthwiseConv2D"), [args.text("kernel_size")], keywords)
    else:
        layer = ctor(args.L(f"Conv{nd}D"), [args.text("out_channels"), args.text("kernel_size")], keywords)
    if not same and p != "valid":
        layer = padded(args, nd, layer)
    return Written(layer, Layer(args.cls, wants=CL, rank=nd + 2))


@writer("conv_transpose")
def conv_transpose(args: Args) -> Written:
    nd = _nd(args.cls)
    for name in ("groups", "dilation"):
        if not args.is_default(name):
            raise NotWritable(f"{args.cls} with {name} has no Keras form yet")
    layer = ctor(
        args.L(f"Conv{nd}DTranspose"),
        [args.text("out_channels"), args.text("kernel_size")],
        {"strides": unless_default(args, "stride"), "output_padding": unless_default(args, "output_padding"),
         "use_bias": unless_default(args, "bias")},
    )
    p = args.const("padding")
    if p is _MISSING or not _all(p, lambda v: v == 0):
        # torch's `padding` crops the full transposed output on both sides
        layer = f"keras.Sequential([{layer}, {args.L(f'Cropping{nd}D')}({args.text('padding')})])"
    return Written(layer, Layer(args.cls, wants=CL, rank=nd + 2))


# -- dense, normalisation ----------------------------------------------------------------


@writer("dense")
def dense(args: Args) -> Written:
    return Written(
        ctor(args.L("Dense"), [args.text("out_features")], {"use_bias": unless_default(args, "bias")}),
        Layer(args.cls, wants=T),
    )


def _epsilon(args: Args, name: str = "eps") -> str:
    return args.text(name)


@writer("batch_normalization")
def batch_norm(args: Args) -> Written:
    momentum = args.const("momentum")
    if momentum is None:
        raise NotWritable("BatchNorm with momentum=None (a cumulative average) has no Keras form")
    if args.const("track_running_stats", True) is False:
        raise NotWritable("BatchNorm with track_running_stats=False has no Keras form")
    m = repr(round(1 - momentum, 12)) if momentum is not _MISSING else f"1 - {args.text('momentum')}"
    affine = unless_default(args, "affine")
    return Written(
        ctor(args.L("BatchNormalization"), [], {"epsilon": _epsilon(args), "momentum": m,
                                                "center": affine, "scale": affine}),
        Layer(args.cls, wants=CL),
    )


@writer("layer_normalization")
def layer_norm(args: Args) -> Written:
    shape = args.const("normalized_shape")
    axis = None
    if isinstance(shape, tuple | list) and len(shape) > 1:
        axis = repr(tuple(range(-len(shape), 0)))
    affine = unless_default(args, "elementwise_affine")
    bias = unless_default(args, "bias")
    center = affine if bias is None else (bias if affine is None else f"{affine} and {bias}")
    return Written(
        ctor(args.L("LayerNormalization"), [], {"axis": axis, "epsilon": _epsilon(args), "center": center,
                                                "scale": affine}),
        Layer(args.cls, wants=T),
    )


@writer("group_normalization")
def group_norm(args: Args) -> Written:
    affine = unless_default(args, "affine")
    return Written(
        ctor(args.L("GroupNormalization"), [], {"groups": args.text("num_groups"), "epsilon": _epsilon(args),
                                                "center": affine, "scale": affine}),
        Layer(args.cls, wants=CL),
    )


# -- activations -------------------------------------------------------------------------

# torch.nn activation classes whose Keras activation has the same formula
ACTIVATION_NAMES = {
    "SiLU": "silu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Hardswish": "hard_silu",
    "Hardsigmoid": "hard_sigmoid", "Mish": "mish", "Softsign": "softsign", "SELU": "selu",
    "LogSigmoid": "log_sigmoid", "Tanhshrink": "tanh_shrink",
}


@writer("activation")
def activation(args: Args) -> Written:
    if args.cls == "GELU":
        approx = args.const("approximate")
        if approx == "none":
            return Written(f'{args.L("Activation")}("gelu")', Layer(args.cls))
        flag = "True" if approx == "tanh" else f'{args.text("approximate")} == "tanh"'
        args.imports.add("from functools import partial")
        return Written(f"{args.L('Activation')}(partial(keras.activations.gelu, approximate={flag}))", Layer(args.cls))
    if args.cls == "Softplus":
        if not (args.is_default("beta") and args.is_default("threshold")):
            raise NotWritable("Softplus with beta/threshold has no Keras form yet")
        return Written(f'{args.L("Activation")}("softplus")', Layer(args.cls))
    if args.cls == "CELU":
        if not args.is_default("alpha"):
            raise NotWritable("CELU with alpha has no Keras form yet")
        return Written(f'{args.L("Activation")}("celu")', Layer(args.cls))
    name = ACTIVATION_NAMES.get(args.cls)
    if name is None:
        raise NotWritable(f"nn.{args.cls} has no Keras activation")
    return Written(f'{args.L("Activation")}("{name}")', Layer(args.cls))


@writer("relu")
def relu(args: Args) -> Written:
    return Written(f"{args.L('ReLU')}(max_value=6.0)" if args.cls == "ReLU6" else f"{args.L('ReLU')}()", Layer(args.cls))


@writer("leaky_relu")
def leaky_relu(args: Args) -> Written:
    return Written(f"{args.L('LeakyReLU')}(negative_slope={args.text('negative_slope')})", Layer(args.cls))


@writer("elu")
def elu(args: Args) -> Written:
    return Written(ctor(args.L("ELU"), [], {"alpha": unless_default(args, "alpha")}), Layer(args.cls))


@writer("softmax")
def softmax(args: Args) -> Written:
    if args.const("dim") is None:
        raise NotWritable("nn.Softmax() without dim (torch picks one by rank; say which)")
    return Written(f"{args.L('Softmax')}(axis={args.text('dim')})", Layer(args.cls, wants=T))


@writer("dropout")
def dropout(args: Args) -> Written:
    name = {"Dropout": "Dropout", "Dropout1d": "SpatialDropout1D", "Dropout2d": "SpatialDropout2D"}[args.cls]
    wants = None if name == "Dropout" else CL
    return Written(f"{args.L(name)}({args.text('p')})", Layer(args.cls, wants=wants))


@writer("identity")
def identity(args: Args) -> Written:
    return Written(f"{args.L('Identity')}()", Layer(args.cls))


@writer("flatten")
def flatten(args: Args) -> Written:
    if not (args.is_default("start_dim") and args.is_default("end_dim")):
        raise NotWritable("nn.Flatten with other axes than (1, -1) has no Keras layer; use torch.flatten in forward")
    return Written(f"{args.L('Flatten')}()", Layer(args.cls, wants="flat", gives=T))


# -- pooling -----------------------------------------------------------------------------


def _pool_geometry(args: Args, nd: int, max_pool: bool) -> tuple[str, list[str]]:
    """Keras pooling with torch's padding and ceil_mode: ('valid' pooling, support used)."""
    name = f"{'Max' if max_pool else 'Average'}Pooling{nd}D"
    stride = args.text("stride") if args.const("stride", None) is not None else None
    keywords = {"strides": stride}
    if max_pool and not args.is_default("dilation"):
        raise NotWritable("dilated max pooling has no Keras form")
    layer = ctor(args.L(name), [args.text("kernel_size")], keywords)
    p, ceil = args.const("padding"), args.const("ceil_mode")
    no_pad = p is not _MISSING and _all(p, lambda v: v == 0)
    if no_pad and ceil is False:
        return layer, []
    if not max_pool:
        if ceil is True:
            raise NotWritable("average pooling with ceil_mode has no Keras form yet")
        if args.const("count_include_pad", True) is False:
            # Keras' 'same' average leaves the padding out of the mean: torch's symmetric
            # padding at stride 1 with an odd kernel is that
            k, s_, p_ = (args.const(n) for n in ("kernel_size", "stride", "padding"))
            if s_ is None:
                s_ = k
            if _MISSING not in (k, s_, p_) and all(
                    si == 1 and 2 * pi == ki - 1 for ki, si, pi in zip(_tuple(k, nd), _tuple(s_, nd), _tuple(p_, nd))):
                return layer.removesuffix(")") + ', padding="same")', []
            raise NotWritable("average pooling with this padding and count_include_pad=False has no Keras form")
        return padded(args, nd, layer), []
    # max pooling pads with -inf, and ceil_mode adds what its rounding needs at the end
    pad = ctor(f"TorchPoolPadding{nd}D", [args.text("kernel_size")], {
        "stride": stride, "padding": None if no_pad else args.text("padding"),
        "ceil_mode": None if ceil is False else args.text("ceil_mode"),
    })
    return f"keras.Sequential([{pad}, {layer}])", [f"TorchPoolPadding{nd}D"]


@writer("max_pooling")
def max_pool(args: Args) -> Written:
    nd = _nd(args.cls)
    if args.const("return_indices", False) is True:
        raise NotWritable("max pooling with return_indices has no Keras form")
    code, support = _pool_geometry(args, nd, True)
    return Written(code, Layer(args.cls, wants=CL, rank=nd + 2), tuple(support))


@writer("average_pooling")
def avg_pool(args: Args) -> Written:
    nd = _nd(args.cls)
    if args.const("divisor_override", None) is not None:
        raise NotWritable("average pooling with divisor_override has no Keras form")
    code, support = _pool_geometry(args, nd, False)
    return Written(code, Layer(args.cls, wants=CL, rank=nd + 2), tuple(support))


def _adaptive(args: Args, kind: str) -> Written:
    nd = _nd(args.cls)
    size = args.const("output_size")
    unit = size is not _MISSING and _all(size, lambda v: v == 1)
    if unit:
        code = f"{args.L(f'Global{kind}Pooling{nd}D')}(keepdims=True)"
    else:
        code = f"{args.L(f'Adaptive{kind}Pooling{nd}D')}({args.text('output_size')})"
    return Written(code, Layer(args.cls, wants=CL, rank=nd + 2, unit_spatial=unit))


@writer("adaptive_average_pooling")
def adaptive_avg(args: Args) -> Written:
    return _adaptive(args, "Average")


@writer("adaptive_max_pooling")
def adaptive_max(args: Args) -> Written:
    if args.const("return_indices", False) is not False:
        raise NotWritable("adaptive max pooling with return_indices has no Keras form")
    return _adaptive(args, "Max")


@writer("upsampling")
def upsampling(args: Args) -> Written:
    mode = args.const("mode")
    if mode not in ("nearest", "bilinear") or args.const("size", None) is not None:
        raise NotWritable("nn.Upsample other than nearest/bilinear scale_factor has no Keras form yet")
    interp = None if mode == "nearest" else '"bilinear"'
    if interp and args.const("align_corners", None):
        raise NotWritable("bilinear upsampling with align_corners=True has no Keras form")
    return Written(ctor(args.L("UpSampling2D"), [args.text("scale_factor")], {"interpolation": interp}),
                   Layer(args.cls, wants=CL, rank=4))


@writer("zero_padding")
def zero_padding(args: Args) -> Written:
    nd = _nd(args.cls)
    p = args.const("padding")
    if p is _MISSING:
        raise NotWritable(f"nn.{args.cls} with a computed padding has no Keras form yet")
    if isinstance(p, int):
        value = str(p)
    elif nd == 1:
        value = repr(tuple(p))
    else:  # torch: (left, right, top, bottom); Keras: ((top, bottom), (left, right))
        left, right, top, bottom = p
        value = repr(((top, bottom), (left, right)))
    return Written(f"{args.L(f'ZeroPadding{nd}D')}({value})", Layer(args.cls, wants=CL, rank=nd + 2))


@writer("embedding")
def embedding(args: Args) -> Written:
    for name in ("max_norm", "_weight"):
        if args.const(name, 0) is not None and name in args.given:
            raise NotWritable(f"nn.Embedding({name}=...) has no Keras form")
    notes = []
    if args.given.get("padding_idx"):
        notes.append("padding_idx: Keras' Embedding has no fixed padding row; the weights carry its zeros")
    code = ctor(args.L("Embedding"), [args.text("num_embeddings"), args.text("embedding_dim")], {})
    # indices have no channel axis; the vectors come last in both frameworks
    return Written(code, Layer(args.cls, wants=T, gives=T, adds_axes=1), notes=notes)


@writer("multi_head_attention")
def multi_head_attention(args: Args) -> Written:
    for name in ("add_bias_kv", "add_zero_attn", "kdim", "vdim"):
        if not args.is_default(name):
            raise NotWritable(f"nn.MultiheadAttention({name}=...) has no Keras form yet")
    heads, dim = args.text("num_heads"), args.text("embed_dim")
    h, d = args.const("num_heads"), args.const("embed_dim")
    key_dim = str(d // h) if isinstance(h, int) and isinstance(d, int) else f"{dim} // {heads}"
    code = ctor(args.L("MultiHeadAttention"), [heads, key_dim], {
        "dropout": unless_default(args, "dropout"), "use_bias": unless_default(args, "bias"),
    })
    batch_first = args.const("batch_first")
    if batch_first is _MISSING:
        raise NotWritable("nn.MultiheadAttention(batch_first=...) must be a constant")
    call = "mha" if batch_first else "mha_seq_first"
    return Written(code, Layer(args.cls, wants=T, call=call))


# -- recurrent ---------------------------------------------------------------------------


@writer("recurrent")
def recurrent(args: Args) -> Written:
    """LSTM/GRU/RNN: the Keras layer returns the output sequence (return_sequences); torch's
    call gives (output, state), which the call site writes as `(layer(x), None)`. Keras' GRU
    (reset_after=True) is torch's formulation; levels are a Sequential of layers."""
    name = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}[args.cls]
    if args.const("proj_size", 0) not in (0, _MISSING):
        raise NotWritable("LSTM proj_size has no Keras form")
    if args.const("dropout", 0.0) not in (0, 0.0, _MISSING):
        raise NotWritable(f"nn.{args.cls}(dropout=...) between levels has no Keras form yet")
    keywords = {"return_sequences": "True", "use_bias": unless_default(args, "bias")}
    if args.cls == "RNN":
        nonlinearity = args.const("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise NotWritable("nn.RNN with a computed nonlinearity has no Keras form yet")
        keywords["activation"] = None if nonlinearity == "tanh" else '"relu"'
    layer = ctor(args.L(name), [args.text("hidden_size")], keywords)
    bidirectional = args.const("bidirectional", False)
    if bidirectional is _MISSING:
        raise NotWritable(f"nn.{args.cls}(bidirectional=...) must be a constant")
    if bidirectional:
        layer = f"{args.L('Bidirectional')}({layer})"
    levels = args.const("num_layers", 1)
    if levels is _MISSING:
        layer = f"keras.Sequential([{layer} for _ in range({args.text('num_layers')})])"
    elif levels > 1:
        layer = "keras.Sequential([" + ", ".join([layer] * levels) + "])"
    batch_first = args.const("batch_first", False)
    if batch_first is _MISSING:
        raise NotWritable(f"nn.{args.cls}(batch_first=...) must be a constant")
    return Written(layer, Layer(args.cls, wants=T, gives=T, rank=3, call="rnn" if batch_first else "rnn_seq_first"))
