"""Custom keras.layers.Layer blocks composed in a subclassed model (the usual Keras style)."""
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a projected shortcut."""

    def __init__(self, in_channels, filters):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, filters, kernel_size=3, bias=False, padding=1)
        self.bn1 = nn.BatchNorm2d(filters, eps=0.001, momentum=0.1)
        self.conv2 = nn.Conv2d(filters, filters, kernel_size=3, bias=False, padding=1)
        self.bn2 = nn.BatchNorm2d(filters, eps=0.001, momentum=0.1)
        self.project = nn.Conv2d(in_channels, filters, kernel_size=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        shortcut = self.project(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + shortcut)


class FeedForward(nn.Module):
    """Pre-norm MLP with a residual connection, as in transformer blocks."""

    def __init__(self, in_channels, hidden, rate=0.1):
        super().__init__()
        self.norm = nn.LayerNorm(in_channels, eps=1e-06)
        self.up = nn.Linear(in_channels, hidden)
        self.drop = nn.Dropout(rate)
        self.down = nn.Linear(hidden, in_channels)

    def forward(self, x):
        return x + self.drop(self.down(F.gelu(self.up(self.norm(x)))))


class BlockNet(nn.Module):
    def __init__(self, num_classes=5, width=8):
        super().__init__()
        self.stage1 = ResidualBlock(3, width)
        self.stage2 = ResidualBlock(width, width * 2)
        self.ffn1 = FeedForward(width * 2, 32)
        self.ffn2 = FeedForward(width * 2, 32)
        self.head = nn.Linear(width * 2, num_classes)

    def forward(self, images):
        x = self.stage2(self.stage1(images))
        x = x.mean(dim=(2, 3))
        x = self.ffn2(self.ffn1(x))
        return self.head(x)
