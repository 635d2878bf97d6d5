"""EfficientNet-style network written the way keras.applications writes it: the MBConv block
is a helper function (expansion, depthwise convolution with `correct_pad` when strided,
squeeze-and-excitation, projection, residual), and the builder loops over a stage table.
Scaled down for tests: three narrow stages, 10 classes, 32x32 inputs."""
import torch
import torch.nn.functional as F
from torch import nn

CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}

# repeats, kernel_size, strides, filters_in, filters_out, expand_ratio
STAGES = (
    (1, 3, 1, 16, 8, 1),
    (2, 3, 2, 8, 16, 6),
    (2, 5, 2, 16, 24, 6),
)


class Block(nn.Module):
    """An inverted residual block.

    Args:
        inputs: input tensor.
        activation: activation function.
        drop_rate: float between 0 and 1, fraction of the input units to drop.
        name: string, block label.
        filters_in: integer, the number of input filters.
        filters_out: integer, the number of output filters.
        kernel_size: integer, the dimension of the convolution window.
        strides: integer, the stride of the convolution.
        expand_ratio: integer, scaling coefficient for the input filters.
        se_ratio: float between 0 and 1, fraction to squeeze the input filters.
        id_skip: boolean.

    Returns:
        output tensor for the block.
    """

    def __init__(self, in_channels, activation="swish", drop_rate=0.0, filters_in=32, filters_out=16, kernel_size=3, strides=1, expand_ratio=1, se_ratio=0.0, id_skip=True):
        super().__init__()
        self.drop_rate = drop_rate
        self.filters_in = filters_in
        self.filters_out = filters_out
        self.strides = strides
        self.expand_ratio = expand_ratio
        self.se_ratio = se_ratio
        self.id_skip = id_skip
        channels = in_channels if expand_ratio == 1 else filters_in * expand_ratio
        if expand_ratio != 1:
            self.expand_conv = nn.Conv2d(in_channels, filters_in * expand_ratio, kernel_size=1, bias=False)
            self.expand_bn = nn.BatchNorm2d(filters_in * expand_ratio, eps=0.001, momentum=0.01)
            self.expand_activation = nn.SiLU()
        if strides == 2:
            self.dwconv_pad = nn.ZeroPad2d((0, 1, 0, 1) if kernel_size == 3 else (1, 2, 1, 2))
        self.dwconv = nn.Conv2d(channels, channels, kernel_size=kernel_size, stride=strides, bias=False, padding="same" if strides == 1 else 0, groups=channels)
        self.bn = nn.BatchNorm2d(channels, eps=0.001, momentum=0.01)
        self.activation = nn.SiLU()
        if 0 < se_ratio <= 1:
            self.se_reduce = nn.Conv2d(filters_in * expand_ratio, max(1, int(filters_in * se_ratio)), kernel_size=1)
            self.se_expand = nn.Conv2d(max(1, int(filters_in * se_ratio)), filters_in * expand_ratio, kernel_size=1)
        self.project_conv = nn.Conv2d(channels, filters_out, kernel_size=1, bias=False)
        self.project_bn = nn.BatchNorm2d(filters_out, eps=0.001, momentum=0.01)

    def forward(self, inputs):
        if self.expand_ratio != 1:
            x = self.expand_conv(inputs)
            x = self.expand_bn(x)
            x = self.expand_activation(x)
        else:
            x = inputs

        # Depthwise Convolution
        if self.strides == 2:
            x = self.dwconv_pad(x)
        x = self.dwconv(x)
        x = self.bn(x)
        x = self.activation(x)

        # Squeeze and Excitation phase
        if 0 < self.se_ratio <= 1:
            se = x.mean(dim=(2, 3))
            se = se.flatten(1).unflatten(1, (1, 1, self.filters_in * self.expand_ratio))
            se = F.silu(self.se_reduce(se.permute(0, 3, 1, 2)))
            se = torch.sigmoid(self.se_expand(se))
            x = x * se

        # Output phase
        x = self.project_conv(x)
        x = self.project_bn(x)
        if self.id_skip and self.strides == 1 and self.filters_in == self.filters_out:
            if self.drop_rate > 0:
                x = F.dropout3d(x.unsqueeze(1), self.drop_rate, self.training).squeeze(1)
            x = x + inputs
        return x


class Efficientnet(nn.Module):
    """Stem, MBConv stages from STAGES, 1x1 head, pooled classifier."""

    def __init__(self, input_shape=(32, 32, 3), drop_connect_rate=0.2, classes=10):
        super().__init__()
        self.stem_conv = nn.Conv2d(3, 16, kernel_size=3, stride=2, bias=False)
        self.stem_bn = nn.BatchNorm2d(16, eps=0.001, momentum=0.01)
        self.stem_activation = nn.SiLU()
        self.block1a = Block(16, "swish", (drop_connect_rate * 0) / 5.0, filters_in=16, filters_out=8, kernel_size=3, strides=1, expand_ratio=1, se_ratio=0.25)
        self.block2a = Block(8, "swish", (drop_connect_rate * 1) / 5.0, filters_in=8, filters_out=16, kernel_size=3, strides=2, expand_ratio=6, se_ratio=0.25)
        self.block2b = Block(16, "swish", (drop_connect_rate * 2) / 5.0, filters_in=16, filters_out=16, kernel_size=3, strides=1, expand_ratio=6, se_ratio=0.25)
        self.block3a = Block(16, "swish", (drop_connect_rate * 3) / 5.0, filters_in=16, filters_out=24, kernel_size=5, strides=2, expand_ratio=6, se_ratio=0.25)
        self.block3b = Block(24, "swish", (drop_connect_rate * 4) / 5.0, filters_in=24, filters_out=24, kernel_size=5, strides=1, expand_ratio=6, se_ratio=0.25)
        self.top_conv = nn.Conv2d(24, 64, kernel_size=1, bias=False)
        self.top_bn = nn.BatchNorm2d(64, eps=0.001, momentum=0.01)
        self.top_activation = nn.SiLU()
        self.predictions = nn.Linear(64, classes)

    def forward(self, img_input):
        # Build stem
        x = self.stem_conv(F.pad(img_input, (0, 1, 0, 1)))
        x = self.stem_bn(x)
        x = self.stem_activation(x)
        # The first block needs to take care of stride and filter size.
        x = self.block1a(x)
        x = self.block2a(x)
        x = self.block2b(x)
        x = self.block3a(x)
        x = self.block3b(x)

        # Build top
        x = self.top_conv(x)
        x = self.top_bn(x)
        x = self.top_activation(x)
        x = x.mean(dim=(2, 3))
        x = self.predictions(x)
        return x


def build_efficientnet(input_shape=(32, 32, 3), drop_connect_rate=0.2, classes=10):
    """Stem, MBConv stages from STAGES, 1x1 head, pooled classifier."""
    return Efficientnet(input_shape=input_shape, drop_connect_rate=drop_connect_rate, classes=classes)
