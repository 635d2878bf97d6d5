"""VGG as torchvision writes it (configuration lists, make_layers, a factory per depth),
scaled down for tests: narrow channels, 32x32 inputs, 10 classes."""
import keras
from keras import ops

__all__ = ["VGG", "vgg11_bn"]


class VGG(keras.Model):
    def __init__(self, features, num_classes=10, init_weights=True, **kwargs):
        super().__init__(**kwargs)
        self.features = features
        self.avgpool = keras.layers.AdaptiveAveragePooling2D((2, 2))
        self.classifier = keras.Sequential([
            keras.layers.Dense(128),
            keras.layers.ReLU(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(128),
            keras.layers.ReLU(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(num_classes),
        ])
        if init_weights:
            self._initialize_weights()

    def call(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (-1, 256))
        x = self.classifier(x)
        return x

    def _initialize_weights(self):
        pass


def make_layers(cfg, batch_norm=False):
    layers = []
    for v in cfg:
        if v == "M":
            layers += [keras.layers.MaxPooling2D(2)]
        else:
            conv2d = keras.layers.Conv2D(v, 3, padding='same')
            if batch_norm:
                layers += [conv2d, keras.layers.BatchNormalization(epsilon=1e-05, momentum=0.9), keras.layers.ReLU()]
            else:
                layers += [conv2d, keras.layers.ReLU()]
    return keras.Sequential(layers)


cfgs = {
    "A": [16, "M", 32, "M", 64, 64, "M", 64, 64, "M"],
}


def vgg11_bn(**kwargs):
    return VGG(make_layers(cfgs["A"], batch_norm=True), **kwargs)
