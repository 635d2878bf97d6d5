"""A VGG-style CNN: named stages in OrderedDicts, padded max pooling, view-flatten."""
from collections import OrderedDict

import keras
from keras import layers, ops


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


def _ntuple(value, n):
    """torch's int-or-tuple arguments as a tuple of `n` values."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


class TorchPoolPadding2D(keras.layers.Layer):
    """PyTorch max pooling's padding, before a 'valid' Keras pooling: `padding` of -inf on
    both sides of each spatial axis and, with `ceil_mode`, what torch's rounding up adds at
    the end (written by portmodel: Keras' pooling pads otherwise)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = _ntuple(kernel_size, 2)
        self.stride = _ntuple(kernel_size if stride is None else stride, 2)
        self.padding = _ntuple(padding, 2)
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
        return {**super().get_config(), "kernel_size": self.kernel_size, "stride": self.stride,
                "padding": self.padding, "ceil_mode": self.ceil_mode}


class SmallVGG(keras.Model):
    def __init__(self, num_classes=5, **kwargs):
        super().__init__(**kwargs)
        self.features = NamedSequential(OrderedDict(
                [
                    ("conv1", layers.Conv2D(8, 3, padding="same")),
                    ("bn1", layers.BatchNormalization(epsilon=1e-05, momentum=0.9)),
                    ("relu1", layers.ReLU()),
                    ("conv2", layers.Conv2D(16, 3, padding="same")),
                    ("relu2", layers.ReLU()),
                ]
            ))
        self.pool = keras.Sequential([TorchPoolPadding2D(3, stride=2, padding=1), layers.MaxPooling2D(3, strides=2)])
        self.classifier = layers.Dense(num_classes)

    def call(self, x):
        x = self.features(x)
        x = self.pool(x)
        x = ops.reshape(ops.moveaxis(x, -1, 1), (ops.shape(x)[0], -1))  # torch's (C, H, W) order
        return ops.softmax(self.classifier(x), axis=1)
