"""A small ResNet in the torchvision style: BasicBlock, _make_layer, a downsample branch."""
import keras
from keras import ops


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

        out = out + identity
        out = self.relu(out)
        return out


class ResNetSmall(keras.Model):
    def __init__(self, block=BasicBlock, layers=(2, 2, 2), num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.inplanes = 16
        self.conv1 = keras.layers.Conv2D(16, 3, strides=1, padding='same', use_bias=False)
        self.bn1 = keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9)
        self.relu = keras.layers.ReLU()
        self.maxpool = keras.layers.MaxPooling2D(3, strides=2)
        self.layer1 = self._make_layer(block, 16, layers[0])
        self.layer2 = self._make_layer(block, 32, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 64, layers[2], stride=2)
        self.avgpool = keras.layers.GlobalAveragePooling2D(keepdims=True)
        self.fc = keras.layers.Dense(num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = keras.Sequential([
                keras.layers.Conv2D(planes * block.expansion, 1, strides=stride, use_bias=False),
                keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9),
            ])

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
        x = self.maxpool(ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=float('-inf')))

        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)

        x = self.avgpool(x)
        x = ops.reshape(x, (-1, 64))
        x = self.fc(x)
        return x
