"""Checkpoint conversion without source translation: PyTorch / Keras / SavedModel / ONNX
to ONNX, SavedModel, TFLite and PyTorch, through ONNX, verified at every stage."""

from .pipeline import QUANTIZE, TARGETS, convert

__all__ = ["QUANTIZE", "TARGETS", "convert"]
