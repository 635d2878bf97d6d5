"""Temporal conv net: causal dilated Conv1D, pooling, Flatten of a sequence."""
import torch.nn.functional as F
from torch import nn


class Tcn(nn.Module):
    """Ported from Keras `build_tcn` by portmodel."""

    def __init__(self):
        super().__init__()
        self.conv1d = nn.Conv1d(3, 8, kernel_size=3, dilation=1)
        self.conv1d_1 = nn.Conv1d(8, 8, kernel_size=3, dilation=2)
        self.max_pooling1d = nn.MaxPool1d(2)
        self.conv1d_2 = nn.Conv1d(8, 12, kernel_size=5, stride=2)
        self.flatten = nn.Flatten()
        self.dense = nn.Linear(60, 3)

    def forward(self, seq):
        x = F.relu(self.conv1d(F.pad(seq.transpose(1, 2), (2, 0))))
        x = F.relu(self.conv1d_1(F.pad(x, (4, 0))))
        x = self.max_pooling1d(x)
        x = self.conv1d_2(F.pad(x, (1, 2)))
        x = self.flatten(x.transpose(1, 2))
        return self.dense(x)


def build_tcn():
    return Tcn()
