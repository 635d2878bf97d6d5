"""Conv autoencoder: transposed convs, upsampling, Reshape after Dense, image output."""
import torch
import torch.nn.functional as F
from torch import nn


class Autoencoder(nn.Module):
    """Ported from Keras `build_autoencoder` by portmodel."""

    def __init__(self, latent=6):
        super().__init__()
        self.conv2d = nn.Conv2d(1, 4, kernel_size=3, stride=2)
        self.flatten = nn.Flatten()
        self.latent = nn.Linear(144, latent)
        self.dense = nn.Linear(latent, 3 * 3 * 4)
        self.conv2d_transpose = nn.ConvTranspose2d(4, 4, kernel_size=3, stride=2)
        self.up_sampling2d = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False)
        self.conv2d_transpose_1 = nn.ConvTranspose2d(4, 2, kernel_size=2, stride=1)
        self.conv2d_1 = nn.Conv2d(2, 1, kernel_size=2)

    def forward(self, image):
        x = F.relu(self.conv2d(F.pad(image, (0, 1, 0, 1))))
        x = self.flatten(x.permute(0, 2, 3, 1))
        z = self.latent(x)
        x = F.relu(self.dense(z))
        x = x.flatten(1).unflatten(1, (3, 3, 4))
        x = F.relu(self.conv2d_transpose(x.permute(0, 3, 1, 2))[:, :, :-1, :-1])
        x = self.up_sampling2d(x)
        x = self.conv2d_transpose_1(x)
        x = x.permute(0, 2, 3, 1).flatten(1).unflatten(1, (13, 13, -1))
        out = torch.sigmoid(self.conv2d_1(x.permute(0, 3, 1, 2)))
        return out


def build_autoencoder(latent=6):
    return Autoencoder(latent=latent)
