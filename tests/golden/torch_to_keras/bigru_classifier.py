"""A bidirectional GRU sequence classifier on float features."""
import keras
from keras import layers


class BiGRUClassifier(keras.Model):
    def __init__(self, features=10, hidden=16, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.gru = layers.Bidirectional(layers.GRU(hidden, return_sequences=True))
        self.fc = layers.Dense(classes)

    def call(self, x):
        out = self.gru(x)
        last = out[:, -1, :]  # the last time step, both directions
        return self.fc(last)
