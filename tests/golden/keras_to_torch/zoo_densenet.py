"""DenseNet, written the way keras.applications writes it: a dense block calls its conv
block in a loop, each conv block concatenates its output to its input, and a transition
block halves the channels it reads from its input's shape. Widths are small for the tests."""
import torch
import torch.nn.functional as F
from torch import nn


class DenseBlock(nn.Module):
    """A dense block.

    Args:
        x: input tensor.
        blocks: integer, the number of building blocks.
        name: string, block label.

    Returns:
        Output tensor for the block.
    """

    def __init__(self, in_channels, blocks):
        super().__init__()
        self.blocks = nn.ModuleList([ConvBlock(in_channels + 8 * i, 8) for i in range(blocks)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


class TransitionBlock(nn.Module):
    """A transition block: batch norm, ReLU, 1x1 convolution keeping `reduction` of the
    channels, 2x2 average pooling."""

    def __init__(self, in_channels, reduction):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels, eps=1.001e-05, momentum=0.01)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(in_channels, int(in_channels * reduction), kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        x = self.bn(x)
        x = self.relu(x)
        x = self.conv(x)
        x = self.pool(x)
        return x


class ConvBlock(nn.Module):
    """A building block for a dense block.

    Args:
        x: input tensor.
        growth_rate: float, growth rate at dense layers.
        name: string, block label.

    Returns:
        Output tensor for the block.
    """

    def __init__(self, in_channels, growth_rate):
        super().__init__()
        self.bn_0 = nn.BatchNorm2d(in_channels, eps=1.001e-05, momentum=0.01)
        self.relu_0 = nn.ReLU()
        self.conv_1 = nn.Conv2d(in_channels, 4 * growth_rate, kernel_size=1, bias=False)
        self.bn_1 = nn.BatchNorm2d(4 * growth_rate, eps=1.001e-05, momentum=0.01)
        self.relu_1 = nn.ReLU()
        self.conv_2 = nn.Conv2d(4 * growth_rate, growth_rate, kernel_size=3, bias=False, padding=1)

    def forward(self, x):
        x1 = self.bn_0(x)
        x1 = self.relu_0(x1)
        x1 = self.conv_1(x1)
        x1 = self.bn_1(x1)
        x1 = self.relu_1(x1)
        x1 = self.conv_2(x1)
        x = torch.cat([x, x1], dim=1)
        return x


class Densenet(nn.Module):
    """A small DenseNet: stem, dense blocks with transitions between them, classifier."""

    def __init__(self, blocks=(2, 3, 2), input_shape=(32, 32, 3), classes=10):
        super().__init__()
        self.zero_padding2d = nn.ZeroPad2d((3, 3, 3, 3))
        self.conv1_conv = nn.Conv2d(3, 16, kernel_size=7, stride=2, bias=False)
        self.conv1_bn = nn.BatchNorm2d(16, eps=1.001e-05, momentum=0.01)
        self.conv1_relu = nn.ReLU()
        self.zero_padding2d_1 = nn.ZeroPad2d((1, 1, 1, 1))
        self.pool1 = nn.MaxPool2d(3, stride=2)
        self.conv2 = DenseBlock(16, blocks[0])
        self.pool2 = TransitionBlock(32, 0.5)
        self.conv3 = DenseBlock(16, blocks[1])
        self.pool3 = TransitionBlock(40, 0.5)
        self.conv4 = DenseBlock(20, blocks[2])
        self.bn = nn.BatchNorm2d(36, eps=1.001e-05, momentum=0.01)
        self.relu = nn.ReLU()
        self.predictions = nn.Linear(36, classes)

    def forward(self, img_input):
        x = self.zero_padding2d(img_input)
        x = self.conv1_conv(x)
        x = self.conv1_bn(x)
        x = self.conv1_relu(x)
        x = self.zero_padding2d_1(x)
        x = self.pool1(x)

        x = self.conv2(x)
        x = self.pool2(x)
        x = self.conv3(x)
        x = self.pool3(x)
        x = self.conv4(x)

        x = self.bn(x)
        x = self.relu(x)
        x = x.mean(dim=(2, 3))
        x = F.softmax(self.predictions(x), dim=-1)
        return x


def build_densenet(blocks=(2, 3, 2), input_shape=(32, 32, 3), classes=10):
    """A small DenseNet: stem, dense blocks with transitions between them, classifier."""
    return Densenet(blocks=blocks, input_shape=input_shape, classes=classes)
