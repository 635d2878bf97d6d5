"""A language-model-shaped stack sized for bench/weights.py: 537M float32 parameters (2.1 GB),
the largest tensors 512 MiB (the embedding and the output projection)."""

from torch import nn

VOCAB, DIM, HIDDEN, BLOCKS = 32768, 4096, 8192, 4


class FeedForward(nn.Module):
    """Pre-norm residual MLP block."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.down = nn.Linear(hidden, dim)

    def forward(self, x):
        return x + self.down(self.act(self.up(self.norm(x))))


class WideLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = nn.ModuleList([FeedForward(DIM, HIDDEN) for _ in range(BLOCKS)])
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def forward(self, tokens):
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))
