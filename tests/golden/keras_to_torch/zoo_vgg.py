"""VGG in the style of model-zoo code: a block helper stacks its 3x3 convolutions in a loop
and ends with a max pool; the builder chains five blocks and the classifier."""
import torch.nn.functional as F
from torch import nn


class VggBlock(nn.Module):
    """`convs` 3x3 convolutions (ReLU) then a 2x2 max pool."""

    def __init__(self, in_channels, filters, convs):
        super().__init__()
        self.convs = nn.ModuleList([nn.Sequential(nn.Conv2d(in_channels if i == 0 else filters, filters, kernel_size=(3, 3), padding=1), nn.ReLU()) for i in range(convs)])
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        for conv in self.convs:
            x = conv(x)
        return self.pool(x)


class Vgg16(nn.Module):
    """VGG-16's layout (2, 2, 3, 3, 3 convolutions per block) at a small width."""

    def __init__(self, input_shape=(32, 32, 3), classes=10, width=8):
        super().__init__()
        self.block1 = VggBlock(3, width, 2)
        self.block2 = VggBlock(width, width * 2, 2)
        self.block3 = VggBlock(width * 2, width * 4, 3)
        self.block4 = VggBlock(width * 4, width * 8, 3)
        self.block5 = VggBlock(width * 8, width * 8, 3)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 64)
        self.predictions = nn.Linear(64, classes)

    def forward(self, img_input):
        x = self.block1(img_input)
        x = self.block2(x)
        x = self.block3(x)
        x = self.block4(x)
        x = self.block5(x)

        # classification block
        x = self.flatten(x.permute(0, 2, 3, 1))
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.softmax(self.predictions(x), dim=-1)
        return x


def build_vgg(input_shape=(32, 32, 3), classes=10, width=8):
    """VGG-16's layout (2, 2, 3, 3, 3 convolutions per block) at a small width."""
    return Vgg16(input_shape=input_shape, classes=classes, width=width)
