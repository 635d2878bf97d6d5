"""A layer object created once and applied twice (shared weights), plus x + y arithmetic."""
import torch
from torch import nn


class Siamese(nn.Module):
    """Ported from Keras `build_siamese` by portmodel."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(10, 8)
        self.dense = nn.Linear(16, 1)

    def forward(self, left, right):
        a = torch.tanh(self.encoder(left))
        b = torch.tanh(self.encoder(right))
        distance = a - b
        joint = torch.cat([distance, (a * b)], dim=-1)
        return self.dense(joint)


def build_siamese():
    return Siamese()
