"""tf.keras spellings and import aliases must resolve to the same layers."""
import numpy as np
import torch.nn.functional as F
from torch import nn

SEED = 3


def make_dataset(n=8):
    """Non-model code: kept as it is."""
    rng = np.random.default_rng(SEED)
    return rng.standard_normal((n, 10, 10, 1)).astype("float32")


class AliasNet(nn.Module):
    """Ported from Keras `build_alias_net` by portmodel."""

    def __init__(self):
        super().__init__()
        self.conv2d = nn.Conv2d(1, 6, kernel_size=3)
        self.max_pooling2d = nn.MaxPool2d(3, stride=2)
        self.average_pooling2d = nn.AvgPool2d(2)
        self.activation = nn.Hardsigmoid()
        self.flatten = nn.Flatten()
        self.dense = nn.Linear(24, 4)

    def forward(self, inp):
        x = F.relu(self.conv2d(inp))
        x = self.max_pooling2d(F.pad(x, (0, 1, 0, 1), value=float('-inf')))
        x = self.average_pooling2d(x)
        x = self.activation(x)
        x = self.flatten(x.permute(0, 2, 3, 1))
        out = F.log_softmax(self.dense(x), dim=-1)
        return out


def build_alias_net():
    return AliasNet()
