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
        self.classifier = keras.Sequential([keras.layers.Dense(128), keras.layers.ReLU(), keras.layers.Dropout(0.5), keras.layers.Dense(128), keras.layers.ReLU(), keras.layers.Dropout(0.5), keras.layers.Dense(num_classes)])
        if init_weights:
            self._initialize_weights()

    def call(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = ops.reshape(ops.moveaxis(x, -1, 1), (ops.shape(x)[0], -1))
        x = self.classifier(x)
        return x

    def _initialize_weights(self):
        for m in self._flatten_layers():
            if isinstance(m, keras.layers.Conv2D):
                m.kernel_initializer = keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")
                if m.use_bias:
                    m.bias_initializer = keras.initializers.Constant(0)
            elif isinstance(m, keras.layers.BatchNormalization):
                m.gamma_initializer = keras.initializers.Constant(1)
                m.beta_initializer = keras.initializers.Constant(0)
            elif isinstance(m, keras.layers.Dense):
                m.kernel_initializer = keras.initializers.RandomNormal(mean=0, stddev=0.01)
                m.bias_initializer = keras.initializers.Constant(0)


def make_layers(cfg, batch_norm=False):
    layers = []
    for v in cfg:
        if v == "M":
            layers += [keras.layers.MaxPooling2D(2, strides=2)]
        else:
            conv2d = keras.layers.Conv2D(v, 3, padding="same")
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
