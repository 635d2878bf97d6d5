"""Residual MLP blocks kept in an nn.ModuleList built in a loop."""
import keras
from keras import layers, ops


class ResidualMLP(keras.Model):
    def __init__(self, width=32, depth=3, out_features=6, **kwargs):
        super().__init__(**kwargs)
        self.inp = layers.Dense(width)
        self.blocks = []
        for _ in range(depth):
            self.blocks.append(layers.Dense(width))
        self.norms = [layers.LayerNormalization(epsilon=1e-05) for _ in range(depth)]
        self.head = layers.Dense(out_features)

    def call(self, x: keras.KerasTensor) -> keras.KerasTensor:
        x = self.inp(x)
        for block, norm in zip(self.blocks, self.norms):
            x = x + ops.gelu(block(norm(x)), approximate=False)
        return self.head(x)
