"""A stage-by-stage CNN as tutorials and model zoos write it: the builder loops over the
stage widths, each stage a helper (conv, batch norm, ReLU) and a pooling layer, named
after the stage."""
from torch import nn


class ConvBlock(nn.Module):
    """3x3 convolution without bias, batch norm, ReLU."""

    def __init__(self, in_channels, filters):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, filters, kernel_size=3, bias=False, padding=1)
        self.bn = nn.BatchNorm2d(filters, eps=0.001, momentum=0.01)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.conv(x)
        x = self.bn(x)
        return self.relu(x)


class Cnn(nn.Module):
    """Ported from Keras `build_cnn` by portmodel."""

    def __init__(self, input_shape=(16, 16, 3), classes=5):
        super().__init__()
        self.stage1 = ConvBlock(3, 8)
        self.pool1 = nn.MaxPool2d(2)
        self.stage2 = ConvBlock(8, 16)
        self.pool2 = nn.MaxPool2d(2)
        self.stage3 = ConvBlock(16, 32)
        self.pool3 = nn.MaxPool2d(2)
        self.logits = nn.Linear(32, classes)

    def forward(self, inputs):
        x = inputs
        x = self.stage1(x)
        x = self.pool1(x)
        x = self.stage2(x)
        x = self.pool2(x)
        x = self.stage3(x)
        x = self.pool3(x)
        x = x.mean(dim=(2, 3))
        return self.logits(x)


def build_cnn(input_shape=(16, 16, 3), classes=5):
    return Cnn(input_shape=input_shape, classes=classes)
