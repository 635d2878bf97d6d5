"""A two-level U-Net: skip connections joined with torch.cat(dim=1), functional pooling."""
import keras
from keras import layers, ops


def double_conv(in_ch, out_ch):
    return keras.Sequential([layers.Conv2D(out_ch, 3, padding="same"), layers.ReLU(), layers.Conv2D(out_ch, 3, padding="same"), layers.ReLU()])


class TinyUNet(keras.Model):
    def __init__(self, in_ch=3, classes=2, **kwargs):
        super().__init__(**kwargs)
        self.down1 = double_conv(in_ch, 8)
        self.down2 = double_conv(8, 16)
        self.up1 = double_conv(16 + 8, 8)
        self.out = layers.Conv2D(classes, 1, padding="same")

    def call(self, x):
        d1 = self.down1(x)
        d2 = self.down2(ops.max_pool(d1, 2, 2))
        u1 = ops.image.resize(d2, (ops.shape(d2)[1] * 2, ops.shape(d2)[2] * 2), interpolation='bilinear')
        u1 = self.up1(ops.concatenate([u1, d1], axis=-1))
        return self.out(u1)
