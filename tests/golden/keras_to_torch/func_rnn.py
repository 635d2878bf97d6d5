"""Embedding, a bidirectional LSTM and a GRU: gate orders and biases must be exact."""
import torch
from torch import nn


class Tagger(nn.Module):
    """Ported from Keras `build_tagger` by portmodel."""

    def __init__(self, vocab=50):
        super().__init__()
        self.embedding = nn.Embedding(vocab, 8)
        self.bidirectional = nn.LSTM(8, 6, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(12, 5, batch_first=True)
        self.dense = nn.Linear(5, 4)
        self.bidirectional_1 = nn.GRU(5, 3, batch_first=True, bidirectional=True)
        self.dense_1 = nn.Linear(6, 2)

    def forward(self, tokens):
        x = self.embedding(tokens)
        x = self.bidirectional(x)[0]
        x = self.gru(x)[0]
        tags = self.dense(x)  # per-token logits
        summary = torch.cat(self.bidirectional_1(x)[1].unbind(0), dim=-1)
        return tags, self.dense_1(summary)


def build_tagger(vocab=50):
    return Tagger(vocab=vocab)
