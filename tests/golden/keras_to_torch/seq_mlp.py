"""A Sequential MLP: list style, input_shape on the first layer."""
import torch.nn.functional as F
from torch import nn

HIDDEN = 32


class TabularMlp(nn.Module):
    """Ported from Keras `build_mlp` by portmodel."""

    def __init__(self, hidden=HIDDEN):
        super().__init__()
        self.dense = nn.Linear(20, hidden)
        self.batch_normalization = nn.BatchNorm1d(hidden, eps=0.0001, momentum=0.1)
        self.dropout = nn.Dropout(0.2)
        self.dense_1 = nn.Linear(hidden, hidden)
        self.layer_normalization = nn.LayerNorm(hidden, eps=1e-05)
        self.dense_2 = nn.Linear(hidden, 5)

    def forward(self, x):
        x = F.gelu(self.dense(x))
        x = self.batch_normalization(x)
        x = self.dropout(x)
        x = F.silu(self.dense_1(x))
        x = self.layer_normalization(x)
        x = F.softmax(self.dense_2(x), dim=-1)
        return x


def build_mlp(hidden=HIDDEN):
    return TabularMlp(hidden=hidden)
