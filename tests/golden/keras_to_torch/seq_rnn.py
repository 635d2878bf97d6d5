"""Sequential recurrent stack on float features."""
from torch import nn


class Rnn(nn.Module):
    """Ported from Keras `build_rnn` by portmodel."""

    def __init__(self):
        super().__init__()
        self.simple_rnn = nn.RNN(4, 6, batch_first=True)
        self.simple_rnn_1 = nn.RNN(6, 5, batch_first=True, nonlinearity='relu')
        self.lstm = nn.LSTM(5, 4, batch_first=True)
        self.dense = nn.Linear(4, 2)

    def forward(self, x):
        x = self.simple_rnn(x)[0]
        x = self.simple_rnn_1(x)[0]
        x = self.lstm(x)[0][:, -1]
        x = self.dense(x)
        return x


def build_rnn():
    return Rnn()
