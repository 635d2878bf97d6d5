"""A pre-norm transformer encoder block with nn.MultiheadAttention, and a classifier."""
import keras
from keras import layers, ops


class EncoderBlock(keras.layers.Layer):
    def __init__(self, dim, heads, mlp_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.norm1 = layers.LayerNormalization(epsilon=1e-05)
        self.attn = layers.MultiHeadAttention(heads, dim // heads)
        self.norm2 = layers.LayerNormalization(epsilon=1e-05)
        self.mlp = keras.Sequential([layers.Dense(dim * mlp_ratio), layers.Activation("gelu"), layers.Dense(dim)])

    def call(self, x):
        h = self.norm1(x)
        attn_out = self.attn(h, h, h)
        x = x + attn_out
        x = x + self.mlp(self.norm2(x))
        return x


class TinyTransformer(keras.Model):
    def __init__(self, dim=32, heads=4, depth=2, classes=5, **kwargs):
        super().__init__(**kwargs)
        self.proj = layers.Dense(dim)
        self.layers_ = [EncoderBlock(dim, heads) for _ in range(depth)]
        self.norm = layers.LayerNormalization(epsilon=1e-05)
        self.head = layers.Dense(classes)

    def call(self, x):
        x = self.proj(x)
        for layer in self.layers_:
            x = layer(x)
        x = ops.mean(self.norm(x), axis=1)
        return self.head(x)
