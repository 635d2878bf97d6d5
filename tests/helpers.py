"""Shared helpers for the tests: fixtures, translation to a temp folder, numeric checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "keras"
GOLDEN = ROOT / "tests" / "golden" / "keras_to_torch"
MANIFEST = yaml.safe_load((FIXTURES / "fixtures.yaml").read_text())


def fixture(name: str) -> tuple[Path, str, tuple | None]:
    spec = MANIFEST[name]
    shape = tuple(spec["input_shape"]) if "input_shape" in spec else None
    return FIXTURES / f"{name}.py", spec["model"], shape


def translate_fixture(name: str):
    from portmodel.translate import translate_source

    path, _, shape = fixture(name)
    return translate_source(path.read_text(), str(path.relative_to(ROOT)), input_shape=shape)


def port_models(name: str, tmp_path: Path, seed: int = 0):
    """(Keras model loaded from a checkpoint of random weights, its port with them, inputs)."""
    from portmodel.examples import randomize
    from portmodel.loading import load_keras, load_torch_module
    from portmodel.verify import make_inputs
    from portmodel.weights import transfer

    path, model, shape = fixture(name)
    result = translate_fixture(name)
    out = tmp_path / f"{name}_torch.py"
    out.write_text(result.code)
    trained = load_keras(f"{path}:{model}", input_shape=shape)
    randomize(trained, seed)
    checkpoint = tmp_path / f"{name}.weights.h5"
    trained.save_weights(checkpoint)
    keras_model = load_keras(f"{path}:{model}", str(checkpoint), input_shape=shape)
    info = next(m for m in result.models if m.source == model)
    torch_model = load_torch_module(f"{out}:{info.target}")
    torch_model.load_state_dict(transfer(keras_model, torch_model), strict=True)
    return keras_model, torch_model, make_inputs(keras_model, shape, seed=seed)


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "portmodel.cli", *args],
        capture_output=True, text=True, check=False, cwd=cwd or ROOT, env=env, timeout=timeout, stdin=subprocess.DEVNULL,
    )


TORCH_FIXTURES = ROOT / "fixtures" / "torch"
TORCH_GOLDEN = ROOT / "tests" / "golden" / "torch_to_keras"
TORCH_MANIFEST = yaml.safe_load((TORCH_FIXTURES / "fixtures.yaml").read_text())


def torch_port(src: Path, cls: str, shape: tuple, tmp_path: Path, seed: int = 0, code: str | None = None):
    """(seeded PyTorch model from `src`, its Keras port holding its weights, inputs)."""
    from portmodel.examples import randomize_torch
    from portmodel.loading import load_keras_port, load_torch_module
    from portmodel.translate import translate_source
    from portmodel.verify import make_torch_inputs
    from portmodel.weights import transfer_to_keras

    if code is None:
        result = translate_source(src.read_text(), str(src), input_shape=shape, to="keras")
        assert not result.todos, [d.format() for d in result.todos]
        code = result.code
    out = tmp_path / f"{src.stem}_keras.py"
    out.write_text(code)
    torch_model = load_torch_module(f"{src}:{cls}")
    randomize_torch(torch_model, seed)
    keras_model = load_keras_port(f"{out}:{cls}", shape)
    transfer_to_keras(torch_model, keras_model)
    return torch_model, keras_model, make_torch_inputs(torch_model, shape, seed=seed)


def onnx_graph(op_type: str, **attrs):
    """A one-node ONNX model `y = op_type(x)` on a (2, 3) float input (the ONNX readers' tests)."""
    from onnx import TensorProto, helper

    node = helper.make_node(op_type, ["x"], ["y"], name=f"my_{op_type.lower()}", **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def conv_transpose_graph(attributes: dict):
    """ConvTranspose (3 -> 2 channels, 3x3) with `attributes` on a (2, 3, 5, 4) input, as tf2onnx
    writes Keras' Conv2DTranspose: (the ONNX model, a seeded input)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(2).standard_normal((3, 2, 3, 3)).astype("float32")
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", **attributes)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model, np.random.default_rng(3).standard_normal((2, 3, 5, 4)).astype("float32")
