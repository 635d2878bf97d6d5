"""A small ResNet in the torchvision style: BasicBlock, _make_layer, a downsample branch."""
import keras
from keras import ops


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


def conv3x3(in_planes, out_planes, stride=1):
    """3x3 convolution with padding."""
    return keras.Sequential([keras.layers.ZeroPadding2D(1), keras.layers.Conv2D(out_planes, 3, strides=stride, use_bias=False)])


class BasicBlock(keras.layers.Layer):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9)
        self.relu = keras.layers.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9)
        self.downsample = downsample
        self.stride = stride

    def call(self, x):
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity
        out = self.relu(out)
        return out


class ResNetSmall(keras.Model):
    def __init__(self, block=BasicBlock, layers=(2, 2, 2), num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.inplanes = 16
        self.conv1 = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)
        self.bn1 = keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9)
        self.relu = keras.layers.ReLU()
        self.maxpool = keras.Sequential([TorchPoolPadding2D(3, stride=2, padding=1), keras.layers.MaxPooling2D(3, strides=2)])
        self.layer1 = self._make_layer(block, 16, layers[0])
        self.layer2 = self._make_layer(block, 32, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 64, layers[2], stride=2)
        self.avgpool = keras.layers.GlobalAveragePooling2D(keepdims=True)
        self.fc = keras.layers.Dense(num_classes)

        for m in self._flatten_layers():
            if isinstance(m, keras.layers.Conv2D):
                m.kernel_initializer = keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")
            elif isinstance(m, keras.layers.BatchNormalization):
                m.gamma_initializer = keras.initializers.Constant(1)
                m.beta_initializer = keras.initializers.Constant(0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = keras.Sequential([keras.layers.Conv2D(planes * block.expansion, 1, strides=stride, use_bias=False), keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9)])

        layers = []
        layers.append(block(self.inplanes, planes, stride, downsample))
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))

        return keras.Sequential(layers)

    def call(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)

        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)

        x = self.avgpool(x)
        x = ops.reshape(x, (ops.shape(x)[0], -1))
        x = self.fc(x)
        return x
