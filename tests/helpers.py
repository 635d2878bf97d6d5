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
