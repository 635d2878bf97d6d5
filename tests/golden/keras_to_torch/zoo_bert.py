"""A BERT-style encoder written the way Keras examples write it (keras.io's "Text
classification with Transformer", grown to BERT's shape): token, position and segment
embeddings summed and normalised, a stack of post-norm transformer blocks, and a tanh
pooler on the first token. Sizes are small for the tests."""
import torch
from torch import nn


class TransformerBlock(nn.Module):
    """Self-attention and a feed-forward network, each with a residual and LayerNorm."""

    def __init__(self, in_channels, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = nn.MultiheadAttention(in_channels, num_heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Sequential(nn.Linear(in_channels, ff_dim), nn.GELU()), nn.Linear(ff_dim, embed_dim))
        self.layernorm1 = nn.LayerNorm(in_channels, eps=1e-12)
        self.layernorm2 = nn.LayerNorm(in_channels, eps=1e-12)
        self.dropout1 = nn.Dropout(rate)
        self.dropout2 = nn.Dropout(rate)

    def forward(self, inputs):
        attn_output = self.att(inputs, inputs, inputs, need_weights=False)[0]
        attn_output = self.dropout1(attn_output)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(nn.Module):
    """Token embeddings plus learned position embeddings (positions 0..length-1)."""

    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = nn.Embedding(vocab_size, embed_dim)
        self.pos_emb = nn.Embedding(maxlen, embed_dim)

    def forward(self, x):
        maxlen = x.shape[-1]
        positions = torch.arange(0, end=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x.long())
        return x + positions


class BertEncoder(nn.Module):
    """Embeddings, `num_layers` transformer blocks, pooled [CLS] output, classifier."""

    def __init__(self, vocab_size=100, maxlen=16, embed_dim=32, num_heads=4, ff_dim=64, num_layers=2, num_classes=3):
        super().__init__()
        self.embeddings = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
        self.embed_norm = nn.LayerNorm(embed_dim, eps=1e-12)
        self.blocks = nn.ModuleList([TransformerBlock(embed_dim, embed_dim, num_heads, ff_dim) for _ in range(num_layers)])
        self.pooler = nn.Linear(embed_dim, embed_dim)
        self.classifier = nn.Linear(embed_dim, num_classes)

    def forward(self, token_ids):
        x = self.embed_norm(self.embeddings(token_ids))
        for block in self.blocks:
            x = block(x)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return self.classifier(pooled)
