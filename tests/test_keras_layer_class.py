"""Keras Layer subclasses -> nn.Module classes (`keras_to_torch.code.layer_class`).

keras.applications' own layers are read from the installed Keras (never copied here), the
rest are written below; each translation is run and compared with the Keras layer itself on
seeded inputs (NHWC on the Keras side, NCHW on the port's) within 1e-6.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

import libcst as cst
import torch.nn.functional as F
from libcst.metadata import MetadataWrapper, PositionProvider
from torch import nn

from portmodel.keras_to_torch.code.functions import FileFunctions
from portmodel.keras_to_torch.code.layer_class import is_layer_class, write_layer_class
from portmodel.keras_to_torch.hooks import SUPPORT
from portmodel.keras_to_torch.names import ImportTable
from portmodel.rulebook import load_rules
from portmodel.weights import transfer

APPS = Path(keras.__file__).parent / "src" / "applications"
RULES = load_rules()
TOL = {"atol": 1e-6, "rtol": 1e-6}

SYNTHETIC = textwrap.dedent('''
    import keras
    from keras import initializers, layers, ops


    class Shifted(layers.Layer):
        """Scales, shifts and squashes; halves in training."""

        def __init__(self, units, scale=2.0, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.scale = scale
            self.supports_masking = True

        def build(self, input_shape):
            self.offset = self.add_weight(
                shape=(self.units,), initializer=initializers.Constant(0.25), trainable=True, name="offset"
            )
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros", trainable=False, name="bias")
            super().build(input_shape)

        def call(self, inputs, training=None):
            y = ops.relu(inputs * self.scale + self.offset) - self.bias
            y = ops.clip(y, 0.0, 3.0) + ops.square(inputs)
            if training:
                y = y * 0.5
            return ops.sigmoid(y) * ops.exp(-ops.abs(inputs))

        def get_config(self):
            return {**super().get_config(), "units": self.units, "scale": self.scale}


    class Project(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")

        def call(self, x):
            y = ops.matmul(x, self.kernel)
            return ops.softmax(y - ops.mean(y, axis=[1, 2], keepdims=True))


    class Positional(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.norm = layers.LayerNormalization()

        def build(self, input_shape):
            self.table = self.add_weight(shape=input_shape[1:3], initializer="zeros")

        def call(self, x):
            return self.norm(x) + self.table[None, :, :, None]
''')


def _translate(source: str, path: str, name: str):
    wrapper = MetadataWrapper(cst.parse_module(source), unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    module = wrapper.module
    files = FileFunctions(module, ImportTable(module), set(RULES.layers), path)
    stmt = next(s for s in module.body if isinstance(s, cst.ClassDef) and s.name.value == name)
    assert is_layer_class(files, stmt)
    return write_layer_class(stmt, files, path, positions, RULES)


def _application(file: str, name: str):
    path = APPS / file
    return _translate(path.read_text(), str(path), name)


def _load(result):
    namespace = {"torch": torch, "nn": nn, "F": F}
    for name in result.support:
        exec(SUPPORT[name], namespace)  # noqa: S102 - the support functions the port calls
    exec(result.text, namespace)  # noqa: S102 - the port just generated
    return namespace[result.name]


def _keras_synthetic(name: str):
    namespace: dict = {}
    exec(compile(SYNTHETIC, "synthetic.py", "exec"), namespace)  # noqa: S102 - the Keras reference
    return namespace[name]


def _nhwc(*shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _nchw(x: np.ndarray):
    return torch.from_numpy(x).permute(0, 3, 1, 2)


def _check(got, want) -> None:
    """`got` (the port's NCHW tensor) against Keras' NHWC output."""
    got = got.detach().permute(0, 2, 3, 1).numpy()
    want = keras.ops.convert_to_numpy(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, **TOL)


def test_custom_scale_layer_takes_a_list_of_inputs():
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    result = _application("inception_resnet_v2.py", "CustomScaleLayer")
    assert result.preserves_channels and result.in_channels is None
    assert [d.code for d in result.diagnostics] == ["PM002"]  # get_config, dropped
    a, b = _nhwc(2, 5, 6, 8), _nhwc(2, 5, 6, 8, seed=1)
    port = _load(result)(0.17, name="block35_1_ac").eval()
    _check(port([_nchw(a), _nchw(b)]), CustomScaleLayer(0.17)([a, b]))


def test_layer_scale_carries_gamma():
    from keras.src.applications.convnext import LayerScale

    result = _application("convnext.py", "LayerScale")
    assert "def build" not in result.text and "nn.Parameter(torch.full(" in result.text
    assert result.preserves_channels
    x = _nhwc(2, 4, 3, 16)
    layer = LayerScale(1e-6, 16)
    layer.build(x.shape)
    layer.gamma.assign(_nhwc(16, seed=3))
    port = _load(result)(1e-6, 16, name="stage_0_block_0_layer_scale").eval()
    port.load_state_dict(transfer(layer, port), strict=True)
    np.testing.assert_array_equal(port.gamma.detach().numpy(), layer.gamma.numpy())
    _check(port(_nchw(x)), layer(x))


def test_stochastic_depth_identity_in_eval_and_drops_whole_samples_in_training():
    from keras.src.applications.convnext import StochasticDepth

    result = _application("convnext.py", "StochasticDepth")
    assert "self.training" in result.text and "torch.rand(shape, device=x.device)" in result.text
    assert result.preserves_channels
    x = _nhwc(16, 3, 4, 5)
    port = _load(result)(0.5)
    _check(port.eval()(_nchw(x)), StochasticDepth(0.5)(x, training=False))
    torch.manual_seed(0)
    out = port.train()(_nchw(x))
    assert out.shape == (16, 5, 3, 4)
    kept = 0
    for got, given in zip(out, _nchw(x)):
        if torch.count_nonzero(got) == 0:
            continue
        torch.testing.assert_close(got, given / 0.5, atol=1e-6, rtol=1e-6)
        kept += 1
    assert 0 < kept < 16  # seeded: both outcomes occur


def test_synthetic_layer_weights_ops_and_training_branch():
    result = _translate(SYNTHETIC, "synthetic.py", "Shifted")
    text = result.text
    assert "self.offset = nn.Parameter(torch.full((self.units,), 0.25, dtype=torch.float32))" in text
    assert 'self.register_buffer("bias", torch.zeros((self.units,)))' in text
    assert "if self.training:" in text and "supports_masking" not in text and "def get_config" not in text
    assert not [d for d in result.diagnostics if d.severity == "todo"], result.diagnostics
    assert result.preserves_channels
    keras_layer = _keras_synthetic("Shifted")(6, scale=1.5)
    x = _nhwc(2, 3, 4, 6)
    keras_layer.build(x.shape)
    keras_layer.offset.assign(_nhwc(6, seed=4))
    keras_layer.bias.assign(_nhwc(6, seed=5))
    port = _load(result)(6, scale=1.5, name="shifted")
    port.load_state_dict(transfer(keras_layer, port), strict=True)
    _check(port.eval()(_nchw(x)), keras_layer(x, training=False))
    _check(port.train()(_nchw(x)), keras_layer(x, training=True))


def test_build_reading_the_channel_count_takes_it_as_an_argument():
    result = _translate(SYNTHETIC, "synthetic.py", "Project")
    assert result.in_channels == "in_channels" and not result.preserves_channels
    assert "def __init__(self, units, *, in_channels, **kwargs):" in result.text
    assert "F.softmax(y - torch.mean(y, dim=(1, 2), keepdim=True), dim=-1)" in result.text
    keras_layer = _keras_synthetic("Project")(3)
    x = _nhwc(2, 4, 5, 7)
    keras_layer.build(x.shape)
    port = _load(result)(3, in_channels=7).eval()
    port.load_state_dict(transfer(keras_layer, port), strict=True)
    _check(port(_nchw(x)), keras_layer(x))


def test_what_is_not_translated_is_a_todo_with_its_line():
    result = _translate(SYNTHETIC, "synthetic.py", "Positional")
    lines = SYNTHETIC.splitlines()
    shape_line = next(i for i, line in enumerate(lines, 1) if "input_shape[1:3]" in line)
    norm_line = next(i for i, line in enumerate(lines, 1) if "layers.LayerNormalization()" in line)
    todos = [d for d in result.diagnostics if d.severity == "todo"]
    assert {(d.code, d.line) for d in todos} == {("PM001", shape_line), ("PM001", norm_line)}, todos
    assert result.text.count("# portmodel: TODO") == 2
    assert "def build(self, input_shape):" in result.text  # kept, never called
    compile(result.text, "port.py", "exec")  # still Python
