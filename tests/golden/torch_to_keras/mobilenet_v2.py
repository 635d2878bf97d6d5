"""MobileNetV2 as torchvision 0.8 writes it (width multiplier, inverted residual blocks built
from a settings table, ConvBNReLU as an nn.Sequential subclass, weight init loop), scaled
down for tests: fewer stages, 10 classes, 32x32 inputs. One edit: `int(round(x))` written
`round(x)`, which ruff (RUF046) would flag in the port."""
import keras
from keras import ops


def _make_divisible(v, divisor, min_value=None):
    """
    This function is taken from the original tf repo.
    It ensures that all layers have a channel number that is divisible by 8
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU(keras.Sequential):
    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, groups=1, **kwargs):
        padding = (kernel_size - 1) // 2
        super().__init__([keras.Sequential([keras.layers.ZeroPadding2D(padding), keras.layers.Conv2D(out_planes, kernel_size, strides=stride, groups=groups, use_bias=False)]), keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9), keras.layers.ReLU(max_value=6.0)], **kwargs)


class InvertedResidual(keras.layers.Layer):
    def __init__(self, inp, oup, stride, expand_ratio, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride
        assert stride in [1, 2]
        hidden_dim = round(inp * expand_ratio)
        self.use_res_connect = self.stride == 1 and inp == oup

        layers = []
        if expand_ratio != 1:
            # pointwise expansion
            layers.append(ConvBNReLU(inp, hidden_dim, kernel_size=1))
        layers.extend([
                # depthwise
                ConvBNReLU(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),
                # pointwise-linear projection
                keras.layers.Conv2D(oup, 1, padding="same", use_bias=False),
                keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9),
            ])
        self.conv = keras.Sequential(layers)

    def call(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        else:
            return self.conv(x)


class MobileNetV2(keras.Model):
    def __init__(self, num_classes=10, width_mult=0.5, round_nearest=8, **kwargs):
        super().__init__(**kwargs)
        input_channel = 32
        last_channel = 320
        inverted_residual_setting = [
            # t, c, n, s
            [1, 16, 1, 1],
            [6, 24, 2, 2],
            [6, 32, 2, 2],
            [6, 64, 1, 2],
        ]

        # building first layer
        input_channel = _make_divisible(input_channel * width_mult, round_nearest)
        self.last_channel = _make_divisible(last_channel * max(1.0, width_mult), round_nearest)
        features = [ConvBNReLU(3, input_channel, stride=2)]
        # building inverted residual blocks
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(InvertedResidual(input_channel, output_channel, stride, expand_ratio=t))
                input_channel = output_channel
        # building last several layers
        features.append(ConvBNReLU(input_channel, self.last_channel, kernel_size=1))
        self.features = keras.Sequential(features)

        self.classifier = keras.Sequential([keras.layers.Dropout(0.2), keras.layers.Dense(num_classes)])

        # weight initialization
        for m in self._flatten_layers():
            if isinstance(m, keras.layers.Conv2D):
                m.kernel_initializer = keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")
                if m.use_bias:
                    m.bias_initializer = keras.initializers.Zeros()
            elif isinstance(m, keras.layers.BatchNormalization):
                m.gamma_initializer = keras.initializers.Ones()
                m.beta_initializer = keras.initializers.Zeros()
            elif isinstance(m, keras.layers.Dense):
                m.kernel_initializer = keras.initializers.RandomNormal(mean=0, stddev=0.01)
                m.bias_initializer = keras.initializers.Zeros()

    def call(self, x):
        x = self.features(x)
        x = ops.mean(x, axis=(1, 2), keepdims=True)
        x = ops.reshape(x, (ops.shape(x)[0], -1))
        x = self.classifier(x)
        return x
