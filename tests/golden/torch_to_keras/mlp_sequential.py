"""An MLP classifier for 28x28 images as one nn.Sequential."""
import keras
from keras import layers, ops


class MLPClassifier(keras.Model):
    def __init__(self, hidden=64, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        # flatten the image, then two hidden layers
        self.net = keras.Sequential([layers.Flatten(), layers.Dense(hidden), layers.ReLU(), layers.Dropout(0.25), layers.Dense(hidden), layers.Activation("tanh"), layers.Dense(num_classes)])

    def call(self, x):
        return ops.moveaxis(self.net(x), 1, -1)
