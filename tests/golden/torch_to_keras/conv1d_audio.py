"""A 1-D convolutional audio classifier: (batch, channels, time) input."""
import keras
from keras import layers, ops


class AudioNet(keras.Model):
    def __init__(self, in_channels=4, classes=6, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv1D(16, 5, padding="same")
        self.bn1 = layers.BatchNormalization(epsilon=1e-05, momentum=0.9)
        self.pool = layers.MaxPooling1D(2)
        self.conv2 = keras.Sequential([layers.ZeroPadding1D(1), layers.Conv1D(32, 3, strides=2)])
        self.bn2 = layers.BatchNormalization(epsilon=1e-05, momentum=0.9)
        self.fc = layers.Dense(classes)

    def call(self, x):
        x = ops.moveaxis(x, 1, -1)
        x = self.pool(ops.relu(self.bn1(self.conv1(x))))
        x = ops.relu(self.bn2(self.conv2(x)))
        x = ops.mean(x, axis=-2)  # average over time
        return self.fc(x)
