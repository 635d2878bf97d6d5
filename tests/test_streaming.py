"""Streaming weight conversion (safetensors <-> .weights.h5): the same bytes as the in-memory
path on every fixture, weightless models, every tensor in blocks, and bad input refused."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import (
    MANIFEST,
    ROOT,
    TORCH_FIXTURES,
    TORCH_GOLDEN,
    TORCH_MANIFEST,
    fixture,
    run_cli,
    translate_fixture,
)

from portmodel import streaming
from portmodel.core.errors import PortmodelError
from portmodel.streaming import SafetensorsReader, SafetensorsWriter

DIGITS = ROOT / "examples" / "digits"


# Fixture tensors fit one default block: 256-byte blocks make every copy a multi-block one
# on every fixture; the default (one block per tensor here) runs on one model each way.
TORCH_CASES = [(n, 256) for n in sorted(TORCH_MANIFEST)] + [("resnet_small.py", streaming.BLOCK_BYTES)]
KERAS_CASES = [(n, 256) for n in sorted(MANIFEST)] + [("func_resnet", streaming.BLOCK_BYTES)]


def _case_id(value) -> str:
    return "default-blocks" if value == streaming.BLOCK_BYTES else "256-byte-blocks" if value == 256 else str(value)


def _weightless(keras_model, torch_model) -> bool:
    # `_value is None`: a variable made in a StatelessScope and never given a value
    return all(p.is_meta for p in torch_model.parameters()) and all(v._value is None for v in keras_model.weights)


@pytest.mark.parametrize(("name", "block_bytes"), TORCH_CASES, ids=_case_id)
def test_torch_to_keras_streams_the_same_weights(name, block_bytes, tmp_path, monkeypatch):
    from portmodel.examples import randomize_torch
    from portmodel.loading import load_keras_port, load_torch_module
    from portmodel.weights import save_state_dict, transfer_to_keras

    monkeypatch.setattr(streaming, "BLOCK_BYTES", block_bytes)
    spec = TORCH_MANIFEST[name]
    src, port, shape = f"{TORCH_FIXTURES / name}:{spec['model']}", f"{TORCH_GOLDEN / name}:{spec['model']}", tuple(spec["input_shape"])
    torch_model = load_torch_module(src)
    randomize_torch(torch_model, 3)
    ckpt = tmp_path / "net.safetensors"
    save_state_dict(torch_model.state_dict(), str(ckpt))
    expected = load_keras_port(port, shape)
    transfer_to_keras(torch_model, expected)

    keras_model, meta = streaming.stateless_models(
        lambda: load_keras_port(port, shape, symbolic=True), lambda: load_torch_module(src)
    )
    assert _weightless(keras_model, meta)
    out = tmp_path / "port.weights.h5"
    streaming.stream_to_keras(meta, keras_model, str(ckpt), out)
    got = load_keras_port(port, shape)
    got.load_weights(out)
    for want, have in zip(expected.weights, got.weights, strict=True):
        assert np.array_equal(want.numpy(), have.numpy()), want.path


@pytest.mark.parametrize(("name", "block_bytes"), KERAS_CASES, ids=_case_id)
def test_keras_to_torch_streams_the_same_tensors(name, block_bytes, tmp_path, monkeypatch):
    from safetensors.numpy import load_file

    from portmodel.examples import randomize
    from portmodel.loading import load_keras, load_torch_module
    from portmodel.weights import transfer

    monkeypatch.setattr(streaming, "BLOCK_BYTES", block_bytes)
    path, model, shape = fixture(name)
    result = translate_fixture(name)
    port = tmp_path / "port.py"
    port.write_text(result.code)
    target = f"{port}:{next(m for m in result.models if m.source == model).target}"
    trained = load_keras(f"{path}:{model}", input_shape=shape)
    randomize(trained, 4)
    ckpt = tmp_path / "trained.weights.h5"
    trained.save_weights(ckpt)
    expected = {k: v.numpy() for k, v in transfer(trained, load_torch_module(target)).items()}

    keras_model, meta = streaming.stateless_models(
        lambda: load_keras(f"{path}:{model}", input_shape=shape, symbolic=True), lambda: load_torch_module(target)
    )
    assert _weightless(keras_model, meta)
    out = tmp_path / "port.safetensors"
    streaming.stream_to_torch(keras_model, meta, str(ckpt), out)
    got = load_file(str(out))
    assert sorted(got) == sorted(expected)
    for key, want in expected.items():
        assert got[key].dtype == want.dtype and np.array_equal(got[key], want), key


def test_safetensors_writer_and_reader_agree_with_the_library(tmp_path):
    import ml_dtypes
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(0)
    tensors = {
        "w": rng.standard_normal((5, 3)).astype("float32"),
        "h": rng.standard_normal((2, 2, 2)).astype("float16"),
        "d": rng.standard_normal(4),
        "b": rng.standard_normal(6).astype(ml_dtypes.bfloat16),
        "n": np.array(7, dtype="int64"),
        "empty": np.zeros((0, 4), dtype="float32"),
    }
    ours = tmp_path / "ours.safetensors"
    writer = SafetensorsWriter(ours, {k: (v.dtype.name, v.shape) for k, v in tensors.items()})
    for key, value in tensors.items():
        with writer.open(key) as m:
            m.array[...] = value
    loaded = load_file(str(ours))
    theirs = tmp_path / "theirs.safetensors"
    save_file(tensors, str(theirs))
    reader = SafetensorsReader(str(theirs))
    for key, value in tensors.items():
        assert loaded[key].dtype == value.dtype and np.array_equal(loaded[key], value)
        with reader.open(key) as m:
            assert m.array.dtype == value.dtype and np.array_equal(m.array, value)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 2], "lies past the end of the file (truncated?)"),
        (lambda b: b[:6], "not a safetensors file (bad header length: corrupt or truncated)"),
        (lambda b: b[:8] + b"\xff" * (len(b) - 8), "not a safetensors file (the header is not JSON)"),
    ],
    ids=["truncated", "cut-in-header", "garbage-header"],
)
def test_damaged_safetensors_is_refused(damage, message, tmp_path):
    from safetensors.numpy import save_file

    good = tmp_path / "good.safetensors"
    save_file({"a": np.ones((64, 64), "float32"), "b": np.ones(8, "float32")}, str(good))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(PortmodelError, match=re.escape(message)):
        SafetensorsReader(str(bad))


# -- through the command line --------------------------------------------------------------------


def _digits_port(tmp_path):
    model_py = tmp_path / "model.py"
    if not model_py.exists():
        assert run_cli("translate", str(DIGITS / "keras_model.py"), "-o", str(model_py)).returncode == 0
    return model_py


def test_cli_streams_keras_weights_to_safetensors_and_back(tmp_path):
    """Keras .weights.h5 -> safetensors -> .weights.h5 through `weights`: streamed both ways,
    the same tensors as the in-memory path, and the original weights back bit for bit."""
    import h5py
    from safetensors.numpy import load_file

    model_py = _digits_port(tmp_path)
    source = f"keras:{DIGITS / 'keras_model.py'}:build_model"
    in_memory = tmp_path / "from_keras_file.safetensors"
    assert run_cli("weights", str(DIGITS / "digits.keras"), "--model", f"{model_py}:DigitsCnn", "-o", str(in_memory)).returncode == 0
    from portmodel.loading import load_keras

    h5 = tmp_path / "digits.weights.h5"
    load_keras(str(DIGITS / "digits.keras")).save_weights(h5)
    streamed = tmp_path / "streamed.safetensors"
    proc = run_cli("weights", str(h5), "--source", source, "--model", f"{model_py}:DigitsCnn", "-o", str(streamed))
    assert proc.returncode == 0 and "streamed" in proc.stderr, proc.stderr
    want, got = load_file(str(in_memory)), load_file(str(streamed))
    assert sorted(want) == sorted(got) and all(np.array_equal(want[k], got[k]) for k in want)
    before = streamed.read_bytes()
    proc = run_cli("weights", str(h5), "--source", source, "--model", f"{model_py}:DigitsCnn", "-o", str(streamed))
    assert proc.returncode == 2 and f"{streamed}: output exists; pass --force to overwrite it" in proc.stderr
    assert streamed.read_bytes() == before

    back = tmp_path / "back.weights.h5"
    proc = run_cli("weights", str(streamed), "--to", "keras", "--source", source, "--model", f"{model_py}:DigitsCnn", "-o", str(back))
    assert proc.returncode == 0 and "streamed" in proc.stderr, proc.stderr
    with h5py.File(h5) as a, h5py.File(back) as b:
        names = []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert names and all(np.array_equal(a[n][...], b[n][...]) for n in names if "seed_generator" not in n)


def test_cli_streamed_port_weights_verify(tmp_path):
    """PyTorch safetensors -> the Keras port's .weights.h5, streamed, then `verify` passes."""
    from safetensors.torch import save_file

    from portmodel.examples import randomize_torch
    from portmodel.loading import load_torch_module

    src = TORCH_FIXTURES / "resnet_small.py"
    model = load_torch_module(f"{src}:ResNetSmall")
    randomize_torch(model, seed=2)
    ckpt = tmp_path / "net.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
    h5 = tmp_path / "port.weights.h5"
    port = f"{TORCH_GOLDEN / 'resnet_small.py'}:ResNetSmall"
    common = ("--input-shape", "3,32,32")
    proc = run_cli("weights", str(ckpt), "--source", f"torch:{src}:ResNetSmall", "--model", port, "-o", str(h5), *common)
    assert proc.returncode == 0 and "streamed" in proc.stderr, proc.stderr
    proc = run_cli("verify", "--source", f"torch:{src}:ResNetSmall", "--weights", str(ckpt),
                   "--target", f"keras:{port}", "--target-weights", str(h5), *common)
    assert proc.returncode == 0 and "PASS" in proc.stdout, proc.stdout + proc.stderr


def _weights_to_keras(tmp_path, ckpt, out):
    model_py = _digits_port(tmp_path)
    return run_cli(
        "weights", str(ckpt), "--to", "keras", "--model", f"{model_py}:DigitsCnn",
        "--source", f"keras:{DIGITS / 'keras_model.py'}:build_model", "-o", str(out),
    )


def _digits_state(tmp_path):
    from safetensors.numpy import load_file

    model_py = _digits_port(tmp_path)
    sd = tmp_path / "digits.safetensors"
    if not sd.exists():
        assert run_cli("weights", str(DIGITS / "digits.keras"), "--model", f"{model_py}:DigitsCnn", "-o", str(sd)).returncode == 0
    return load_file(str(sd))


def test_cli_truncated_safetensors_writes_nothing(tmp_path):
    from safetensors.numpy import save_file

    good = tmp_path / "good.safetensors"
    save_file(_digits_state(tmp_path), str(good))
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(good.read_bytes()[:-100])
    out = tmp_path / "w.weights.h5"
    proc = _weights_to_keras(tmp_path, bad, out)
    assert proc.returncode == 2 and f"{bad}: tensor '" in proc.stderr and "truncated?" in proc.stderr, proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".w.weights.h5*"))


def test_cli_truncated_weights_h5_writes_nothing(tmp_path):
    from portmodel.loading import load_keras

    model_py = _digits_port(tmp_path)
    h5 = tmp_path / "digits.weights.h5"
    load_keras(str(DIGITS / "digits.keras")).save_weights(h5)
    bad = tmp_path / "cut.weights.h5"
    bad.write_bytes(h5.read_bytes()[:3000])
    out = tmp_path / "w.safetensors"
    proc = run_cli("weights", str(bad), "--source", f"{DIGITS / 'keras_model.py'}:build_model",
                   "--model", f"{model_py}:DigitsCnn", "-o", str(out))
    assert proc.returncode == 2 and f"{bad}: cannot read the weights file (corrupt or truncated?)" in proc.stderr, proc.stderr
    assert not out.exists()


def test_cli_checkpoint_problems_listed_together(tmp_path):
    """Wrong names, shapes and dtypes in a streamed checkpoint: one error naming them."""
    from safetensors.numpy import save_file

    state = _digits_state(tmp_path)
    key = next(k for k in state if k.endswith("weight") and state[k].ndim == 4)
    state[key] = state[key][:1]
    state["stray.weight"] = np.ones(2, "float32")
    del state[next(k for k in state if k.endswith("bias"))]
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad))
    out = tmp_path / "w.weights.h5"
    proc = _weights_to_keras(tmp_path, bad, out)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "checkpoint does not fit the model: missing" in proc.stderr
    assert "unexpected stray.weight" in proc.stderr and f"mis-shaped {key}: (1," in proc.stderr
    assert not out.exists()

    wide = {k: v.astype("float64") for k, v in _digits_state(tmp_path).items()}
    save_file(wide, str(bad))
    proc = _weights_to_keras(tmp_path, bad, out)
    assert proc.returncode == 2 and "weight dtypes differ (pass --dtype to cast)" in proc.stderr, proc.stderr
    assert "float64 vs Keras float32" in proc.stderr and not out.exists()


def test_interrupted_conversion_leaves_no_output(tmp_path, monkeypatch):
    """Ctrl-C in the middle of writing: no output file and no temporary file left behind."""
    from safetensors.numpy import save_file

    from portmodel import cli

    ckpt = tmp_path / "digits.safetensors"
    save_file(_digits_state(tmp_path), str(ckpt))
    model_py = tmp_path / "model.py"
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return copy(*args, **kwargs)

    copy = streaming.copy_permuted
    monkeypatch.setattr(streaming, "copy_permuted", interrupted)
    out = tmp_path / "out" / "w.weights.h5"
    code = cli.main([
        "weights", str(ckpt), "--to", "keras", "--model", f"{model_py}:DigitsCnn",
        "--source", f"keras:{DIGITS / 'keras_model.py'}:build_model", "-o", str(out),
    ])
    assert code == 2 and len(calls) == 2
    assert not out.exists() and not list(out.parent.iterdir())
