"""A small CNN for scikit-learn's 8x8 digits, written in Keras.

This is the bundled example that `portmodel port` translates to PyTorch.
"""

import keras
import numpy as np
from keras import layers

NUM_CLASSES = 10
IMAGE_SHAPE = (8, 8, 1)


def preprocess(images):
    """Scale 0..16 pixel values to 0..1 and add the channel axis (NHWC)."""
    return (np.asarray(images, dtype="float32") / 16.0).reshape(-1, *IMAGE_SHAPE)


def build_model(num_classes=NUM_CLASSES):
    """Two conv blocks (the second with stride 2, TensorFlow 'same' padding) and a classifier."""
    inputs = keras.Input(shape=IMAGE_SHAPE)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = layers.BatchNormalization(momentum=0.9)(x)
    # downsample 8x8 -> 4x4
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)  # channels-last element order
    x = layers.Dropout(0.25)(x)
    outputs = layers.Dense(num_classes)(x)  # logits
    return keras.Model(inputs, outputs, name="digits_cnn")
