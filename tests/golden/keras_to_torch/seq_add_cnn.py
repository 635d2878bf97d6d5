"""Module-level Sequential built with .add (script style), Flatten after conv."""
import torch.nn.functional as F
from torch import nn


class SmallCnn(nn.Module):
    """Ported from the Keras model `model` by portmodel."""

    def __init__(self):
        super().__init__()
        self.conv2d = nn.Conv2d(3, 8, kernel_size=3)
        self.max_pooling2d = nn.MaxPool2d(2)
        self.conv2d_1 = nn.Conv2d(8, 16, kernel_size=(3, 3), padding=1)
        self.flatten = nn.Flatten()
        self.dense = nn.Linear(400, 10)

    def forward(self, x):
        x = F.relu(self.conv2d(x))
        x = self.max_pooling2d(x)
        x = F.elu(self.conv2d_1(x))
        x = self.flatten(x.permute(0, 2, 3, 1))
        x = self.dense(x)
        return x


model = SmallCnn()


def describe():
    """Helper that must survive translation untouched."""
    return "small cnn"
