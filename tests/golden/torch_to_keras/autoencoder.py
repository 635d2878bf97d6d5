"""A convolutional autoencoder: strided convs down, transposed convs and upsampling up."""
import keras
from keras import layers


class ConvAutoencoder(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = keras.Sequential([keras.Sequential([layers.ZeroPadding2D(1), layers.Conv2D(8, 3, strides=2)]), layers.LeakyReLU(negative_slope=0.1), keras.Sequential([layers.ZeroPadding2D(1), layers.Conv2D(16, 3, strides=2)]), layers.ELU()])
        self.decoder = keras.Sequential([keras.Sequential([layers.Conv2DTranspose(8, 3, strides=2, output_padding=1), layers.Cropping2D(1)]), layers.ReLU(), layers.UpSampling2D(2), layers.Conv2D(1, 3, padding="same"), layers.Activation("sigmoid")])

    def call(self, x):
        return self.decoder(self.encoder(x))
