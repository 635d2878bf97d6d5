"""Two inputs, merges of every kind, two outputs."""
import torch
from torch import nn


class TwoTower(nn.Module):
    """Ported from Keras `build_two_tower` by portmodel."""

    def __init__(self):
        super().__init__()
        self.conv2d = nn.Conv2d(2, 4, kernel_size=3, padding=1)
        self.conv2d_1 = nn.Conv2d(2, 4, kernel_size=1)
        self.dense = nn.Linear(6, 12)
        self.score = nn.Linear(24, 1)
        self.logits = nn.Linear(24, 3)

    def forward(self, image, meta):
        a = self.conv2d(image)
        b = self.conv2d_1(image)
        merged = torch.cat([a, b], dim=1)
        mixed = a * b
        diff = a - b
        avg = (mixed + diff + a) / 3
        top = torch.maximum(avg, torch.minimum(a, b))
        pooled = torch.cat([merged, top], dim=1).mean(dim=(2, 3))
        m = torch.tanh(self.dense(meta))
        joint = torch.cat([pooled, m], dim=-1)
        score = torch.sigmoid(self.score(joint))
        logits = self.logits(joint)
        return score, logits


def build_two_tower():
    return TwoTower()
