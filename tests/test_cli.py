"""The command line, run as users run it (a subprocess), including bad input."""

from __future__ import annotations

import json

import pytest
from helpers import FIXTURES, ROOT, run_cli

DIGITS = ROOT / "examples" / "digits"


def test_translate_to_file_then_refuse_overwrite(tmp_path):
    out = tmp_path / "model.py"
    proc = run_cli("translate", str(FIXTURES / "func_resnet.py"), "--to", "torch", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "class TinyResnet(nn.Module):" in out.read_text()
    again = run_cli("translate", str(FIXTURES / "func_resnet.py"), "--to", "torch", "-o", str(out))
    assert again.returncode == 2 and "output exists; pass --force" in again.stderr


def test_translate_stdin_diff_and_check(tmp_path):
    src = (FIXTURES / "seq_mlp.py").read_text()
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "portmodel.cli", "translate", "-", "--to", "torch"],
        input=src, capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert proc.returncode == 0 and "class TabularMlp(nn.Module)" in proc.stdout
    diff = run_cli("translate", str(FIXTURES / "seq_mlp.py"), "--diff")
    assert diff.returncode == 0 and "-import keras" in diff.stdout and "+class TabularMlp" in diff.stdout
    check = run_cli("translate", str(FIXTURES / "seq_mlp.py"), "--check")
    assert check.returncode == 1


def test_syntax_error_names_file_and_line_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import keras\n\ndef build(:\n    pass\n")
    out = tmp_path / "out.py"
    proc = run_cli("translate", str(bad), "-o", str(out))
    assert proc.returncode == 2
    assert f"{bad}:3: syntax error" in proc.stderr
    assert not out.exists()


def test_unknown_layer_is_a_todo_and_strict_fails(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "import keras\nfrom keras import layers\n\n\ndef build():\n"
        "    x_in = keras.Input(shape=(4,))\n"
        "    x = layers.Dense(3)(x_in)\n"
        "    x = layers.PReLU()(x)\n"
        "    return keras.Model(x_in, x)\n"
    )
    proc = run_cli("translate", str(src))
    assert proc.returncode == 0
    assert f"{src}:8:5: PM001 no rule translates keras.layers.PReLU yet" in proc.stderr
    assert "# portmodel: TODO no rule translates keras.layers.PReLU yet\n        x = layers.PReLU()(x)" in proc.stdout
    strict = run_cli("translate", str(src), "--strict", "-o", str(tmp_path / "out.py"))
    assert strict.returncode == 1 and not (tmp_path / "out.py").exists()
    port = run_cli("port", str(src), "-o", str(tmp_path / "ported"))
    assert port.returncode == 2
    assert f"{src}: cannot port: line 8: no rule translates keras.layers.PReLU yet" in port.stderr
    assert not (tmp_path / "ported").exists()


def test_missing_file():
    proc = run_cli("translate", "no/such/file.py")
    assert proc.returncode == 2 and "no/such/file.py: file not found" in proc.stderr


def test_keras_file_with_to_keras_is_left_unchanged():
    """--to keras translates PyTorch code: a Keras file has none, so nothing changes."""
    proc = run_cli("translate", str(FIXTURES / "seq_mlp.py"), "--to", "keras")
    assert proc.returncode == 0 and "0 converted, 1 unchanged" in proc.stderr
    assert proc.stdout == (FIXTURES / "seq_mlp.py").read_text()


def test_port_digits_end_to_end(tmp_path):
    out = tmp_path / "out"
    proc = run_cli(
        "port", str(DIGITS / "keras_model.py"), "--weights", str(DIGITS / "digits.keras"),
        "--inputs", str(DIGITS / "sample_inputs.npy"), "--to", "torch", "-o", str(out),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["passed"] and report["verify"][0]["outputs"][0]["max_abs"] <= 1e-5
    assert "**Verdict: PASS**" in (out / "report.md").read_text()
    assert (out / "model.safetensors").stat().st_size > 0
    assert "# downsample 8x8 -> 4x4" in (out / "model.py").read_text()  # comments survive
    again = run_cli("port", str(DIGITS / "keras_model.py"), "--weights", str(DIGITS / "digits.keras"), "-o", str(out))
    assert again.returncode == 2 and "pass --force" in again.stderr


def test_weights_and_verify_steps_alone(tmp_path):
    model_py = tmp_path / "model.py"
    assert run_cli("translate", str(DIGITS / "keras_model.py"), "-o", str(model_py)).returncode == 0
    sd = tmp_path / "model.safetensors"
    proc = run_cli("weights", str(DIGITS / "digits.keras"), "--to", "torch", "--model", f"{model_py}:DigitsCnn", "-o", str(sd))
    assert proc.returncode == 0, proc.stderr
    pt = tmp_path / "model.pt"
    proc = run_cli("weights", str(DIGITS / "digits.keras"), "--model", f"{model_py}:DigitsCnn", "-o", str(pt))
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(
        "verify", "--source", f"keras:{DIGITS / 'keras_model.py'}:build_model", "--weights", str(DIGITS / "digits.keras"),
        "--target", f"torch:{model_py}:DigitsCnn", "--target-weights", str(pt),
        "--inputs", str(DIGITS / "sample_inputs.npy"), "--per-layer",
    )
    assert proc.returncode == 0, proc.stderr
    assert "PASS" in proc.stdout and "no layer diverges" in proc.stdout


def test_weights_h5_needs_source_and_loads_with_it(tmp_path):
    import keras
    import numpy as np

    model = keras.saving.load_model(DIGITS / "digits.keras", compile=False)
    h5 = tmp_path / "digits.weights.h5"
    model.save_weights(h5)
    model_py = tmp_path / "model.py"
    assert run_cli("translate", str(DIGITS / "keras_model.py"), "-o", str(model_py)).returncode == 0
    out = tmp_path / "w.safetensors"
    proc = run_cli("weights", str(h5), "--model", f"{model_py}:DigitsCnn", "-o", str(out))
    assert proc.returncode == 2 and "needs --source" in proc.stderr and not out.exists()
    proc = run_cli(
        "weights", str(h5), "--model", f"{model_py}:DigitsCnn", "-o", str(out),
        "--source", f"{DIGITS / 'keras_model.py'}:build_model",
    )
    assert proc.returncode == 0, proc.stderr
    # the file holds the checkpoint's weights (it exists even when nothing is written: the output starts as an
    # empty temporary file renamed into place)
    from safetensors.numpy import load_file

    from portmodel.loading import load_torch_module
    from portmodel.weights import transfer

    expected = transfer(model, load_torch_module(f"{model_py}:DigitsCnn"))
    written = load_file(out)
    assert sorted(written) == sorted(expected)
    for key, value in expected.items():
        assert np.array_equal(written[key], value.numpy()), key


def test_corrupt_checkpoint_writes_nothing(tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes((DIGITS / "digits.keras").read_bytes()[:5000])
    model_py = tmp_path / "model.py"
    assert run_cli("translate", str(DIGITS / "keras_model.py"), "-o", str(model_py)).returncode == 0
    out = tmp_path / "w.safetensors"
    proc = run_cli("weights", str(bad), "--model", f"{model_py}:DigitsCnn", "-o", str(out))
    assert proc.returncode == 2
    assert f"{bad}: not a valid .keras file" in proc.stderr
    assert not out.exists()


def test_missing_checkpoint(tmp_path):
    proc = run_cli("weights", str(tmp_path / "nope.keras"), "--model", "m.py:X", "-o", str(tmp_path / "w.pt"))
    assert proc.returncode == 2 and "nope.keras: file not found" in proc.stderr


def test_checkpoint_that_does_not_fit_lists_every_problem(tmp_path):
    """A port of a different model: missing, extra and mis-shaped tensors in one error."""
    other = tmp_path / "other.py"
    other.write_text(
        (DIGITS / "keras_model.py").read_text().replace("layers.Conv2D(32,", "layers.Conv2D(24,")
        .replace('outputs = layers.Dense(num_classes)(x)  # logits', 'x = layers.Dense(7)(x)\n    outputs = layers.Dense(num_classes)(x)')
    )
    model_py = tmp_path / "model.py"
    assert run_cli("translate", str(other), "-o", str(model_py)).returncode == 0
    out = tmp_path / "w.safetensors"
    proc = run_cli("weights", str(DIGITS / "digits.keras"), "--model", f"{model_py}:DigitsCnn", "-o", str(out))
    assert proc.returncode == 2
    err = proc.stderr
    assert err.count("\n") == 1 and "the checkpoint does not fit the port" in err
    assert "shape (32, 16, 3, 3) does not fit (24, 16, 3, 3)" in err
    assert "module 'dense_1' of the port has no Keras layer" in err
    assert not out.exists()


def test_cuda_request_without_gpu_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    model_py = tmp_path / "model.py"  # a real port, so that only the missing GPU can stop the command
    assert run_cli("translate", str(DIGITS / "keras_model.py"), "-o", str(model_py)).returncode == 0
    proc = run_cli(
        "verify", "--source", f"keras:{DIGITS / 'keras_model.py'}:build_model", "--weights", str(DIGITS / "digits.keras"),
        "--target", f"torch:{model_py}:DigitsCnn", "--device", "cuda",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("--device cuda: no CUDA device is available"), proc.stderr


def test_weights_back_to_keras_after_training_the_port(tmp_path):
    """Train-in-PyTorch workflow: the port's state_dict goes back into the Keras model."""
    import numpy as np
    import torch

    from portmodel.loading import load_keras, load_torch_module

    model_py = tmp_path / "model.py"
    assert run_cli("translate", str(DIGITS / "keras_model.py"), "-o", str(model_py)).returncode == 0
    port = load_torch_module(f"{model_py}:DigitsCnn")
    with torch.no_grad():  # "training": new weights everywhere
        for p in port.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    sd = tmp_path / "trained.pt"
    torch.save(port.state_dict(), sd)
    out = tmp_path / "trained.weights.h5"
    proc = run_cli(
        "weights", str(sd), "--to", "keras", "--model", f"{model_py}:DigitsCnn",
        "--source", f"keras:{DIGITS / 'keras_model.py'}:build_model", "-o", str(out),
    )
    assert proc.returncode == 0, proc.stderr
    keras_model = load_keras(f"{DIGITS / 'keras_model.py'}:build_model", str(out))
    x = np.load(DIGITS / "sample_inputs.npy")
    with torch.no_grad():
        expected = port(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    assert np.abs(np.asarray(keras_model(x, training=False)) - expected).max() <= 1e-5


# -- PyTorch -> Keras --------------------------------------------------------------------------


def test_port_torch_to_keras_with_a_checkpoint(tmp_path):
    """`port --to keras` with a .pt state_dict: Keras source, .weights.h5, a PASS report."""
    import json

    import torch

    from portmodel.examples import randomize_torch
    from portmodel.loading import load_torch_module

    src = ROOT / "fixtures" / "torch" / "resnet_small.py"
    model = load_torch_module(f"{src}:ResNetSmall")
    randomize_torch(model, seed=5)
    ckpt = tmp_path / "net.pt"
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / "out"
    proc = run_cli("port", str(src), "--weights", str(ckpt), "--input-shape", "3,32,32", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["model.py", "model.weights.h5", "report.json", "report.md"]
    report = json.loads((out / "report.json").read_text())
    # block=BasicBlock (a class) as a constructor argument: no .keras file, and the report says why
    assert not report["keras_file"]["written"] and "serialisable" in report["keras_file"]["reason"]
    assert report["passed"] and report["direction"] == "PyTorch -> Keras"
    assert report["verify"][0]["outputs"][0]["max_abs"] <= 1e-5
    # the same checkpoint through `weights` and `verify`
    h5 = tmp_path / "again.weights.h5"
    proc = run_cli("weights", str(ckpt), "--to", "keras", "--source", f"torch:{src}:ResNetSmall",
                   "--model", f"{out / 'model.py'}:ResNetSmall", "--input-shape", "3,32,32", "-o", str(h5))
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("verify", "--source", f"torch:{src}:ResNetSmall", "--weights", str(ckpt),
                   "--target", f"keras:{out / 'model.py'}:ResNetSmall", "--target-weights", str(h5),
                   "--input-shape", "3,32,32")
    assert proc.returncode == 0 and "PASS" in proc.stdout, proc.stdout + proc.stderr


def test_port_torch_needs_an_input_shape(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("port", str(ROOT / "fixtures" / "torch" / "mlp_sequential.py"), "-o", str(out))
    assert proc.returncode == 2 and "needs --input-shape" in proc.stderr
    assert not out.exists()


def test_port_torch_refuses_a_pickled_checkpoint_with_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    ckpt = tmp_path / "evil.pt"
    ckpt.write_bytes(pickle.dumps({"w": Evil()}))
    out = tmp_path / "out"
    proc = run_cli("port", str(ROOT / "fixtures" / "torch" / "mlp_sequential.py"), "--weights", str(ckpt),
                   "--input-shape", "1,28,28", "-o", str(out))
    assert proc.returncode == 2 and "evil.pt" in proc.stderr and "ran" not in proc.stdout
    assert not out.exists()


def test_torch_checkpoint_that_does_not_fit_lists_every_problem(tmp_path):
    import torch

    ckpt = tmp_path / "wrong.pt"
    torch.save({"net.1.weight": torch.zeros(3, 3), "extra": torch.zeros(1)}, ckpt)
    out = tmp_path / "out"
    proc = run_cli("port", str(ROOT / "fixtures" / "torch" / "mlp_sequential.py"), "--weights", str(ckpt),
                   "--input-shape", "1,28,28", "-o", str(out))
    assert proc.returncode == 2
    assert "missing" in proc.stderr and "unexpected extra" in proc.stderr and "mis-shaped net.1.weight" in proc.stderr
    assert not out.exists()


def test_translate_torch_syntax_error_names_the_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch.nn as nn\n\nclass M(nn.Module):\n    def forward(self, x)\n        return x\n")
    proc = run_cli("translate", str(bad), "--to", "keras", "-o", str(tmp_path / "out.py"))
    assert proc.returncode == 2 and "bad.py:4" in proc.stderr
    assert not (tmp_path / "out.py").exists()


def test_port_torch_with_a_wrong_input_shape_is_a_clear_error(tmp_path):
    """The translation is the code's, whatever the shape; running the port on a shape the
    model rejects is one line naming --input-shape, and nothing is written."""
    out = tmp_path / "out"
    proc = run_cli("port", str(ROOT / "fixtures" / "torch" / "lstm_tagger.py"), "--input-shape", "3,4,5,6",
                   "-o", str(out))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "check --input-shape" in proc.stderr, proc.stderr
    assert not out.exists()


def test_port_torch_writes_a_keras_file_that_reloads(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("port", str(ROOT / "fixtures" / "torch" / "transformer_block.py"), "--input-shape", "6,8",
                   "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "model.keras").is_file()
    assert "`.keras` model" in (out / "report.md").read_text()


@pytest.mark.parametrize("dtype,atol", [("float64", 1e-12), ("float16", 1e-2), ("bfloat16", 5e-2)])
def test_port_torch_keeps_the_checkpoint_dtype(dtype, atol, tmp_path):
    """float64/float16/bfloat16 checkpoints: the Keras weights have that dtype and the same values."""
    import json

    import numpy as np
    import torch

    from portmodel.examples import randomize_torch
    from portmodel.loading import keras_dtype_policy, load_keras_port, load_torch_module
    from portmodel.weights import transfer

    src = ROOT / "fixtures" / "torch" / "cnn_ordered.py"
    model = load_torch_module(f"{src}:SmallVGG")
    randomize_torch(model, seed=4)
    model.to(getattr(torch, dtype))
    ckpt = tmp_path / "net.pt"
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / "out"
    proc = run_cli("port", str(src), "--weights", str(ckpt), "--input-shape", "3,12,12", "-o", str(out),
                   "--atol", str(atol))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["weights"]["dtype"] == dtype and report["weights"]["cast"] is None
    with keras_dtype_policy(dtype):
        keras_model = load_keras_port(f"{out / 'model.py'}:SmallVGG", (3, 12, 12))
    keras_model.load_weights(out / "model.weights.h5")
    assert {str(v.dtype) for v in keras_model.weights} == {dtype}
    back = transfer(keras_model, model)
    for key, value in model.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert back[key].dtype == value.dtype and torch.equal(back[key], value), key
    assert np.isfinite(report["verify"][0]["outputs"][0]["max_abs"])


def test_port_torch_cast_is_reported(tmp_path):
    import json

    import torch

    from portmodel.loading import load_torch_module

    src = ROOT / "fixtures" / "torch" / "mlp_sequential.py"
    model = load_torch_module(f"{src}:MLPClassifier").to(torch.float64)
    ckpt = tmp_path / "net.safetensors"
    from safetensors.torch import save_file

    save_file(model.state_dict(), ckpt)
    out = tmp_path / "out"
    proc = run_cli("port", str(src), "--weights", str(ckpt), "--input-shape", "1,28,28", "-o", str(out),
                   "--dtype", "float32")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "report.json").read_text())["weights"]["cast"] == "float64 -> float32"


def test_port_a_torch_model_a_factory_function_builds(tmp_path):
    """torchvision style: `VGG(features, ...)` is built by `vgg11_bn()`; the port is named by it."""
    import json

    out = tmp_path / "out"
    src = ROOT / "fixtures" / "torch" / "vgg.py"
    proc = run_cli("port", str(src), "--to", "keras", "--model", "vgg11_bn", "--input-shape", "3,32,32", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["passed"] and report["model"]["source"] == "vgg11_bn"
