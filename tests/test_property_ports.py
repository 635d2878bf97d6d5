"""Property test: random layer stacks in either framework, ported, compute the same thing.

PyTorch stacks are translated to Keras; Keras stacks go Keras -> PyTorch -> Keras (both
translations, one round trip). Each draw builds real models, so the example counts are
what CI can afford: 100 per direction (PORTMODEL_PROPERTY_EXAMPLES raises it locally).
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

N = int(os.environ.get("PORTMODEL_PROPERTY_EXAMPLES", "100"))
# What a float32 port can promise on these stacks: the same arithmetic in another order, so rounding only.
# Measured on this 2-core CPU over 500 draws per direction (PORTMODEL_PROPERTY_EXAMPLES=500), output scales
# 0.1 ... 9: max_abs <= 1.49e-6 (PyTorch -> Keras, at scale 0.375), <= 1.43e-6 (Keras -> PyTorch and back, at
# scale 2.4 ... 5.9). The error comes from intermediate values of order 1 (standard normal inputs, normalised
# activations), hence an absolute floor; RTOL adds what float32 ports agree to relative to the output's scale
# (~1e-6 of its largest magnitude) for the larger outputs. Bound: 4.4e-6 at scale 0.375, 9e-6 at scale 5.
ATOL, RTOL = 4e-6, 1e-6
SETTINGS = settings(
    max_examples=N, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow]
)

IMAGE_LAYERS = [
    "nn.Conv2d({c}, {o}, {k}, stride={s}, padding={p}, bias={b})",
    "nn.BatchNorm2d({c})",
    "nn.ReLU()",
    "nn.GELU()",
    "nn.SiLU()",
    "nn.MaxPool2d(2)",
    "nn.MaxPool2d(3, stride=2, padding=1)",
    "nn.AvgPool2d(2)",
    "nn.AvgPool2d(3, stride=1, padding=1)",
    "nn.Conv2d({c}, {c}, 3, padding=1, groups={c})",
]
VECTOR_LAYERS = [
    "nn.Linear({c}, {o}, bias={b})",
    "nn.LayerNorm({c})",
    "nn.Tanh()",
    "nn.Dropout(0.3)",
    "nn.LeakyReLU(0.05)",
    "nn.ELU()",
]


@st.composite
def torch_stacks(draw):
    import torch
    from torch import nn

    image = draw(st.booleans())
    shape = (draw(st.integers(1, 4)), draw(st.integers(5, 10)), draw(st.integers(5, 10))) if image else (
        draw(st.integers(2, 6)), draw(st.integers(2, 8)))
    x = torch.empty((2, *shape), device="meta")
    ctors = []
    for _ in range(draw(st.integers(1, 4))):
        template = draw(st.sampled_from(IMAGE_LAYERS if x.dim() == 4 else VECTOR_LAYERS))
        ctor = template.format(c=x.shape[1] if x.dim() == 4 else x.shape[-1], o=draw(st.integers(1, 6)),
                               k=draw(st.sampled_from([1, 3])), s=draw(st.sampled_from([1, 2])),
                               p=draw(st.sampled_from([0, 1])), b=draw(st.booleans()))
        if "LayerNorm(1)" in ctor:  # normalising one element amplifies rounding by 1/sqrt(eps)
            continue
        with torch.device("meta"):
            layer = eval(ctor, {"nn": nn})
        try:
            y = layer(x)
        except RuntimeError:  # too small for this layer: skip it
            continue
        if min(y.shape) < 1:
            continue
        ctors.append(ctor)
        x = y
    if x.dim() == 4:
        ctors += ["nn.Flatten()", f"nn.Linear({int(np.prod(x.shape[1:]))}, 3)"]
    return shape, ctors


def _torch_source(ctors: list[str]) -> str:
    init = "\n".join(f"        self.l{i} = {c}" for i, c in enumerate(ctors))
    body = "\n".join(f"        x = self.l{i}(x)" for i in range(len(ctors)))
    return (
        "import torch.nn as nn\n\n\nclass Stack(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        f"{init}\n\n    def forward(self, x):\n{body}\n        return x\n"
    )


@SETTINGS
@given(torch_stacks())
def test_random_torch_stacks_port_to_keras(tmp_path, stack):
    from helpers import torch_port

    from portmodel.verify import verify_torch_source

    shape, ctors = stack
    src = tmp_path / "stack.py"
    src.write_text(_torch_source(ctors))
    torch_model, keras_model, inputs = torch_port(src, "Stack", shape, tmp_path)
    (res,) = verify_torch_source(torch_model, keras_model, inputs, atol=ATOL, rtol=RTOL)
    assert res.passed, (ctors, [(o.max_abs, o.max_rel) for o in res.outputs])


KERAS_IMAGE = [
    "layers.Conv2D({o}, {k}, strides={s}, padding={pad!r}, use_bias={b})",
    "layers.BatchNormalization()",
    "layers.Activation('relu')",
    "layers.MaxPooling2D(2, padding={pad!r})",
    "layers.AveragePooling2D(3, strides=1, padding='same')",
    "layers.DepthwiseConv2D(3, padding={pad!r})",
]
KERAS_VECTOR = [
    "layers.Dense({o}, activation={act!r})",
    "layers.LayerNormalization()",
    "layers.Dropout(0.2)",
    "layers.Activation('tanh')",
]


@st.composite
def keras_stacks(draw):
    import keras
    from keras import layers

    image = draw(st.booleans())
    shape = (draw(st.integers(5, 10)), draw(st.integers(5, 10)), draw(st.integers(1, 4))) if image else (
        draw(st.integers(2, 8)),)
    current = (None, *shape)
    ctors = []
    for _ in range(draw(st.integers(1, 4))):
        template = draw(st.sampled_from(KERAS_IMAGE if len(current) == 4 else KERAS_VECTOR))
        ctor = template.format(o=draw(st.integers(1, 6)), k=draw(st.sampled_from([1, 3])),
                               s=draw(st.sampled_from([1, 2])), pad=draw(st.sampled_from(["same", "valid"])),
                               b=draw(st.booleans()), act=draw(st.sampled_from([None, "relu", "gelu", "sigmoid"])))
        if ctor.startswith("layers.LayerNorm") and current[-1] == 1:
            continue  # normalising one element amplifies rounding by 1/sqrt(eps)
        if ctor.startswith(("layers.Dropout", "layers.LayerNorm", "layers.Activation", "layers.BatchNorm")):
            out = current  # shape-preserving (and Dropout would draw a seed while drawing)
        else:
            try:
                out = eval(ctor, {"layers": layers}).compute_output_shape(current)
            except ValueError:  # too small for this layer: skip it
                continue
        if any(d is not None and d < 1 for d in out):
            continue
        ctors.append(ctor)
        current = out
    if len(current) == 4:
        ctors += ["layers.Flatten()", "layers.Dense(3)"]
    del keras
    return shape, ctors


@SETTINGS
@given(keras_stacks())
def test_random_keras_stacks_round_trip(tmp_path, stack):
    from helpers import torch_port

    from portmodel.examples import randomize
    from portmodel.loading import load_keras, load_torch_module
    from portmodel.translate import translate_source
    from portmodel.verify import compare, make_inputs, verify_torch_source
    from portmodel.weights import transfer

    shape, ctors = stack
    src = tmp_path / "stack.py"
    src.write_text(
        "import keras\nfrom keras import layers\n\n\ndef build():\n    return keras.Sequential([\n"
        f"        keras.Input(shape={shape!r}),\n" + "".join(f"        {c},\n" for c in ctors) + "    ])\n"
    )
    to_torch = translate_source(src.read_text(), str(src))
    assert not to_torch.todos, [d.format() for d in to_torch.todos]
    port = tmp_path / "stack_torch.py"
    port.write_text(to_torch.code)
    keras_model = load_keras(f"{src}:build")
    randomize(keras_model, seed=3)
    torch_model = load_torch_module(f"{port}:{to_torch.models[0].target}")
    torch_model.load_state_dict(transfer(keras_model, torch_model), strict=True)
    inputs = make_inputs(keras_model, seed=3)
    first = compare(keras_model, torch_model, inputs, atol=ATOL, rtol=RTOL)
    assert first.passed, (ctors, [(o.max_abs, o.max_rel) for o in first.outputs])
    # and back: the PyTorch port translated to Keras computes the same as the PyTorch port
    torch_shape = (shape[-1], *shape[:-1]) if len(shape) == 3 else shape
    back = translate_source(to_torch.code, str(port), input_shape=torch_shape, to="keras")
    assert not back.todos, [d.format() for d in back.todos]
    _, keras_again, torch_inputs = torch_port(port, to_torch.models[0].target, torch_shape, tmp_path, code=back.code)
    keras_again_model = keras_again
    torch_model.load_state_dict(transfer(keras_model, torch_model), strict=True)
    from portmodel.weights import transfer_to_keras

    transfer_to_keras(torch_model, keras_again_model)
    (second,) = verify_torch_source(torch_model, keras_again_model, torch_inputs, atol=ATOL, rtol=RTOL)
    assert second.passed, (ctors, [(o.max_abs, o.max_rel) for o in second.outputs])
    assert np.isfinite(second.outputs[0].max_abs)
