"""A BERT-style encoder written by hand: token embeddings, multi-head self-attention with
view/permute/matmul, GELU feed-forward, post-norm residuals, a [CLS]-token classifier."""
import math

import keras
from keras import ops


class SelfAttention(keras.layers.Layer):
    def __init__(self, hidden, heads, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = heads
        self.head_dim = hidden // heads
        self.query = keras.layers.Dense(hidden)
        self.key = keras.layers.Dense(hidden)
        self.value = keras.layers.Dense(hidden)
        self.dropout = keras.layers.Dropout(dropout)

    def split_heads(self, x):
        b, t, _ = ops.shape(x)
        x = ops.reshape(x, (b, t, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))  # (batch, heads, time, head_dim)

    def call(self, hidden_states):
        q = self.split_heads(self.query(hidden_states))
        k = self.split_heads(self.key(hidden_states))
        v = self.split_heads(self.value(hidden_states))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.head_dim)
        probs = self.dropout(ops.softmax(scores, axis=-1))
        context = ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3))
        b, t, _, _ = ops.shape(context)
        return ops.reshape(context, (b, t, self.num_heads * self.head_dim))


class EncoderLayer(keras.layers.Layer):
    def __init__(self, hidden, heads, intermediate, **kwargs):
        super().__init__(**kwargs)
        self.attention = SelfAttention(hidden, heads)
        self.attn_out = keras.layers.Dense(hidden)
        self.attn_norm = keras.layers.LayerNormalization(epsilon=1e-12)
        self.intermediate = keras.layers.Dense(intermediate)
        self.output_ = keras.layers.Dense(hidden)
        self.out_norm = keras.layers.LayerNormalization(epsilon=1e-12)

    def call(self, x):
        x = self.attn_norm(x + self.attn_out(self.attention(x)))
        return self.out_norm(x + self.output_(ops.gelu(self.intermediate(x), approximate=False)))


class TinyBert(keras.Model):
    def __init__(self, vocab_size=100, hidden=32, layers=2, heads=4, intermediate=64, num_labels=3, **kwargs):
        super().__init__(**kwargs)
        self.embeddings = keras.layers.Embedding(vocab_size, hidden)
        self.emb_norm = keras.layers.LayerNormalization(epsilon=1e-12)
        self.encoder = [EncoderLayer(hidden, heads, intermediate) for _ in range(layers)]
        self.pooler = keras.layers.Dense(hidden)
        self.classifier = keras.layers.Dense(num_labels)

    def call(self, input_ids):
        x = self.emb_norm(self.embeddings(input_ids))
        for layer in self.encoder:
            x = layer(x)
        pooled = ops.tanh(self.pooler(x[:, 0]))  # the first ([CLS]) token
        return self.classifier(pooled)
