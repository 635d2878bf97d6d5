"""ResNet v1, written the way keras.applications writes it: blocks and stacks are helper
functions that take a tensor and return one, a stack calls its block in a loop, and every
layer is named after its block (`conv3_block2_1_conv`). Widths are small for the tests."""
import torch.nn.functional as F
from torch import nn

BN_EPS = 1.001e-5


class Block1(nn.Module):
    """A residual block.

    Args:
        x: input tensor.
        filters: filters of the bottleneck layer.
        kernel_size: kernel size of the bottleneck layer.
        stride: stride of the first layer.
        conv_shortcut: use a convolution shortcut if True, otherwise an identity shortcut.
        name: block label.

    Returns:
        Output tensor for the residual block.
    """

    def __init__(self, in_channels, filters, kernel_size=3, stride=1, conv_shortcut=True):
        super().__init__()
        self.conv_shortcut = conv_shortcut
        if conv_shortcut:
            self.conv_0 = nn.Conv2d(in_channels, 4 * filters, kernel_size=1, stride=stride)
            self.bn_0 = nn.BatchNorm2d(4 * filters, eps=1.001e-05, momentum=0.01)
        self.conv_1 = nn.Conv2d(in_channels, filters, kernel_size=1, stride=stride)
        self.bn_1 = nn.BatchNorm2d(filters, eps=1.001e-05, momentum=0.01)
        self.relu_1 = nn.ReLU()
        self.conv_2 = nn.Conv2d(filters, filters, kernel_size=kernel_size, padding="same")
        self.bn_2 = nn.BatchNorm2d(filters, eps=1.001e-05, momentum=0.01)
        self.relu_2 = nn.ReLU()
        self.conv_3 = nn.Conv2d(filters, 4 * filters, kernel_size=1)
        self.bn_3 = nn.BatchNorm2d(4 * filters, eps=1.001e-05, momentum=0.01)
        self.out = nn.ReLU()

    def forward(self, x):
        if self.conv_shortcut:
            shortcut = self.conv_0(x)
            shortcut = self.bn_0(shortcut)
        else:
            shortcut = x

        x = self.conv_1(x)
        x = self.bn_1(x)
        x = self.relu_1(x)

        # the 3x3 convolution keeps the spatial size
        x = self.conv_2(x)
        x = self.bn_2(x)
        x = self.relu_2(x)

        x = self.conv_3(x)
        x = self.bn_3(x)

        x = shortcut + x
        x = self.out(x)
        return x


class Stack1(nn.Module):
    """A set of stacked residual blocks: the first may downsample, the rest keep the shape."""

    def __init__(self, in_channels, filters, blocks, stride1=2):
        super().__init__()
        self.block1 = Block1(in_channels, filters, stride=stride1)
        self.blocks = nn.ModuleList([Block1(4 * filters, filters, conv_shortcut=False) for i in range(2, blocks + 1)])

    def forward(self, x):
        x = self.block1(x)
        for block in self.blocks:
            x = block(x)
        return x


class Resnet(nn.Module):
    """A small ResNet: stem, three stacks, pooled classifier."""

    def __init__(self, input_shape=(32, 32, 3), classes=10):
        super().__init__()
        self.conv1_pad = nn.ZeroPad2d((3, 3, 3, 3))
        self.conv1_conv = nn.Conv2d(3, 16, kernel_size=7, stride=2, bias=True)
        self.conv1_bn = nn.BatchNorm2d(16, eps=1.001e-05, momentum=0.01)
        self.conv1_relu = nn.ReLU()
        self.pool1_pad = nn.ZeroPad2d((1, 1, 1, 1))
        self.pool1_pool = nn.MaxPool2d(3, stride=2)
        self.conv2 = Stack1(16, 8, 3, stride1=1)
        self.conv3 = Stack1(32, 16, 2)
        self.conv4 = Stack1(64, 32, 2)
        self.predictions = nn.Linear(128, classes)

    def forward(self, inputs):
        x = self.conv1_pad(inputs)
        x = self.conv1_conv(x)
        x = self.conv1_bn(x)
        x = self.conv1_relu(x)
        x = self.pool1_pad(x)
        x = self.pool1_pool(x)

        x = self.conv2(x)
        x = self.conv3(x)
        x = self.conv4(x)

        x = x.mean(dim=(2, 3))
        x = F.softmax(self.predictions(x), dim=-1)
        return x


def build_resnet(input_shape=(32, 32, 3), classes=10):
    """A small ResNet: stem, three stacks, pooled classifier."""
    return Resnet(input_shape=input_shape, classes=classes)
