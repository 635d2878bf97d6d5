"""PyTorch -> Keras on every fixture model: no TODO, golden source, ruff-clean, numerically equal."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import ROOT, TORCH_FIXTURES, TORCH_GOLDEN, TORCH_MANIFEST, torch_port

from portmodel.keras_to_torch.assemble import used_names
from portmodel.translate import translate_source
from portmodel.verify import verify_torch_source

NAMES = sorted(TORCH_MANIFEST)


def _translate(name: str):
    spec = TORCH_MANIFEST[name]
    path = TORCH_FIXTURES / name
    return translate_source(
        path.read_text(), str(path.relative_to(ROOT)), input_shape=tuple(spec["input_shape"]), to="keras"
    )


def test_at_least_twelve_fixtures():
    assert len(NAMES) >= 12


@pytest.mark.parametrize("name", NAMES)
def test_translates_without_todo(name):
    result = _translate(name)
    assert result.status == "converted"
    assert not result.todos, [d.format() for d in result.todos]
    assert not {"torch", "nn", "F"} & used_names(result.code), "PyTorch names left in the Keras code"
    compile(result.code, name, "exec")


@pytest.mark.parametrize("name", NAMES)
def test_golden(name):
    code = _translate(name).code
    golden = TORCH_GOLDEN / name
    if os.environ.get("PORTMODEL_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(code)
    assert golden.exists(), f"missing golden file {golden}; run with PORTMODEL_UPDATE_GOLDEN=1"
    assert code == golden.read_text()


def test_goldens_pass_ruff():
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", str(TORCH_GOLDEN)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", NAMES)
def test_keras_output_is_left_alone(name):
    """Translating the Keras output again with --to keras changes nothing (idempotent)."""
    code = _translate(name).code
    again = translate_source(code, name, input_shape=tuple(TORCH_MANIFEST[name]["input_shape"]), to="keras")
    assert again.status == "unchanged" and again.code == code


@pytest.mark.parametrize("name", NAMES)
def test_numeric_equivalence(name, tmp_path):
    spec = TORCH_MANIFEST[name]
    torch_model, keras_model, inputs = torch_port(
        TORCH_FIXTURES / name, spec["model"], tuple(spec["input_shape"]), tmp_path, code=_translate(name).code
    )
    (res,) = verify_torch_source(torch_model, keras_model, inputs, atol=1e-5)
    assert res.passed, [(o.max_abs, o.max_rel) for o in res.outputs]


@pytest.mark.parametrize("name", ["resnet_small.py", "lstm_tagger.py", "transformer_block.py"])
def test_per_layer_names_the_diverging_layer(name, tmp_path):
    """Every paired layer agrees; after one Keras weight is changed, exactly that layer is named."""
    spec = TORCH_MANIFEST[name]
    torch_model, keras_model, inputs = torch_port(
        TORCH_FIXTURES / name, spec["model"], tuple(spec["input_shape"]), tmp_path, code=_translate(name).code
    )
    (res,) = verify_torch_source(torch_model, keras_model, inputs, layers=True)
    assert res.layers and all(r["passed"] for r in res.layers if r["compared"]) and res.first_divergence is None
    variable = keras_model.weights[len(keras_model.weights) // 2]
    variable.assign(variable.numpy() + 0.1)
    (res,) = verify_torch_source(torch_model, keras_model, inputs, layers=True)
    assert res.first_divergence is not None
    assert variable.path.split("/", 1)[1].startswith(res.first_divergence["layer"])


WIDE = '''
import os
from torch import nn

{constants}


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(WIDTH, WIDTH) for _ in range(DEPTH)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
'''


def test_module_constants_unpacked_from_a_tuple():
    code = WIDE.format(constants="WIDTH, DEPTH = 8, 3")
    result = translate_source(code, "wide.py", input_shape=(8,), to="keras")
    assert not result.todos, [d.format() for d in result.todos]
    assert "layers.Dense(WIDTH) for _ in range(DEPTH)" in result.code


def test_module_list_of_a_size_known_at_run_time_keeps_its_comprehension():
    """Code, not an instance: a list whose length only the environment knows is translated as
    written (`self.layers` is a name Keras models reserve: `layers_`)."""
    code = WIDE.format(constants='WIDTH = 8\nDEPTH = int(os.environ["DEPTH"])')
    result = translate_source(code, "wide.py", input_shape=(8,), to="keras")
    assert not result.todos, [d.format() for d in result.todos]
    assert "self.layers_ = [layers.Dense(WIDTH) for _ in range(DEPTH)]" in result.code
    assert "for layer in self.layers_:" in result.code


SEQUENTIAL_SUBCLASS = '''
from torch import nn


class ConvBNReLU(nn.Sequential):
    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, groups=1):
        padding = (kernel_size - 1) // 2
        super(ConvBNReLU, self).__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_planes),
            nn.ReLU6(inplace=True)
        )


class Net(nn.Module):
    def __init__(self, widths=(8, 16)):
        super().__init__()
        layers = [ConvBNReLU(3, widths[0])]
        layers.extend([ConvBNReLU(widths[i], widths[i + 1]) for i in range(len(widths) - 1)])
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], 4)

    def forward(self, x):
        x = self.features(x)
        return self.head(x.mean((2, 3)))
'''


def test_sequential_subclass_becomes_a_keras_sequential_subclass(tmp_path):
    """torchvision's `class ConvBNReLU(nn.Sequential)`: a keras.Sequential subclass whose
    layers go to super().__init__ as a list, weights and numbers as the original's."""
    src = tmp_path / "net.py"
    src.write_text(SEQUENTIAL_SUBCLASS)
    result = translate_source(SEQUENTIAL_SUBCLASS, str(src), input_shape=(3, 12, 12), to="keras")
    assert not result.todos, [d.format() for d in result.todos]
    assert "class ConvBNReLU(keras.Sequential):" in result.code
    # the padding is computed from the constructor's arguments: an explicit ZeroPadding2D, right
    # for every kernel size, where 'same' would be right for odd kernels at stride 1 only
    assert ("super().__init__([keras.Sequential([keras.layers.ZeroPadding2D(padding), keras.layers.Conv2D("
            "out_planes, kernel_size, strides=stride, groups=groups, use_bias=False)])") in result.code
    torch_model, keras_model, inputs = torch_port(src, "Net", (3, 12, 12), tmp_path, code=result.code)
    assert verify_torch_source(torch_model, keras_model, inputs)[0].passed


ANNOTATED = """
from typing import List

from torch import Tensor, nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: List[nn.Module] = [nn.Linear(4, 4)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.body(x)
        return y
"""


def test_torch_annotations_in_bodies():
    """`List[nn.Module]` becomes `List[keras.layers.Layer]`, `Tensor` `keras.KerasTensor`."""
    result = translate_source(ANNOTATED, "net.py", input_shape=(4,), to="keras")
    assert not result.todos, [d.format() for d in result.todos]
    assert "layers: List[keras.layers.Layer] = [keras.layers.Dense(4)]" in result.code
    assert "        y: keras.KerasTensor = self.body(x)" in result.code
    assert "def call(self, x: keras.KerasTensor) -> keras.KerasTensor:" in result.code
    assert "torch" not in result.code


BRANCHES = '''
from torch import nn


def make_head(width, wide=False):
    layers = []
    in_features = width  # kept: this comment is about it
    if wide:
        layers += [nn.Linear(width, 2 * width), nn.ReLU(inplace=True)]
    else:
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = make_head(8)

    def forward(self, x):
        return self.head(x)
'''


def test_constructors_in_branches_the_model_does_not_take():
    """The `wide` branch is never built for Net: translated all the same (code, not an
    instance), with the sizes written as the code writes them."""
    result = translate_source(BRANCHES, "net.py", input_shape=(8,), to="keras")
    assert not result.todos, [d.format() for d in result.todos]
    assert 'layers += [keras.layers.Dense(width), keras.layers.Activation("tanh")]' in result.code
    assert "        layers += [keras.layers.Dense(2 * width), keras.layers.ReLU()]" in result.code
    assert "in_features = width  # kept: this comment is about it" in result.code


EARLY_RETURN = '''
import torch
from torch import nn


def noisy(x, std, training):
    if not training:
        return x
    return x + torch.randn_like(x) * std


class Net(nn.Module):
    def __init__(self, jitter=False):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.jitter = jitter

    def forward(self, x):
        if self.jitter:
            x = x + torch.special.erf(x)
        return noisy(self.fc(x), 0.1, self.training)
'''


def test_training_paths_and_branches_not_taken():
    """The training path after `if not training: return x` is translated too, and so is a
    branch this model never takes (jitter=False)."""
    result = translate_source(EARLY_RETURN, "net.py", input_shape=(4,), to="keras")
    assert "    return x + keras.random.normal(ops.shape(x), dtype=x.dtype) * std" in result.code
    assert "return noisy(self.fc(x), 0.1, training)" in result.code  # self.training -> training
    assert "            x = x + ops.erf(x)" in result.code
    assert not result.todos, [d.format() for d in result.todos]


def test_weight_initialisation_becomes_keras_initializers():
    """`nn.init.*` on a layer and `for m in self.modules()` loops become the Keras layers'
    initializers, set before they are built (a model trained from scratch starts the same)."""
    source = (
        "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc = nn.Linear(4, 2)\n        nn.init.zeros_(self.fc.bias)\n"
        "        for m in self.modules():\n            if isinstance(m, nn.Linear):\n"
        "                nn.init.normal_(m.weight, std=0.02)\n\n    def forward(self, x):\n        return self.fc(x)\n"
    )
    result = translate_source(source, "net.py", input_shape=(4,), to="keras")
    assert not result.todos and "nn.init" not in result.code and "self.modules()" not in result.code
    assert "self.fc.bias_initializer = keras.initializers.Zeros()" in result.code
    assert "for m in self._flatten_layers():\n            if isinstance(m, layers.Dense):" in result.code
    assert "m.kernel_initializer = keras.initializers.RandomNormal(mean=0.0, stddev=0.02)" in result.code
    assert "def Linear(" not in result.code  # the isinstance test names the Keras class, not a builder


BUFFERED = '''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, length=6, dim=4):
        super().__init__()
        self.pos = nn.Embedding(length, dim)
        self.register_buffer("ids", torch.arange(length).expand((1, -1)), persistent={persistent})

    def forward(self, x):
        n = x.size(1)
        return x + self.pos(self.ids[:, :n])
'''


def test_a_buffer_computed_from_arguments_becomes_a_keras_attribute():
    result = translate_source(BUFFERED.format(persistent=False), "net.py", input_shape=(6, 4), to="keras")
    assert not result.todos, [d.format() for d in result.todos]
    assert "self.ids = ops.broadcast_to(_t1, (1, ops.shape(_t1)[-1]))" in result.code
    assert "n = ops.shape(x)[1]" in result.code and "self.pos(self.ids[:, :n])" in result.code


def test_a_persistent_buffer_is_a_non_trainable_variable(tmp_path):
    """It is in the checkpoint: a Keras variable the weights pair with the buffer."""
    source = BUFFERED.format(persistent=True)
    result = translate_source(source, "net.py", input_shape=(6, 4), to="keras")
    assert not result.todos, [d.format() for d in result.todos]
    assert "self.ids = keras.Variable(ops.broadcast_to(_t1, (1, ops.shape(_t1)[-1])), trainable=False, name='ids')" \
        in result.code


def test_non_persistent_buffers_are_not_weights_to_pair():
    import torch

    from portmodel.weights import torch_leaves

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("ids", torch.arange(4), persistent=False)
            self.fc = torch.nn.Linear(2, 2)
            self.bn = torch.nn.BatchNorm1d(2)

    assert [name for name, _ in torch_leaves(Net())] == ["fc", "bn"]


def test_a_config_dataclass_gives_its_fields_as_constants():
    source = '''from dataclasses import dataclass

from torch import nn


@dataclass
class Config:
    hidden: int = 8
    labels: int = 3


class Head(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        config = config or Config()
        self.fc = nn.Linear(config.hidden, config.labels)

    def forward(self, x):
        return self.fc(x)
'''
    result = translate_source(source, "head.py", input_shape=(8,), to="keras")
    assert not result.todos, [d.format() for d in result.todos]
    assert "self.fc = layers.Dense(config.labels)" in result.code


def test_a_constructor_argument_written_as_a_condition_gives_a_condition_of_layers(tmp_path):
    """`padding="same" if stride == 1 else 0`: each branch's idiomatic Keras layer, under the
    same condition (code, not the instances the model happens to build)."""
    source = '''import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, channels, stride):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=stride, padding="same" if stride == 1 else 0)

    def forward(self, x):
        return self.conv(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Block(4, 1)
        self.b = Block(4, 2)

    def forward(self, x):
        return self.b(self.a(x))
'''
    result = translate_source(source, "net.py", input_shape=(4, 9, 9), to="keras")
    assert not result.todos, [d.format() for d in result.todos]
    assert ('self.conv = layers.Conv2D(channels, 3, strides=stride, padding="same") if stride == 1 '
            "else layers.Conv2D(channels, 3, strides=stride)") in result.code
    src = tmp_path / "net.py"
    src.write_text(source)
    torch_model, keras_model, inputs = torch_port(src, "Net", (4, 9, 9), tmp_path, code=result.code)
    assert verify_torch_source(torch_model, keras_model, inputs)[0].passed


def test_layers_set_and_read_by_name(tmp_path):
    """`setattr(self, f"layer{i}", ...)` in __init__ and `getattr(self, f"layer{i}")` in
    forward stay as written (Keras tracks and reads attributes alike); weights and outputs match."""
    source = '''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, width=8, depth=3):
        super().__init__()
        self.depth = depth
        for i in range(depth):
            setattr(self, f"layer{i}", nn.Linear(width, width))
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        for i in range(self.depth):
            x = torch.relu(getattr(self, f"layer{i}")(x))
        return self.head(x)
'''
    src = tmp_path / "net.py"
    src.write_text(source)
    result = translate_source(source, str(src), input_shape=(8,), to="keras")
    assert not result.todos, [d.format() for d in result.todos]
    assert 'setattr(self, f"layer{i}", layers.Dense(width))' in result.code
    assert 'x = ops.relu(getattr(self, f"layer{i}")(x))' in result.code
    torch_model, keras_model, inputs = torch_port(src, "Net", (8,), tmp_path, code=result.code)
    (res,) = verify_torch_source(torch_model, keras_model, inputs, atol=1e-5)
    assert res.passed, [(o.max_abs, o.max_rel) for o in res.outputs]
