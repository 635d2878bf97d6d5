'''DenseNet in PyTorch, as the widely copied pytorch-cifar repository writes it (Bottleneck
and Transition modules, _make_dense_layers, factory functions), scaled down for tests:
two blocks per stage, growth rate 4, 32x32 inputs. One edit: `int(math.floor(x))` written
`math.floor(x)`, which ruff (RUF046) would flag in the port.'''
import math

import keras
from keras import ops


class Bottleneck(keras.layers.Layer):
    def __init__(self, in_planes, growth_rate, **kwargs):
        super().__init__(**kwargs)
        self.bn1 = keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9)
        self.conv1 = keras.layers.Conv2D(4*growth_rate, 1, padding="same", use_bias=False)
        self.bn2 = keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9)
        self.conv2 = keras.layers.Conv2D(growth_rate, 3, padding="same", use_bias=False)

    def call(self, x):
        out = self.conv1(ops.relu(self.bn1(x)))
        out = self.conv2(ops.relu(self.bn2(out)))
        out = ops.concatenate([out, x], axis=-1)
        return out


class Transition(keras.layers.Layer):
    def __init__(self, in_planes, out_planes, **kwargs):
        super().__init__(**kwargs)
        self.bn = keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9)
        self.conv = keras.layers.Conv2D(out_planes, 1, padding="same", use_bias=False)

    def call(self, x):
        out = self.conv(ops.relu(self.bn(x)))
        out = ops.average_pool(out, 2, 2)
        return out


class DenseNet(keras.Model):
    def __init__(self, block, nblocks, growth_rate=12, reduction=0.5, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.growth_rate = growth_rate

        num_planes = 2*growth_rate
        self.conv1 = keras.layers.Conv2D(num_planes, 3, padding="same", use_bias=False)

        self.dense1 = self._make_dense_layers(block, num_planes, nblocks[0])
        num_planes += nblocks[0]*growth_rate
        out_planes = math.floor(num_planes*reduction)
        self.trans1 = Transition(num_planes, out_planes)
        num_planes = out_planes

        self.dense2 = self._make_dense_layers(block, num_planes, nblocks[1])
        num_planes += nblocks[1]*growth_rate
        out_planes = math.floor(num_planes*reduction)
        self.trans2 = Transition(num_planes, out_planes)
        num_planes = out_planes

        self.dense3 = self._make_dense_layers(block, num_planes, nblocks[2])
        num_planes += nblocks[2]*growth_rate
        out_planes = math.floor(num_planes*reduction)
        self.trans3 = Transition(num_planes, out_planes)
        num_planes = out_planes

        self.dense4 = self._make_dense_layers(block, num_planes, nblocks[3])
        num_planes += nblocks[3]*growth_rate

        self.bn = keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9)
        self.linear = keras.layers.Dense(num_classes)

    def _make_dense_layers(self, block, in_planes, nblock):
        layers = []
        for i in range(nblock):
            layers.append(block(in_planes, self.growth_rate))
            in_planes += self.growth_rate
        return keras.Sequential(layers)

    def call(self, x):
        out = self.conv1(x)
        out = self.trans1(self.dense1(out))
        out = self.trans2(self.dense2(out))
        out = self.trans3(self.dense3(out))
        out = self.dense4(out)
        out = ops.average_pool(ops.relu(self.bn(out)), 4, 4)
        out = ops.reshape(ops.moveaxis(out, -1, 1), (ops.shape(out)[0], -1))
        out = self.linear(out)
        return out


def densenet_cifar():
    return DenseNet(Bottleneck, [2, 2, 2, 2], growth_rate=4)
