"""Fixture models: golden source, no TODO, idempotence, compile/ruff, numeric equivalence."""

from __future__ import annotations

import os
import py_compile
import shutil
import subprocess
import sys

import pytest
from helpers import GOLDEN, MANIFEST, fixture, port_models, translate_fixture

from portmodel.translate import translate_source
from portmodel.verify import compare

NAMES = sorted(MANIFEST)


def test_at_least_twelve_fixtures_in_three_styles():
    styles = {m.style for name in NAMES for m in translate_fixture(name).models}
    assert len(NAMES) >= 12 and styles == {"sequential", "functional", "subclassed"}


@pytest.mark.parametrize("name", NAMES)
def test_golden(name):
    result = translate_fixture(name)
    golden = GOLDEN / f"{name}.py"
    if os.environ.get("PORTMODEL_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(result.code)
    assert result.code == golden.read_text(), f"regenerate with PORTMODEL_UPDATE_GOLDEN=1 ({golden})"


@pytest.mark.parametrize("name", NAMES)
def test_no_todo_and_idempotent(name):
    result = translate_fixture(name)
    assert not result.todos, [d.format() for d in result.todos]
    _, _, shape = fixture(name)
    again = translate_source(result.code, "port.py", input_shape=shape, to="torch")
    assert again.status == "unchanged" and again.code == result.code


@pytest.mark.parametrize("name", NAMES)
def test_compiles_and_passes_ruff(name, tmp_path):
    out = tmp_path / f"{name}.py"
    out.write_text(translate_fixture(name).code)
    py_compile.compile(str(out), doraise=True)
    ruff = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
    proc = subprocess.run([ruff, "check", "--no-cache", "--isolated", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", NAMES)
def test_numeric_equivalence(name, tmp_path):
    keras_model, torch_model, inputs = port_models(name, tmp_path)
    result = compare(keras_model, torch_model, inputs, atol=1e-5)
    for out in result.outputs:
        assert out.passed, f"{name} {out.name}: max abs {out.max_abs:.3e}"


@pytest.mark.parametrize(
    "name,kwargs",
    [("seq_mlp", {"hidden": 7}), ("sub_custom_blocks", {"width": 4, "num_classes": 3}), ("func_text_embed", {"embed_dim": 5})],
)
def test_generated_sizes_follow_constructor_arguments(name, kwargs, tmp_path):
    """Sizes derived from arguments are written as those arguments, not baked-in numbers."""
    import numpy as np

    from portmodel.examples import randomize
    from portmodel.loading import import_file
    from portmodel.verify import make_inputs
    from portmodel.weights import transfer

    path, model, shape = fixture(name)
    result = translate_fixture(name)
    port_file = tmp_path / f"{name}_port.py"
    port_file.write_text(result.code)
    info = next(m for m in result.models if m.source == model)
    keras_model = getattr(import_file(str(path)), model)(**kwargs)
    if shape:
        keras_model(np.zeros((1, *shape), "float32"))
    randomize(keras_model)
    torch_model = getattr(import_file(str(port_file)), info.target)(**kwargs).eval()
    torch_model.load_state_dict(transfer(keras_model, torch_model), strict=True)
    inputs = make_inputs(keras_model, shape)
    assert compare(keras_model, torch_model, inputs, atol=1e-5).passed


@pytest.mark.parametrize("name", NAMES)
def test_weights_round_trip_keras_torch_keras(name, tmp_path):
    """Keras -> PyTorch -> a fresh Keras model gives back every weight exactly."""
    import numpy as np

    from portmodel.loading import load_keras
    from portmodel.weights import transfer_to_keras

    keras_model, torch_model, _ = port_models(name, tmp_path)
    path, model, shape = fixture(name)
    fresh = load_keras(f"{path}:{model}", input_shape=shape)
    transfer_to_keras(torch_model, fresh)
    for a, b in zip(keras_model.weights, fresh.weights, strict=True):
        assert a.name == b.name and tuple(a.shape) == tuple(b.shape)
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()), err_msg=a.path)
