"""portmodel: port deep-learning models between Keras and PyTorch (source, weights, proof)."""

__version__ = "0.1.0"
