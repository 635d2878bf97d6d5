"""A subclassed model that creates its layers in build() (shapes known only there in Keras)."""
import torch
import torch.nn.functional as F
from torch import nn


class GatedHead(nn.Module):
    """Dense head with a gate; its layers are created lazily in build()."""

    def __init__(self, units=4):
        super().__init__()
        self.units = units
        self.norm = nn.LayerNorm(10, eps=1e-06)
        self.hidden = nn.Linear(10, 16)
        self.gate = nn.Linear(10, 16)
        self.out = nn.Linear(16, self.units)

    def forward(self, x):
        x = self.norm(x)
        h = F.relu(self.hidden(x)) * torch.sigmoid(self.gate(x))
        return self.out(h)
