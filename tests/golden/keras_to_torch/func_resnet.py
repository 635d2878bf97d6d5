"""A residual functional model: stride-2 'same' convs, BatchNorm, Add, global pooling."""
from torch import nn

BN_MOMENTUM = 0.97
BN_EPS = 1.001e-5


class TinyResnet(nn.Module):
    """Ported from Keras `build_resnet` by portmodel."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem_conv = nn.Conv2d(3, 16, kernel_size=3, stride=2, bias=False, padding=1)
        self.stem_bn = nn.BatchNorm2d(16, eps=1.001e-05, momentum=0.03)
        self.activation = nn.ReLU()
        self.block_conv1 = nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1)
        self.batch_normalization = nn.BatchNorm2d(32, eps=1.001e-05, momentum=0.03)
        self.re_lu = nn.ReLU()
        self.block_conv2 = nn.Conv2d(32, 32, kernel_size=3, padding=1)
        self.batch_normalization_1 = nn.BatchNorm2d(32, eps=1.001e-05, momentum=0.03)
        self.proj = nn.Conv2d(16, 32, kernel_size=1, stride=2)
        self.re_lu_1 = nn.ReLU()
        self.logits = nn.Linear(32, num_classes)

    def forward(self, inputs):
        x = self.stem_conv(inputs)
        x = self.stem_bn(x)
        x = self.activation(x)

        # residual block with a projection shortcut
        shortcut = self.proj(x)
        y = self.block_conv1(x)
        y = self.batch_normalization(y)
        y = self.re_lu(y)
        y = self.block_conv2(y)
        y = self.batch_normalization_1(y)
        x = y + shortcut
        x = self.re_lu_1(x)

        x = x.mean(dim=(2, 3))
        outputs = self.logits(x)
        return outputs


def build_resnet(num_classes=10):
    return TinyResnet(num_classes=num_classes)
