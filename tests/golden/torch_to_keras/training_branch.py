"""A model that reads self.training: input noise only while training."""
import keras
from keras import layers


class NoisyClassifier(keras.Model):
    def __init__(self, features=6, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.body = layers.Dense(12)
        self.act = layers.Activation("softplus")
        self.drop = layers.Dropout(0.1)
        self.head = layers.Dense(classes)

    def call(self, x, training=None):
        if training:
            x = x * 0.9  # shrink the inputs while training
        x = self.drop(self.act(self.body(x)))
        return self.head(x)
