"""A VGG-style CNN: named stages in OrderedDicts, padded max pooling, view-flatten."""
import keras
from keras import layers, ops


class SmallVGG(keras.Model):
    def __init__(self, num_classes=5, **kwargs):
        super().__init__(**kwargs)
        self.features = keras.Sequential([
                    layers.Conv2D(8, 3, padding='same'),
                    layers.BatchNormalization(epsilon=1e-05, momentum=0.9),
                    layers.ReLU(),
                    layers.Conv2D(16, 3, padding='same'),
                    layers.ReLU(),
                ])
        self.pool = layers.MaxPooling2D(3, strides=2)
        self.classifier = layers.Dense(num_classes)

    def call(self, x):
        x = self.features(x)
        x = self.pool(ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=float('-inf')))
        x = ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (ops.shape(x)[0], -1))  # torch's (C, H, W) order
        return ops.softmax(self.classifier(x), axis=1)
