"""A subclassed model with a Python `if` and the `training` flag."""
import torch.nn.functional as F
from torch import nn


class ConvNet(nn.Module):
    """Small CNN whose head depends on a constructor flag."""

    def __init__(self, num_classes=10, use_dropout=True):
        super().__init__()
        self.use_dropout = use_dropout
        self.conv1 = nn.Conv2d(3, 8, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(16, eps=0.002, momentum=0.2)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.25)
        self.head = nn.Linear(256, num_classes)

    def forward(self, inputs):
        x = F.relu(self.conv1(inputs))
        x = self.pool(x)
        x = self.bn(self.conv2(x))
        if self.use_dropout:
            # only active while training
            x = self.dropout(x)
        x = self.flatten(x.permute(0, 2, 3, 1))
        return self.head(x)
