"""GroupNorm + SiLU conv net with padded average pooling and a Hardswish head."""
import keras
from keras import layers, ops


class GroupNormNet(keras.Model):
    def __init__(self, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(12, 3)
        self.norm = layers.GroupNormalization(groups=4, epsilon=1e-05)
        self.act = layers.Activation("silu")
        self.pool = layers.AveragePooling2D(3, strides=1, padding="same")
        self.pool2 = keras.Sequential([layers.ZeroPadding2D(1), layers.AveragePooling2D(2, strides=2)])
        self.gap = layers.GlobalAveragePooling2D(keepdims=True)
        self.fc1 = layers.Dense(16)
        self.hs = layers.Activation("hard_silu")
        self.fc2 = layers.Dense(classes)

    def call(self, x):
        x = self.pool2(self.pool(self.act(self.norm(self.conv(x)))))
        _t1 = self.gap(x)
        x = ops.reshape(self.gap(x), (ops.shape(_t1)[0], -1))
        return self.fc2(self.hs(self.fc1(x)))
