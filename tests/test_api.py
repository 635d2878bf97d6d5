"""The Python API (docs/api.md): `import portmodel` stays cheap, live models port both ways
(each in a fresh Python process), the documented examples run, lint selects rules as ruff
does, and the command line and the API give the same outputs on the fixtures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torchvision_zoo as zoo
from helpers import ROOT, run_cli

import portmodel

SRC = ROOT / "src"


def _python(code: str, cwd: Path, env_extra: dict | None = None, timeout: int = 300) -> dict:
    """Run `code` in a fresh Python process; it prints one JSON line last, returned here."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", **(env_extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_is_cheap_and_modules_stay_modules():
    out = _python("""
        import json, sys
        import portmodel
        heavy = [m for m in ("torch", "tensorflow", "keras", "libcst", "numpy") if m in sys.modules]
        import portmodel.translate as t
        import portmodel.lint.run as lint_run
        import inspect
        print(json.dumps({"heavy": heavy, "module": hasattr(t, "translate_source"), "run": hasattr(lint_run, "lint_file"),
                          "callable": callable(portmodel.translate) and callable(portmodel.lint),
                          "signature": list(inspect.signature(portmodel.translate).parameters)}))
    """, ROOT)
    assert out == {"heavy": [], "module": True, "run": True, "callable": True,
                   "signature": ["source_or_path", "to", "input_shape", "path", "engine"]}


def test_translate_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import keras\n\ndef f(:\n")
    with pytest.raises(portmodel.PortmodelError) as exc:
        portmodel.translate(bad)
    assert (exc.value.path, exc.value.line) == (str(bad), 3) and str(exc.value).startswith(f"{bad}:3: ")
    with pytest.raises(portmodel.PortmodelError, match="file not found"):
        portmodel.translate(tmp_path / "missing.py")
    with pytest.raises(portmodel.PortmodelError, match="to must be"):
        portmodel.translate("x = 1\n", to="jax")
    same = portmodel.translate("x = 1\n")
    assert same.status == "unchanged" and same.code == "x = 1\n"


_TORCH_NET = '''
import torch
import torch.nn.functional as F
from torch import nn


class Residual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


class SmallCNN(nn.Module):
    def __init__(self, width, num_classes=10):
        super().__init__()
        self.num_classes = num_classes
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.block = Residual(width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.block(F.relu(self.bn(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))
'''


def test_to_keras_live_module(tmp_path):
    """A CNN with BatchNorm and a residual block, defined in a user's file."""
    (tmp_path / "user_net.py").write_text(_TORCH_NET)
    out = _python(f"""
        import json
        import keras, numpy as np, torch
        import portmodel
        from user_net import SmallCNN

        torch.manual_seed(0)
        model = SmallCNN(16, num_classes=7)
        with torch.no_grad():  # BatchNorm statistics that show in the output
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5); m.running_var.uniform_(0.5, 1.5)
        x = torch.randn(2, 3, 32, 32)
        try:
            portmodel.to_keras(model, x)
            missing = None
        except portmodel.PortmodelError as exc:
            missing = str(exc)
        r = portmodel.to_keras(model, x, width=16, out_dir={str(tmp_path / "out")!r})
        ref = model.eval()(x).detach().numpy()
        got = np.asarray(r.model(x.permute(0, 2, 3, 1).numpy()))
        print(json.dumps({{"missing": missing, "keras": isinstance(r.model, keras.Model),
                          "err": float(np.abs(got - ref).max()), "scale": float(np.abs(ref).max()),
                          "max_abs": r.max_abs, "passed": r.passed, "training": model.training,
                          "source": r.source, "report": r.report}}))
    """, tmp_path)
    assert out["missing"].startswith(f"{tmp_path / 'user_net.py'}:20: cannot recover the constructor argument 'width'")
    assert "pass it as a keyword" in out["missing"]
    assert out["keras"] and out["passed"]
    assert out["err"] <= 1e-5 * max(1.0, out["scale"]), out  # measured: 6e-8
    assert "class SmallCNN(keras.Model)" in out["source"] and "import torch" not in out["source"]
    assert "**Verdict: PASS**" in out["report"] and "SmallCNN(width=16, num_classes=7)" not in out["report"]
    for name in ("model.py", "model.weights.h5", "report.md", "report.json"):
        assert (tmp_path / "out" / name).is_file(), name
    assert (tmp_path / "out" / "model.py").read_text() == out["source"]


_KERAS_BUILDER = '''
import keras
from keras import layers


def build(num_classes=5):
    inputs = keras.Input(shape=(16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.ReLU()(x)
    y = layers.Conv2D(8, 3, padding="same")(x)
    y = layers.BatchNormalization()(y)
    x = layers.Activation("relu")(layers.Add()([x, y]))
    x = layers.Conv2D(16, 3, strides=2, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))
'''


def test_to_torch_live_functional_model(tmp_path):
    """A Keras functional model built by a function in a user's file."""
    (tmp_path / "user_builder.py").write_text(_KERAS_BUILDER)
    out = _python(f"""
        import json
        import numpy as np, torch
        import portmodel
        from user_builder import build

        model = build()
        rng = np.random.default_rng(0)
        for w in model.weights:  # weights and BatchNorm statistics that show in the output
            value = rng.standard_normal(w.shape).astype("float32") * 0.3
            w.assign(np.abs(value) + 0.5 if "variance" in w.path else value)
        x = rng.standard_normal((2, 16, 16, 3)).astype("float32")
        r = portmodel.to_torch(model, x, out_dir={str(tmp_path / "out")!r})
        ref = np.asarray(model(x))
        got = r.model(torch.from_numpy(x).permute(0, 3, 1, 2)).detach().numpy()
        print(json.dumps({{"module": isinstance(r.model, torch.nn.Module), "err": float(np.abs(got - ref).max()),
                          "scale": float(np.abs(ref).max()), "max_abs": r.max_abs, "passed": r.passed,
                          "source": r.source, "report": r.report}}))
    """, tmp_path)
    assert out["module"] and out["passed"]
    assert out["err"] <= 1e-5 * max(1.0, out["scale"]), out  # measured: 6e-8
    assert "class Functional(nn.Module)" in out["source"] and "nn.BatchNorm2d(8, eps=0.001, momentum=0.1)" in out["source"]
    assert "**Verdict: PASS**" in out["report"]
    for name in ("keras_model.py", "model.py", "model.safetensors", "report.md", "report.json"):
        assert (tmp_path / "out" / name).is_file(), name


@pytest.mark.skipif(zoo.torchvision_dir() is None, reason="torchvision is not installed")
def test_to_keras_torchvision_resnet18(tmp_path):
    """A model built by a factory of a package (constructor arguments not kept): the factory
    that rebuilds it is found, the package translated as `port` does."""
    out = _python(f"""
        import json, sys, types
        for name in {zoo.OP_MODULES!r}:  # torchvision's CUDA ops do not load beside the CPU torch
            sys.modules.setdefault(name, types.ModuleType(name))
        import numpy as np, torch, torchvision
        import portmodel

        torch.manual_seed(0)
        model = torchvision.models.resnet18()
        x = torch.randn(1, 3, 64, 64)
        r = portmodel.to_keras(model, x)
        ref = model.eval()(x).detach().numpy()
        got = np.asarray(r.model(x.permute(0, 2, 3, 1).numpy()))
        print(json.dumps({{"err": float(np.abs(got - ref).max()), "scale": float(np.abs(ref).max()),
                          "passed": r.passed, "constructor": r.details["constructor"]}}))
    """, tmp_path)
    assert out["passed"] and out["constructor"] == "resnet18()"
    assert out["err"] <= 1e-5 * max(1.0, out["scale"]), out  # measured: 2.4e-6 (scale 2.8)


def test_docs_examples_run(tmp_path):
    """The ```python blocks of docs/api.md, in order, in one fresh process."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.DOTALL)
    assert len(blocks) >= 4
    script = tmp_path / "api_examples.py"
    script.write_text("\n".join(blocks) + "\nimport json\nprint(json.dumps({'ok': True}))\n")
    assert _python(f"exec(compile(open({str(script)!r}).read(), {str(script)!r}, 'exec'))", ROOT) == {"ok": True}


# -- lint on the command line: ruff's selection options ----------------------------------------

_LINTED = '''import keras
from keras import layers

model = keras.Sequential([
    layers.Conv2D(8, 3, strides=2, padding="same"),
    layers.BatchNormalization(),
    layers.BatchNormalization(),
    layers.Softmax(),
])
'''


def _codes_of(stdout: str) -> list[str]:
    return sorted(re.findall(r": (PM\d+)", stdout))


def test_lint_select_ignore_extend_select_statistics(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.portmodel]\nenable = ["PM300"]\n')
    (tmp_path / "m.py").write_text(_LINTED)
    base = ("lint", str(tmp_path / "m.py"), "--config", str(tmp_path))

    def api(**selection) -> list[str]:
        return sorted(f.code for f in portmodel.lint(tmp_path / "m.py", config=tmp_path, **selection).findings)

    assert api() == ["PM300", "PM300"]  # the config's selection
    assert set(api(select="PM")) >= {"PM300", "PM302"}
    assert api(select="PM302") == ["PM302"] and api(ignore="PM300") == []
    assert api(select=["PM3"], ignore="PM300,PM305") == ["PM302"]
    extended = run_cli(*base, "--extend-select", "PM302")
    assert extended.returncode == 1 and _codes_of(extended.stdout) == ["PM300", "PM300", "PM302"]
    selected = run_cli(*base, "--select", "PM3", "--ignore", "PM300,PM305")
    assert _codes_of(selected.stdout) == ["PM302"] and "1 finding(s) in 1 file(s)" in selected.stderr
    stats = run_cli(*base, "--select", "PM3", "--statistics")
    assert stats.returncode == 1
    rows = [line.split("\t") for line in stats.stdout.splitlines()]
    assert rows[0] == ["2", "PM300", "[*] batchnorm-defaults"] and ["1", "PM302", "same-padding-stride"] in rows
    as_json = portmodel.lint(tmp_path / "m.py", config=tmp_path, select="PM3").statistics()
    assert as_json[0] == {"code": "PM300", "name": "batchnorm-defaults", "count": 2, "fixable": True}
    bad = run_cli(*base, "--select", "XY1")
    assert bad.returncode == 2 and "unknown rule selector 'XY1'" in bad.stderr


# -- the command line and the API agree -------------------------------------------------------


def test_cli_and_api_give_the_same_outputs(tmp_path):
    """Every fixture translated by `portmodel translate ... -o` and by `portmodel.translate`;
    the fixtures linted by both."""
    roots = [ROOT / "fixtures" / name for name in ("keras", "torch", "training", "convert")]
    out = tmp_path / "out"
    proc = run_cli("translate", *map(str, roots), "-o", str(out), "--jobs", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = sorted(p for root in roots for p in root.glob("*.py"))
    assert len(files) > 40
    for path in files:
        written = (out / path.name).read_text(encoding="utf-8")
        assert portmodel.translate(path).code == written, path
    lint = run_cli("lint", str(ROOT / "fixtures"), "--format", "json", "--config", str(ROOT))
    assert json.loads(lint.stdout) == json.loads(portmodel.lint(ROOT / "fixtures", config=ROOT).render("json"))


def test_weights_through_the_api_and_the_cli_are_the_same(tmp_path):
    """`portmodel weights` is a layer over `portmodel.transfer_weights`: the same tensors."""
    from safetensors.numpy import load_file

    digits = ROOT / "examples" / "digits"
    model_py = tmp_path / "model.py"
    model_py.write_text(portmodel.translate(str(digits / "keras_model.py"), to="torch").code)
    by_cli, by_api = tmp_path / "cli.safetensors", tmp_path / "api.safetensors"
    proc = run_cli("weights", str(digits / "digits.keras"), "--model", f"{model_py}:DigitsCnn", "-o", str(by_cli))
    assert proc.returncode == 0, proc.stderr
    result = portmodel.transfer_weights(digits / "digits.keras", by_api, model=f"{model_py}:DigitsCnn")
    assert result.tensors > 0 and f"wrote {result.tensors} tensors" in proc.stderr
    a, b = load_file(str(by_cli)), load_file(str(by_api))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    with pytest.raises(portmodel.PortmodelError, match="output exists"):
        portmodel.transfer_weights(digits / "digits.keras", by_api, model=f"{model_py}:DigitsCnn")
