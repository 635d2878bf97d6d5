"""Keras -> PyTorch, code-directed: single layers the keras.applications files do not use
(LayerNormalization, Cropping2D), in small builders written here.

Each builder is translated as code, built with its defaults and with other arguments, its
weights carried over, and compared with the Keras model layer by layer within 1e-5.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from portmodel.examples import randomize
from portmodel.translate import translate_source
from portmodel.verify import per_layer, run_keras, run_torch
from portmodel.weights import transfer

HEAD = """
import keras
from keras import layers


"""


def _load(path: Path, text: str):
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _port(tmp_path: Path, src: str):
    """The translation, the Keras builder and the port's class."""
    result = translate_source(HEAD + src, "m.py", to="torch", engine="code")
    assert not result.todos, [d.format() for d in result.todos]
    source, port = _load(tmp_path / "m.py", HEAD + src), _load(tmp_path / "m_port.py", result.code)
    keras.backend.clear_session()  # unnamed layers: Keras' names (`conv2d_1`) count from 0, as the port's do
    return result, source.build, port.build


def _check(keras_model, torch_model, shape) -> None:
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype("float32")
    randomize(keras_model)
    run_torch(torch_model, [x])  # lazy modules (a Dense after a Flatten or Reshape) take their sizes
    torch_model.load_state_dict(transfer(keras_model, torch_model), strict=True)
    rows = per_layer(keras_model, torch_model, [x], atol=1e-5, rtol=1e-5)
    compared = [r for r in rows if r["compared"]]
    assert compared, rows
    failed = [r for r in compared if not r["passed"]]
    assert not failed, failed[:3]
    _same_outputs(keras_model, torch_model, x)


def _check_tokens(keras_model, torch_model, vocab: int, steps: int) -> None:
    """A model of token ids: weights carried, outputs compared (no per-layer rows: the ids are no floats)."""
    tokens = np.random.default_rng(0).integers(0, vocab, (2, steps)).astype("int32")
    randomize(keras_model)
    torch_model.load_state_dict(transfer(keras_model, torch_model), strict=True)
    _same_outputs(keras_model, torch_model, tokens)


def _same_outputs(keras_model, torch_model, x) -> None:
    (ref,), (got,) = run_keras(keras_model, [x]), run_torch(torch_model, [x])
    assert ref.shape == got.shape
    assert np.abs(ref - got).max() <= 1e-5 * max(1.0, float(np.abs(ref).max()))


LAYER_NORM = """
def build(input_shape=(16, 16, 3), center=True):
    inputs = layers.Input(shape=input_shape)
    x = layers.Conv2D(8, 3, padding="same")(inputs)
    x = layers.LayerNormalization()(x)
    x = layers.LayerNormalization(epsilon=1e-6, center=False)(x)
    x = layers.LayerNormalization(scale=False)(x)
    x = layers.LayerNormalization(center=False, scale=False)(x)
    x = layers.LayerNormalization(axis=3, center=center)(x)
    x = layers.Conv2D(5, 3, strides=2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    x = layers.LayerNormalization(center=False)(x)
    model = keras.Model(inputs, x)
    return model
"""


@pytest.mark.parametrize("kwargs", [{}, {"input_shape": (12, 10, 4), "center": False}], ids=["defaults", "no-center"])
def test_layer_normalization(tmp_path, kwargs):
    result, keras_build, torch_build = _port(tmp_path, LAYER_NORM)
    assert "nn.LayerNorm(8, eps=1e-6, bias=False)" in result.code
    assert "keras_fixed_affine(nn.LayerNorm(8, eps=0.001), scale=False)" in result.code
    assert "nn.LayerNorm(8, eps=0.001, elementwise_affine=False)" in result.code
    assert "keras_fixed_affine(nn.LayerNorm(8, eps=0.001), center=center)" in result.code  # known at run time
    assert ".movedim(1, -1)).movedim(-1, 1)" in result.code  # rank 4: the channels (dim 1) normalised
    torch_model = torch_build(**kwargs)
    state = torch_model.state_dict()
    assert "layer_normalization_1.bias" not in state and "layer_normalization_2.weight" not in state
    assert ("layer_normalization_4.bias" in state) == kwargs.get("center", True)
    _check(keras_build(**kwargs), torch_model, kwargs.get("input_shape", (16, 16, 3)))


@pytest.mark.parametrize(("layer", "reason"), [
    ("layers.LayerNormalization(axis=1)", "only the last (channel) axis"),
    ("layers.LayerNormalization(axis=[1, 2, 3])", "only the last (channel) axis"),
    ("layers.LayerNormalization(rms_scaling=True)", "rms_scaling"),
    ("layers.Cropping2D(1, data_format='channels_first')", "channels_last"),
    # found by bench/fuzz.py: a writer reached its template without an argument it needs
    ("layers.DepthwiseConv2D(strides=2, padding='same')", "DepthwiseConv2D without kernel_size"),
    ("layers.SeparableConv2D(8)", "SeparableConv2D without kernel_size"),
])
def test_untranslatable_forms_say_why(layer, reason):
    src = HEAD + f"""
def build(input_shape=(16, 16, 3)):
    inputs = layers.Input(shape=input_shape)
    x = layers.Conv2D(8, 3)(inputs)
    x = {layer}(x)
    model = keras.Model(inputs, x)
    return model
"""
    result = translate_source(src, "m.py", to="torch", engine="code")
    assert any(reason in d.message for d in result.todos), [d.format() for d in result.todos]


CROPPING = """
def build(input_shape=(16, 16, 3), crop=1):
    inputs = layers.Input(shape=input_shape)
    x = layers.Conv2D(6, 3, padding="same")(inputs)
    x = layers.Cropping2D(2)(x)
    x = layers.Conv2D(5, 1)(x)
    x = layers.Cropping2D(((1, 0), (1, 0)))(x)
    x = layers.Conv2D(4, 3, padding="same")(x)
    x = layers.Cropping2D((2, 1))(x)
    x = layers.Cropping2D(cropping=((0, 1), (2, 0)))(x)
    x = layers.Cropping2D(crop)(x)
    x = layers.Conv2D(3, 3)(x)
    model = keras.Model(inputs, x)
    return model
"""


@pytest.mark.parametrize("kwargs", [{}, {"input_shape": (18, 15, 2), "crop": ((0, 2), (1, 0))}], ids=["defaults", "other"])
def test_cropping2d(tmp_path, kwargs):
    result, keras_build, torch_build = _port(tmp_path, CROPPING)
    for sliced in ("[:, :, 2:-2, 2:-2]", "[:, :, 1:, 1:]", "[:, :, 2:-2, 1:-1]", "[:, :, :-1, 2:]"):
        assert sliced in result.code
    assert "keras_crop(x, crop)" in result.code  # sizes only known at run time
    torch_model = torch_build(**kwargs)
    keras_model = keras_build(**kwargs)
    _check(keras_model, torch_model, kwargs.get("input_shape", (16, 16, 3)))


SPATIAL = """
def shrink(x, filters, name=None):
    x = layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = layers.Cropping2D(((1, 0), (1, 0)))(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    return layers.Conv2D(filters, 1, name=name)(x)


def adjust(p, x, name=None):
    if p is None:
        p = x
    elif p.shape[1] != x.shape[1]:
        p = layers.Conv2D(x.shape[-1], 3, strides=2, padding="same", name=f"{name}_down")(p)
    return layers.add([p, x])


def build(input_shape=(16, 16, 3), blocks=2):
    inputs = layers.Input(shape=input_shape)
    x = layers.Conv2D(4, 3, name="stem")(inputs)
    p = None
    for i in range(blocks):
        y = adjust(p, x, name=f"adjust{i}")
        p = x
        x = shrink(y, 4 * (i + 2), name=f"shrink{i}")
    if x.shape[1] >= 4:
        x = layers.Conv2D(6, 3, name="head")(x)
    else:
        x = layers.Conv2D(6, 1, name="tail")(x)
    model = keras.Model(inputs, x)
    return model
"""


@pytest.mark.parametrize("shape", [(16, 16, 3), (9, 11, 3)])
def test_spatial_sizes_read_in_init_and_tensors_that_may_be_none(tmp_path, shape):
    """Which modules to build depends on spatial sizes (`p.shape[1] != x.shape[1]`): `__init__`
    bookkeeps them (`x_size`, helpers' `self.out_size`), and `p = None` is a tensor that may be None."""
    result, keras_build, torch_build = _port(tmp_path, SPATIAL)
    assert "elif p_size[0] != x_size[0]:" in result.code and "elif p.shape[2] != x.shape[2]:" in result.code
    assert "if p_channels is None:" in result.code and "if p is None:" in result.code
    assert "if x_size[0] >= 4:" in result.code and "self.out_size = " in result.code
    assert "def __init__(self, p_channels, x_channels, name=None, p_size=None, x_size=None):" in result.code
    names = {n.rsplit(".", 1)[-1] for n, _ in torch_build(input_shape=shape).named_modules()}
    assert ("head" in names) == (shape[0] == 16) and "adjust0_down" not in names and "adjust1_down" in names
    _check(keras_build(input_shape=shape), torch_build(input_shape=shape), shape)
    plain = translate_source(HEAD + CROPPING, "m.py", to="torch", engine="code")
    assert "_size" not in plain.code  # no spatial size read in __init__: no size bookkeeping


UNET = """
def down(x, filters, name):
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv")(x)
    x = layers.GroupNormalization(groups=2, name=f"{name}_gn")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x), x


def up(x, skip, filters, name, learned=True):
    if learned:
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", name=f"{name}_up")(x)
    else:
        x = layers.UpSampling2D(interpolation="bilinear", name=f"{name}_up")(x)
    x = layers.Concatenate(name=f"{name}_cat")([x, skip])
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)
    return layers.LeakyReLU(negative_slope=0.1, name=f"{name}_act")(x)


def build(input_shape=(16, 16, 3), widths=(4, 8), classes=2, learned=True):
    inputs = layers.Input(shape=input_shape)
    x = inputs
    skips = []
    for i, w in enumerate(widths):
        x, skip = down(x, w, name=f"down{i}")
        skips.append(skip)
    x = layers.Conv2D(2 * widths[-1], 3, padding="same", name="middle")(x)
    x = layers.ELU(alpha=0.5, name="middle_elu")(x)
    for i, w in reversed(list(enumerate(widths))):
        x = up(x, skips[i], w, name=f"up{i}", learned=learned)
    outputs = layers.Conv2D(classes, 1, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)
"""


@pytest.mark.parametrize("kwargs", [{}, {"input_shape": (24, 16, 1), "widths": (4, 6, 8), "learned": False}],
                         ids=["transposed", "upsampled"])
def test_a_unet_builder(tmp_path, kwargs):
    """Conv2DTranspose, UpSampling2D, GroupNormalization, LeakyReLU and ELU in a builder whose depth,
    widths and way up are arguments, helpers giving two tensors (`x, skip = down(...)`)."""
    result, keras_build, torch_build = _port(tmp_path, UNET)
    assert "nn.ConvTranspose2d(" in result.code and 'mode="bilinear", align_corners=False' in result.code
    _check(keras_build(**kwargs), torch_build(**kwargs), kwargs.get("input_shape", (16, 16, 3)))


SEQUENCE = """
def build(steps=12, vocab=30, dim=8, kernel=3, pool="max"):
    tokens = layers.Input(shape=(steps,), dtype="int32")
    x = layers.Embedding(vocab, dim, name="embed")(tokens)
    x = layers.Conv1D(6, kernel, padding="causal", dilation_rate=2, activation="relu", name="causal")(x)
    x = layers.Conv1D(6, 3, strides=2, padding="same", name="strided")(x)
    x = layers.UpSampling1D(2, name="up")(x)
    x = layers.LayerNormalization(name="norm")(x)
    x = layers.Dense(5, name="per_step")(x)
    if pool == "max":
        x = layers.MaxPooling1D(2, name="pool")(x)
        x = layers.GlobalMaxPooling1D(name="global")(x)
    else:
        x = layers.GlobalAveragePooling1D(name="global")(x)
    return keras.Model(tokens, layers.Dense(3, name="head")(x))
"""


@pytest.mark.parametrize("kwargs", [{}, {"steps": 9, "dim": 4, "pool": "avg"}], ids=["max", "avg"])
def test_a_sequence_builder(tmp_path, kwargs):
    """Sequences (rank 3, channels first inside the port): Embedding, Conv1D causal and strided 'same',
    UpSampling1D, LayerNormalization and Dense per step, 1-D pooling."""
    result, keras_build, torch_build = _port(tmp_path, SEQUENCE)
    assert "nn.Embedding(vocab, dim)" in result.code and "F.pad(" in result.code
    _check_tokens(keras_build(**kwargs), torch_build(**kwargs), 30, kwargs.get("steps", 12))


def test_a_sequence_output_goes_out_as_keras_gives_it(tmp_path):
    """A model taking and giving sequences: (batch, steps, channels) at both ends, as `portmodel verify`
    and a Keras user pass them; channels first inside."""
    src = """
def build(steps=7):
    inputs = layers.Input(shape=(steps, 4))
    x = layers.Conv1D(5, 3, padding="same")(inputs)
    x = layers.Reshape((steps, 5, 1))(x)
    x = layers.Conv2D(2, 1)(x)
    x = layers.Reshape((steps, -1))(x)
    return keras.Model(inputs, layers.Dense(3)(x))
"""
    result, keras_build, torch_build = _port(tmp_path, src)
    assert "inputs = inputs.transpose(1, 2)" in result.code
    _check(keras_build(), torch_build(), (7, 4))


RECURRENT = """
def recurrent(x, units, cell, name):
    \"\"\"One recurrent layer, every step out.\"\"\"
    if cell == "lstm":
        return layers.LSTM(units, return_sequences=True, name=name)(x)
    if cell == "gru":
        return layers.GRU(units, return_sequences=True, name=name)(x)
    return layers.SimpleRNN(units, activation="relu", return_sequences=True, name=name)(x)


def build(steps=10, features=4, units=(6, 5), cell="lstm", classes=3, both_ways=False):
    inputs = layers.Input(shape=(steps, features))
    x = inputs
    for i, u in enumerate(units):
        x = recurrent(x, u, cell, name=f"rnn{i}")
    if both_ways:
        x = layers.Bidirectional(layers.LSTM(units[-1]), name="last")(x)
    else:
        x = layers.GRU(units[-1], name="last")(x)
    return keras.Model(inputs, layers.Dense(classes, name="head")(x))
"""


@pytest.mark.parametrize("kwargs", [{}, {"cell": "gru", "units": (3, 4, 2), "both_ways": True}, {"cell": "rnn", "steps": 6}],
                         ids=["lstm", "gru-bidirectional", "simple_rnn"])
def test_a_recurrent_builder(tmp_path, kwargs):
    """LSTM, GRU and SimpleRNN in a helper picked by an argument, stacked in a loop, a Bidirectional
    LSTM's final states: torch's modules batch first, the rule's gate orders carried by `portmodel weights`."""
    result, keras_build, torch_build = _port(tmp_path, RECURRENT)
    assert "nn.LSTM(" in result.code and "nn.GRU(" in result.code and 'nonlinearity="relu"' in result.code
    assert "bidirectional=True)" in result.code
    _check(keras_build(**kwargs), torch_build(**kwargs), (kwargs.get("steps", 10), 4))


def test_return_sequences_only_known_at_run_time_is_a_todo():
    """Whether the output keeps its steps sets its rank, which the engine follows statically."""
    src = HEAD + """
def build(every_step=False):
    inputs = layers.Input(shape=(5, 3))
    return keras.Model(inputs, layers.LSTM(4, return_sequences=every_step)(inputs))
"""
    result = translate_source(src, "m.py", to="torch", engine="code")
    assert any("return_sequences=every_step" in d.message for d in result.todos)


GROWING = """
def block(x, n, growth, name):
    features = []
    features.append(x)
    for i in range(n):
        y = layers.Conv2D(growth, 3, padding="same", name=f"{name}_conv{i}")(x)
        features.append(y)
        x = layers.Concatenate(name=f"{name}_cat{i}")(features)
    return x


def build(input_shape=(8, 8, 3), blocks=(2, 3), growth=4):
    inputs = layers.Input(shape=input_shape)
    x = inputs
    for b, n in enumerate(blocks):
        x = block(x, n, growth, name=f"block{b}")
        x = layers.Conv2D(growth * 2, 1, name=f"transition{b}")(x)
    return keras.Model(inputs, x)
"""


@pytest.mark.parametrize("kwargs", [{}, {"blocks": (1, 2, 2), "growth": 3}], ids=["defaults", "other"])
def test_a_list_of_tensors_concatenated_as_it_grows(tmp_path, kwargs):
    """`features.append(y)` then `Concatenate()(features)`: the channels are `sum(features)` of
    `__init__`'s list."""
    result, keras_build, torch_build = _port(tmp_path, GROWING)
    assert "torch.cat(features, dim=1)" in result.code and "sum(features)" in result.code
    _check(keras_build(**kwargs), torch_build(**kwargs), (8, 8, 3))


ENCODER = """
def encoder_block(x, dim, heads, name):
    attended = layers.MultiHeadAttention(heads, dim // heads, name=f"{name}_attn")(x, x)
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(x + attended)
    y = layers.Dense(2 * dim, activation="gelu", name=f"{name}_ff1")(x)
    y = layers.Dense(dim, name=f"{name}_ff2")(y)
    return layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(x + y)


def build(steps=6, vocab=20, dim=8, heads=2, depth=2, classes=3):
    tokens = layers.Input(shape=(steps,), dtype="int32")
    x = layers.Embedding(vocab, dim, name="embed")(tokens)
    for i in range(depth):
        x = encoder_block(x, dim, heads, name=f"block{i}")
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(tokens, layers.Dense(classes, name="head")(x))
"""


@pytest.mark.parametrize("kwargs", [{}, {"dim": 12, "heads": 3, "depth": 1, "steps": 4}], ids=["defaults", "other"])
def test_a_transformer_encoder_builder(tmp_path, kwargs):
    """MultiHeadAttention called (query, value) in a helper stacked `depth` times, widths and heads
    arguments: nn.MultiheadAttention batch first, Keras' per-head projections packed by `portmodel weights`."""
    result, keras_build, torch_build = _port(tmp_path, ENCODER)
    assert "nn.MultiheadAttention(x_channels, heads, batch_first=True)" in result.code
    _check_tokens(keras_build(**kwargs), torch_build(**kwargs), 20, kwargs.get("steps", 6))


UNNAMED = """
def build(input_shape, num_classes, widths=(16, 32)):
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    previous = x
    for size in widths:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous)
        x = layers.add([x, residual])
        previous = x
    x = layers.SeparableConv2D(24, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.GlobalAveragePooling2D()(x)
    units = 1 if num_classes == 2 else num_classes
    return keras.Model(inputs, layers.Dense(units)(x))
"""


@pytest.mark.parametrize("kwargs", [{"input_shape": (32, 32, 3), "num_classes": 5},
                                    {"input_shape": (40, 24, 1), "num_classes": 2, "widths": (8, 12, 6)}],
                         ids=["five", "binary"])
def test_unnamed_layers_in_a_loop_and_after_it(tmp_path, kwargs):
    """Layers without names: Keras numbers them over the whole model (`separable_conv2d_1` is the
    loop's second), the port keeps the loop's in one ModuleList and numbers the ones after it
    (`self.separable_conv2d_1`). `portmodel weights` pairs made-up names by order, not by name."""
    result, keras_build, torch_build = _port(tmp_path, UNNAMED)
    assert "self.separable_conv2d = nn.ModuleList()" in result.code and "self.separable_conv2d_1 = " in result.code
    _check(keras_build(**kwargs), torch_build(**kwargs), kwargs["input_shape"])


AUGMENTED = """
augment = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)], name="augment")


def build(input_shape=(16, 16, 3), classes=4, zoom=True):
    inputs = keras.Input(shape=input_shape)
    x = augment(inputs)
    if zoom:
        x = layers.RandomZoom(0.1)(x)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes)(x))
"""


@pytest.mark.parametrize("kwargs", [{}, {"input_shape": (20, 12, 1), "classes": 2, "zoom": False}], ids=["rgb", "gray"])
def test_augmentation_is_the_identity_at_inference(tmp_path, kwargs):
    """Random augmentation layers, inline and in a module-level Sequential the builder applies: the
    port leaves them out with a note (the Sequential stays Keras for the data pipeline, and becomes
    a module class where the builder applies it)."""
    result, keras_build, torch_build = _port(tmp_path, AUGMENTED)
    assert 'augment = keras.Sequential([layers.RandomFlip("horizontal")' in result.code
    assert "self.augment = augment(inputs_channels)" in result.code and "x = x\\n" not in result.code
    assert sum("random augmentation" in d.message for d in result.diagnostics) == 3
    _check(keras_build(**kwargs), torch_build(**kwargs), kwargs.get("input_shape", (16, 16, 3)))
