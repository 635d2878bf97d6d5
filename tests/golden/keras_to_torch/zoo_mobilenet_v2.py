"""MobileNetV2, written the way keras.applications writes it: the inverted residual block is
a helper function that reads its input's channels from the tensor, widths go through
`_make_divisible`, strided blocks pad with `correct_pad`, and the builder calls the block
once per line. Widths and depth are small for the tests."""
import torch.nn.functional as F
from torch import nn


def _make_divisible(v, divisor, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    # Make sure that round down does not go down by more than 10%.
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class InvertedResBlock(nn.Module):
    """Inverted ResNet block."""

    def __init__(self, in_channels, expansion, stride, alpha, filters, block_id):
        super().__init__()
        self.stride = stride
        self.alpha = alpha
        self.filters = filters
        self.block_id = block_id
        channels = expansion * in_channels if block_id else in_channels
        if block_id:
            self.expand = nn.Conv2d(in_channels, expansion * in_channels, kernel_size=1, bias=False)
            self.expand_bn = nn.BatchNorm2d(expansion * in_channels, eps=0.001, momentum=0.001)
            self.expand_relu = nn.ReLU6()
        if stride == 2:
            self.pad = nn.ZeroPad2d((0, 1, 0, 1))
        self.depthwise = nn.Conv2d(channels, channels, kernel_size=3, stride=stride, bias=False, padding=1 if stride == 1 else 0, groups=channels)
        self.depthwise_bn = nn.BatchNorm2d(channels, eps=0.001, momentum=0.001)
        self.depthwise_relu = nn.ReLU6()
        self.project = nn.Conv2d(channels, _make_divisible(int(filters * alpha), 8), kernel_size=1, bias=False)
        self.project_bn = nn.BatchNorm2d(_make_divisible(int(filters * alpha), 8), eps=0.001, momentum=0.001)

    def forward(self, inputs):
        in_channels = inputs.shape[1]
        pointwise_conv_filters = int(self.filters * self.alpha)
        # Ensure the number of filters on the last 1x1 convolution is divisible by
        # 8.
        pointwise_filters = _make_divisible(pointwise_conv_filters, 8)
        x = inputs

        if self.block_id:
            # Expand with a pointwise 1x1 convolution.
            x = self.expand(x)
            x = self.expand_bn(x)
            x = self.expand_relu(x)

        # Depthwise 3x3 convolution.
        if self.stride == 2:
            x = self.pad(x)
        x = self.depthwise(x)
        x = self.depthwise_bn(x)

        x = self.depthwise_relu(x)

        # Project with a pointwise 1x1 convolution.
        x = self.project(x)
        x = self.project_bn(x)

        if in_channels == pointwise_filters and self.stride == 1:
            return inputs + x
        return x


class Mobilenetv2(nn.Module):
    """A small MobileNetV2: stem, inverted residual blocks, 1x1 head, classifier."""

    def __init__(self, input_shape=(32, 32, 3), alpha=1.0, classes=10):
        super().__init__()
        # no alpha applied to last conv as stated in the paper:
        # if the width multiplier is greater than 1 we increase the number of output channels.
        if alpha > 1.0:
            last_block_filters = _make_divisible(128 * alpha, 8)
        else:
            last_block_filters = 128
        self.Conv1 = nn.Conv2d(3, _make_divisible(32 * alpha, 8), kernel_size=3, stride=(2, 2), bias=False)
        self.bn_Conv1 = nn.BatchNorm2d(_make_divisible(32 * alpha, 8), eps=0.001, momentum=0.001)
        self.Conv1_relu = nn.ReLU6()
        self.inverted_res_block = InvertedResBlock(_make_divisible(32 * alpha, 8), filters=16, alpha=alpha, stride=1, expansion=1, block_id=0)
        self.inverted_res_block_1 = InvertedResBlock(_make_divisible(int(16 * alpha), 8), filters=24, alpha=alpha, stride=2, expansion=6, block_id=1)
        self.inverted_res_block_2 = InvertedResBlock(_make_divisible(int(24 * alpha), 8), filters=24, alpha=alpha, stride=1, expansion=6, block_id=2)
        self.inverted_res_block_3 = InvertedResBlock(_make_divisible(int(24 * alpha), 8), filters=32, alpha=alpha, stride=2, expansion=6, block_id=3)
        self.inverted_res_block_4 = InvertedResBlock(_make_divisible(int(32 * alpha), 8), filters=32, alpha=alpha, stride=1, expansion=6, block_id=4)
        self.inverted_res_block_5 = InvertedResBlock(_make_divisible(int(32 * alpha), 8), filters=64, alpha=alpha, stride=2, expansion=6, block_id=5)
        self.inverted_res_block_6 = InvertedResBlock(_make_divisible(int(64 * alpha), 8), filters=64, alpha=alpha, stride=1, expansion=6, block_id=6)
        self.Conv_1 = nn.Conv2d(_make_divisible(int(64 * alpha), 8), last_block_filters, kernel_size=1, bias=False)
        self.Conv_1_bn = nn.BatchNorm2d(last_block_filters, eps=0.001, momentum=0.001)
        self.out_relu = nn.ReLU6()
        self.predictions = nn.Linear(last_block_filters, classes)

    def forward(self, img_input):
        x = self.Conv1(F.pad(img_input, (0, 1, 0, 1)))
        x = self.bn_Conv1(x)
        x = self.Conv1_relu(x)

        x = self.inverted_res_block(x)

        x = self.inverted_res_block_1(x)
        x = self.inverted_res_block_2(x)

        x = self.inverted_res_block_3(x)
        x = self.inverted_res_block_4(x)

        x = self.inverted_res_block_5(x)
        x = self.inverted_res_block_6(x)

        x = self.Conv_1(x)
        x = self.Conv_1_bn(x)
        x = self.out_relu(x)

        x = x.mean(dim=(2, 3))
        x = F.softmax(self.predictions(x), dim=-1)
        return x


def build_mobilenet_v2(input_shape=(32, 32, 3), alpha=1.0, classes=10):
    """A small MobileNetV2: stem, inverted residual blocks, 1x1 head, classifier."""
    return Mobilenetv2(input_shape=input_shape, alpha=alpha, classes=classes)
