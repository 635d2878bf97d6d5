"""An EfficientNet-B0-style network written the way training repositories write it (timm-like
DropPath, squeeze-and-excitation, MBConv blocks from a stage table), scaled down for tests:
narrow stages, 10 classes, 32x32 inputs."""

import math

import keras
from keras import ops


def drop_path(x, drop_prob: float = 0.0, training: bool = False):
    """Drop whole residual branches per sample (stochastic depth); identity in inference."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
    random_tensor = keep_prob + keras.random.uniform(shape, dtype=x.dtype)
    random_tensor = ops.floor(random_tensor)
    return ops.divide(x, keep_prob) * random_tensor


class DropPath(keras.layers.Layer):
    def __init__(self, drop_prob=None, **kwargs):
        super().__init__(**kwargs)
        self.drop_prob = drop_prob

    def call(self, x, training=None):
        return drop_path(x, self.drop_prob, training)


class ConvBNAct(keras.Sequential):
    """Conv -> BatchNorm -> SiLU (or no activation)."""

    def __init__(self, c_in, c_out, kernel_size=3, stride=1, groups=1, act=True, **kwargs):
        super().__init__([keras.Sequential([keras.layers.ZeroPadding2D(kernel_size // 2), keras.layers.Conv2D(c_out, kernel_size, strides=stride, groups=groups, use_bias=False)]), keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.99), keras.layers.Activation("silu") if act else keras.layers.Identity()], **kwargs)


class SqueezeExcite(keras.layers.Layer):
    def __init__(self, channels, squeeze_channels, **kwargs):
        super().__init__(**kwargs)
        self.fc1 = keras.layers.Conv2D(squeeze_channels, 1, padding="same")
        self.act = keras.layers.Activation("silu")
        self.fc2 = keras.layers.Conv2D(channels, 1, padding="same")

    def call(self, x):
        s = ops.mean(x, axis=(1, 2), keepdims=True)
        s = self.fc2(self.act(self.fc1(s)))
        return x * ops.sigmoid(s)


class MBConv(keras.layers.Layer):
    def __init__(self, c_in, c_out, expand_ratio, kernel_size, stride, se_ratio=0.25, drop_path_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        hidden = c_in * expand_ratio
        self.has_residual = stride == 1 and c_in == c_out
        layers = []
        if expand_ratio != 1:
            layers.append(ConvBNAct(c_in, hidden, 1))
        layers += [
            ConvBNAct(hidden, hidden, kernel_size, stride, groups=hidden),
            SqueezeExcite(hidden, max(1, int(c_in * se_ratio))),
            ConvBNAct(hidden, c_out, 1, act=False),
        ]
        self.conv = keras.Sequential(layers)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else keras.layers.Identity()

    def call(self, x):
        if self.has_residual:
            return x + ops.moveaxis(self.drop_path(ops.moveaxis(self.conv(x), -1, 1)), 1, -1)
        return self.conv(x)


class EfficientNet(keras.Model):
    # expand_ratio, channels, repeats, stride, kernel_size
    stages = (
        (1, 16, 1, 1, 3),
        (6, 24, 2, 2, 3),
        (6, 40, 2, 2, 5),
        (6, 80, 1, 2, 3),
    )

    def __init__(self, width_mult=0.5, depth_mult=1.0, num_classes=10, drop_rate=0.2, drop_path_rate=0.1, **kwargs):
        super().__init__(**kwargs)
        stem = int(32 * width_mult)
        self.stem = ConvBNAct(3, stem, 3, 2)
        blocks = []
        total = sum(math.ceil(n * depth_mult) for _, _, n, _, _ in self.stages)
        c_in, index = stem, 0
        for t, c, n, s, k in self.stages:
            c_out = int(c * width_mult)
            for i in range(math.ceil(n * depth_mult)):
                blocks.append(MBConv(c_in, c_out, t, k, s if i == 0 else 1, drop_path_rate=drop_path_rate * index / total))
                c_in = c_out
                index += 1
        self.blocks = keras.Sequential(blocks)
        self.head = ConvBNAct(c_in, 4 * c_in, 1)
        self.pool = keras.layers.GlobalAveragePooling2D(keepdims=True)
        self.dropout = keras.layers.Dropout(drop_rate)
        self.classifier = keras.layers.Dense(num_classes)

    def call(self, x):
        x = self.head(self.blocks(self.stem(x)))
        _t1 = self.pool(x)
        x = ops.reshape(self.pool(x), (ops.shape(_t1)[0], -1))
        return self.classifier(self.dropout(x))
