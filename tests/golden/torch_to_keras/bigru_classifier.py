"""A bidirectional GRU sequence classifier on float features."""
import keras
from keras import layers, ops


class BiGRUClassifier(keras.Model):
    def __init__(self, features=10, hidden=16, classes=3):
        super().__init__()
        self.gru = layers.Bidirectional(layers.GRU(hidden, return_sequences=True))
        self.fc = layers.Dense(classes)

    def call(self, x):
        out = self.gru(x)
        last = out[:, -1, :]  # the last time step, both directions
        _t1 = self.fc(last)
        return ops.moveaxis(_t1, 1, -1) if len(_t1.shape) in (4, 5) else _t1
