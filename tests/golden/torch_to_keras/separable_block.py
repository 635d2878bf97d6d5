"""MobileNetV2-style inverted residual blocks: expand, depthwise 3x3, project."""
import keras
from keras import layers, ops


class InvertedResidual(keras.layers.Layer):
    def __init__(self, inp, oup, stride, expand_ratio, **kwargs):
        super().__init__(**kwargs)
        hidden = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == oup
        self.conv = keras.Sequential([layers.Conv2D(hidden, 1, padding="same", use_bias=False), layers.BatchNormalization(epsilon=1e-05, momentum=0.9), layers.ReLU(max_value=6.0), keras.Sequential([layers.ZeroPadding2D(1), layers.Conv2D(hidden, 3, strides=stride, groups=hidden, use_bias=False)]), layers.BatchNormalization(epsilon=1e-05, momentum=0.9), layers.ReLU(max_value=6.0), layers.Conv2D(oup, 1, padding="same", use_bias=False), layers.BatchNormalization(epsilon=1e-05, momentum=0.9)])

    def call(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class TinyMobileNet(keras.Model):
    def __init__(self, num_classes=4, **kwargs):
        super().__init__(**kwargs)
        self.stem = keras.Sequential([keras.Sequential([layers.ZeroPadding2D(1), layers.Conv2D(8, 3, strides=2, use_bias=False)]), layers.BatchNormalization(epsilon=1e-05, momentum=0.9), layers.ReLU(max_value=6.0)])
        self.blocks = keras.Sequential([InvertedResidual(8, 8, 1, 2), InvertedResidual(8, 16, 2, 3), InvertedResidual(16, 16, 1, 3)])
        self.head = layers.Dense(num_classes)

    def call(self, x):
        x = self.blocks(self.stem(x))
        x = ops.mean(x, axis=(1, 2))
        return self.head(x)
