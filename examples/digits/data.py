"""The digits data set bundled with scikit-learn (no download), split reproducibly."""

from keras_model import preprocess
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def load_split():
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.images, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    return preprocess(x_train), preprocess(x_test), y_train, y_test
