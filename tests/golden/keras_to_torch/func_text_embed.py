"""Embedding + pooling text classifier (integer token inputs)."""
import torch
import torch.nn.functional as F
from torch import nn

VOCAB = 100
MAXLEN = 12


class TextClassifier(nn.Module):
    """Ported from Keras `build_text_classifier` by portmodel."""

    def __init__(self, vocab_size=VOCAB, embed_dim=16):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.conv1d = nn.Conv1d(embed_dim, 16, kernel_size=3, padding=1)
        self.dropout = nn.Dropout(0.3)
        self.dense = nn.Linear(32, 2)

    def forward(self, tokens):
        x = self.embedding(tokens)
        x = F.relu(self.conv1d(x.transpose(1, 2)))
        avg = x.mean(dim=2)
        mx = x.amax(dim=2)
        x = torch.cat([avg, mx], dim=-1)
        x = self.dropout(x)
        return self.dense(x)


def build_text_classifier(vocab_size=VOCAB, embed_dim=16):
    return TextClassifier(vocab_size=vocab_size, embed_dim=embed_dim)
