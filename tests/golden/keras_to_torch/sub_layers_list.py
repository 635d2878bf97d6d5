"""A subclassed model with a list of layers looped over, activation layers and Reshape."""
from torch import nn


class Tower(nn.Module):
    def __init__(self, width=12):
        super().__init__()
        self.stem = nn.Conv2d(3, width, kernel_size=3, padding=1)
        self.act = nn.LeakyReLU(negative_slope=0.3)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(width, width), nn.ReLU()), nn.Linear(width, width)])
        self.pool = nn.AvgPool2d(2)
        self.elu = nn.ELU(alpha=0.7)
        self.out = nn.Linear(192, 3)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x):
        x = self.act(self.stem(x))
        x = x.permute(0, 2, 3, 1)
        for block in self.blocks:
            x = block(x)  # Dense on the channel axis of an image
        x = self.pool(x.permute(0, 3, 1, 2))
        x = self.elu(x.permute(0, 2, 3, 1).flatten(1))
        return self.softmax(self.out(x))
