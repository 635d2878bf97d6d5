"""Depthwise-separable blocks in the MobileNet style."""
import torch.nn.functional as F
from torch import nn


class Mobile(nn.Module):
    """Ported from Keras `build_mobile` by portmodel."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.zero_padding2d = nn.ZeroPad2d((0, 1, 0, 1))
        self.conv2d = nn.Conv2d(3, 8, kernel_size=3, stride=2, bias=False)
        self.batch_normalization = nn.BatchNorm2d(8, eps=0.001, momentum=0.001)
        self.re_lu = nn.ReLU6()
        self.depthwise_conv2d = nn.Conv2d(8, 8, kernel_size=3, bias=False, padding=1, groups=8)
        self.batch_normalization_1 = nn.BatchNorm2d(8, eps=0.001, momentum=0.01)
        self.re_lu_1 = nn.ReLU6()
        self.conv2d_1 = nn.Conv2d(8, 16, kernel_size=1, bias=False)
        self.separable_conv2d = nn.Sequential(nn.Conv2d(16, 16, kernel_size=3, stride=2, groups=16, bias=False), nn.Conv2d(16, 24, kernel_size=1))
        self.depthwise_conv2d_1 = nn.Conv2d(24, 48, kernel_size=3, stride=2, groups=24)
        self.dense = nn.Linear(48, 4)

    def forward(self, inputs):
        x = self.zero_padding2d(inputs)
        x = self.conv2d(x)
        x = self.batch_normalization(x)
        x = self.re_lu(x)
        # depthwise 3x3 then pointwise 1x1
        x = self.depthwise_conv2d(x)
        x = self.batch_normalization_1(x)
        x = self.re_lu_1(x)
        x = self.conv2d_1(x)
        x = F.relu(self.separable_conv2d(F.pad(x, (0, 1, 0, 1))))
        x = self.depthwise_conv2d_1(F.pad(x, (0, 1, 0, 1)))
        x = x.amax(dim=(2, 3))
        return self.dense(x)


def build_mobile(alpha=1.0):
    return Mobile(alpha=alpha)
