"""A subclassed model whose call() works with keras.ops, as Keras 3 code does: a
squeeze-and-excitation gate, channel statistics and a two-headed output."""
import torch
import torch.nn.functional as F
from torch import nn


class GatedStats(nn.Module):
    """Convolution, an SE gate from pooled channels, then pooled statistics."""

    def __init__(self, channels=8, classes=4):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, kernel_size=3, padding=1)
        self.squeeze = nn.Linear(channels, channels // 2)
        self.excite = nn.Linear(channels // 2, channels)
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        x = F.relu(self.conv(x))
        # squeeze (global average) and excite (two dense layers, a sigmoid gate)
        s = torch.mean(x, dim=(2, 3))
        s = torch.sigmoid(self.excite(F.silu(self.squeeze(s))))
        x = torch.mul(x, torch.unsqueeze(torch.unsqueeze(s, 1), 1).permute(0, 3, 1, 2))
        # statistics over space: mean and max per channel
        stats = torch.cat([torch.mean(x, dim=(2, 3)), torch.amax(x, dim=(2, 3))], dim=-1)
        energy = F.log_softmax(torch.sum(torch.abs(x).permute(0, 2, 3, 1), dim=-1), dim=-1)
        return F.softmax(self.head(F.gelu(stats, approximate='tanh')), dim=-1), energy
