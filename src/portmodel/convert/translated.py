"""TensorFlow targets without onnx2tf: from a Keras or SavedModel source directly, and from
PyTorch code through portmodel's own translation, where onnx2tf cannot go.

onnx2tf guesses layouts from shapes and fails on many sequence models (LSTM over token
ids, attention over (batch, time, features): "Dimensions must be equal", "Can't convert
Python sequence with mixed types"). When the source is PyTorch code that portmodel
translates, the Keras port (with the source's weights) is exported as a SavedModel and
converted to TFLite by TensorFlow's own converter; the report says which route ran.
"""

from __future__ import annotations

import os

from ..core.errors import PortmodelError
from .sources import Source


def keras_port(source: Source, model_py: str):
    """The Keras port of a PyTorch source file (its source written to `model_py`), carrying
    the source model's weights."""
    from ..core.fsutil import write_text
    from ..loading import load_keras_port
    from ..port import _refuse_todos, pick_model, read_source
    from ..translate import translate_source
    from ..weights import transfer_to_keras

    result = translate_source(read_source(source.path), source.path, input_shape=source.input_shape, to="keras")
    info = pick_model(result, source.name, "PyTorch")
    _refuse_todos(result, source.path)
    write_text(model_py, result.code)
    keras_model = load_keras_port(f"{model_py}:{info.target}", source.input_shape)
    transfer_to_keras(source.live_model(), keras_model)
    return keras_model


def tensorflow_files(work: str, quantize, dynamic_int8_path: str | None, tflite: bool, batch: int,
                     keras_model=None, saved_model: str | None = None) -> list[str]:
    """`work`/ SavedModel (exported from `keras_model`, or a copy of `saved_model`) and the
    TFLite files TensorFlow's converter makes from it; returns notes for the report.

    TensorFlow's converter cannot lower a dynamic-batch RNN loop (TensorList ops) to
    builtin TFLite ops; then the TFLite files are made from the signature frozen with the
    batch fixed to `batch` (the report says so)."""
    import shutil

    from ..loading import quiet_import

    tf = quiet_import("tensorflow")

    notes = []
    if keras_model is not None:
        os.makedirs(work, exist_ok=True)
        keras_model.export(work, format="tf_saved_model", verbose=False)
    else:
        shutil.copytree(saved_model, work)

    def write_tflite(path: str, optimize: bool = False, float16: bool = False) -> None:
        converter = tf.lite.TFLiteConverter.from_saved_model(work)
        if notes:
            converter = tf.lite.TFLiteConverter.from_concrete_functions([_fixed_batch(work, keras_model, batch)])
        if optimize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if float16:
            converter.target_spec.supported_types = [tf.float16]
        try:
            data = converter.convert()
        except Exception as exc:  # noqa: BLE001 - the converter's MLIR errors: keep the telling line
            lines = [ln for ln in str(exc).splitlines() if "error" in ln.lower()] or [type(exc).__name__]
            raise PortmodelError(f"stage tflite: TensorFlow's TFLite converter failed: {lines[-1][:300]}") from None
        with open(path, "wb") as f:
            f.write(data)

    if tflite:
        try:
            write_tflite(os.path.join(work, "model_float32.tflite"))
        except PortmodelError as exc:
            if "tensor list" not in str(exc).lower() or keras_model is None:
                raise
            notes.append(f"TFLite with a fixed batch of {batch}: TensorFlow's converter cannot lower the "
                         "dynamic-batch recurrent loop (TensorList ops) to builtin ops")
            write_tflite(os.path.join(work, "model_float32.tflite"))
        if "float16" in quantize:
            write_tflite(os.path.join(work, "model_float16.tflite"), optimize=True, float16=True)
        if dynamic_int8_path:
            write_tflite(dynamic_int8_path, optimize=True)
    return notes


def _fixed_batch(work: str, keras_model, batch: int):
    """The model traced with the batch fixed (shapes from the SavedModel's signature), frozen."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = tf.saved_model.load(work).signatures["serving_default"].structured_input_signature[1]
    signature = [tf.TensorSpec((batch, *specs[n].shape[1:]), specs[n].dtype, name=n) for n in specs]

    @tf.function(input_signature=signature)
    def call(*args):
        return keras_model(list(args) if len(args) > 1 else args[0], training=False)

    return convert_variables_to_constants_v2(call.get_concrete_function())
