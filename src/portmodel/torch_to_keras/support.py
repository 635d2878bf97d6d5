"""Keras code the port needs where Keras has no layer for what torch does.

Each piece is written once into a translated file that uses it, after its imports, and
named after what it reproduces. A person can read, keep or replace it.
"""

from __future__ import annotations

_POOL_PADDING = '''

class TorchPoolPadding{nd}D(keras.layers.Layer):
    """PyTorch max pooling's padding, before a 'valid' Keras pooling: `padding` of -inf on
    both sides of each spatial axis and, with `ceil_mode`, what torch's rounding up adds at
    the end (written by portmodel: Keras' pooling pads otherwise)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = _ntuple(kernel_size, {nd})
        self.stride = _ntuple(kernel_size if stride is None else stride, {nd})
        self.padding = _ntuple(padding, {nd})
        self.ceil_mode = ceil_mode

    def call(self, x):
        pads = [(0, 0)]
        for axis, (k, s, p) in enumerate(zip(self.kernel_size, self.stride, self.padding)):
            size = x.shape[axis + 1]
            extra = 0
            if self.ceil_mode:
                out = -(-(size + 2 * p - k) // s) + 1
                if (out - 1) * s >= size + p:
                    out -= 1
                extra = max((out - 1) * s + k - (size + 2 * p), 0)
            pads.append((p, p + extra))
        pads.append((0, 0))
        return keras.ops.pad(x, pads, constant_values=float("-inf"))

    def get_config(self):
        return {{**super().get_config(), "kernel_size": self.kernel_size, "stride": self.stride,
                "padding": self.padding, "ceil_mode": self.ceil_mode}}
'''

_NTUPLE = '''

def _ntuple(value, n):
    """torch's int-or-tuple arguments as a tuple of `n` values."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
'''

_LAYER_DICT = '''

class LayerDict(keras.layers.Layer):
    """torch.nn.ModuleDict's interface on a Keras layer: sublayers by name, in the order they
    were added (written by portmodel)."""

    def __init__(self, layers=None, **kwargs):
        super().__init__(**kwargs)
        self.named_layers = {}
        for name, layer in dict(layers or {}).items():
            self.add_module(name, layer)

    def add_module(self, name, layer):
        self.named_layers[name] = layer

    def __getitem__(self, name):
        return self.named_layers[name]

    def __len__(self):
        return len(self.named_layers)

    def __iter__(self):
        return iter(self.named_layers)

    def items(self):
        return self.named_layers.items()

    def values(self):
        return self.named_layers.values()

    def keys(self):
        return self.named_layers.keys()
'''

_NAMED_SEQUENTIAL = '''

class NamedSequential(keras.Sequential):
    """nn.Sequential(OrderedDict(...)): the layers in order, each also an attribute by its name
    (written by portmodel)."""

    def __init__(self, named_layers=None, **kwargs):
        named_layers = dict(named_layers or {})
        super().__init__(list(named_layers.values()), **kwargs)
        self.layer_names = list(named_layers)

    def add_module(self, name, layer):
        self.add(layer)
        self.layer_names.append(name)

    def __getattr__(self, name):
        names = self.__dict__.get("layer_names", ())
        if name in names:
            return self.layers[names.index(name)]
        raise AttributeError(f"{type(self).__name__} has no layer or attribute {name!r}")
'''

_INDEX_UPDATE = '''

def index_update(x, index, value, op=None):
    """`x[index] = value` (`op`: "add", "multiply"... for `x[index] += value`) on a Keras tensor,
    which cannot be assigned into: the positions `index` selects are replaced (written by portmodel)."""
    x = keras.ops.convert_to_tensor(x)
    positions = keras.ops.reshape(keras.ops.arange(keras.ops.size(x)), keras.ops.shape(x))[index]
    old = x[index]
    new = keras.ops.broadcast_to(keras.ops.cast(value, x.dtype), keras.ops.shape(old))
    if op is not None:
        new = getattr(keras.ops, op)(old, new)
    flat = keras.ops.reshape(positions, (-1, 1))
    mask = keras.ops.scatter(flat, keras.ops.ones(keras.ops.shape(flat)[:1], "bool"), (keras.ops.size(x),))
    values = keras.ops.scatter(flat, keras.ops.reshape(new, (-1,)), (keras.ops.size(x),))
    shape = keras.ops.shape(x)
    return keras.ops.where(keras.ops.reshape(mask, shape), keras.ops.reshape(values, shape), x)
'''

SUPPORT: dict[str, tuple[str, tuple[str, ...]]] = {
    "LayerDict": (_LAYER_DICT, ()),
    "NamedSequential": (_NAMED_SEQUENTIAL, ()),
    "index_update": (_INDEX_UPDATE, ()),  # name -> (source, what it needs first)
    "_ntuple": (_NTUPLE, ()),
    "TorchPoolPadding1D": (_POOL_PADDING.format(nd=1), ("_ntuple",)),
    "TorchPoolPadding2D": (_POOL_PADDING.format(nd=2), ("_ntuple",)),
}


def support_code(names: set[str]) -> str:
    """The support pieces `names` need, each once, dependencies first."""
    order: list[str] = []

    def add(name: str) -> None:
        if name in order:
            return
        for dep in SUPPORT[name][1]:
            add(dep)
        order.append(name)

    for name in sorted(names):
        add(name)
    return "".join(SUPPORT[n][0] for n in order)
