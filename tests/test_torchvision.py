"""torchvision's models package, as installed, through the code engine (PyTorch -> Keras).

The package is translated as one (its `models/` modules and the `ops/` modules they import);
model code must carry no TODO; a representative subset of the zoo is checked numerically at
small input sizes (the whole table: `bench/torchvision_zoo.py`); `port` works end to end on
`resnet.py` through a subprocess. Skipped where torchvision is not installed.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torchvision_zoo as zoo

pytestmark = pytest.mark.skipif(zoo.torchvision_dir() is None, reason="torchvision is not installed")

# utilities that are not model code (torch.fx graph rewriting; a checkpoint's position
# embeddings resized for another image size): their TODOs are expected and reported
NOT_MODEL_CODE = {("feature_extraction.py", None), ("vision_transformer.py", "interpolate_embeddings")}
# the subset CI runs numerically: residual, channel shuffle, grouped and depthwise convs,
# squeeze-excitation with hardswish, layer scale and permutes, training-only auxiliary heads
SUBSET = ["resnet18", "shufflenet_v2_x1_0", "mobilenet_v3_small", "convnext_tiny", "googlenet", "densenet121"]


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    out = tmp_path_factory.mktemp("torchvision_keras")
    outcomes = zoo.translate_zoo(out, jobs=2)
    return out, outcomes


def _enclosing(source: str, line: int) -> str | None:
    """The top-level class or function holding `line`."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.lineno <= line <= node.end_lineno:
            return node.name
    return None


def test_translates_the_package_without_todo_in_model_code(port):
    _out, outcomes = port
    assert not [o.error for o in outcomes if o.status == "failed"]
    unexpected = []
    for o in outcomes:
        name = Path(o.path).name
        for d in o.diagnostics:
            if d.severity != "todo":
                continue
            where = _enclosing(o.source, d.line)
            if (name, None) not in NOT_MODEL_CODE and (name, where) not in NOT_MODEL_CODE:
                unexpected.append(f"{d.format()} (in {where})")
    assert not unexpected, unexpected
    for o in outcomes:
        compile(o.code, o.path, "exec")


def test_output_passes_ruff(port):
    """No undefined, unused or redefined name, no syntax error (torchvision's own `__init__`
    re-exports what it imports, as the original does)."""
    out, _ = port
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select",
                           "F821,F401,F811,F841,E9", "--per-file-ignores", "__init__.py:F401", str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_model_classes_become_keras_and_factories_stay_factories(port):
    out, _ = port
    code = (out / "torchvision" / "models" / "resnet.py").read_text()
    assert "class ResNet(keras.Model)" in code and "class Bottleneck(keras.layers.Layer)" in code
    assert "def resnet50(*, weights: Optional[ResNet50_Weights] = None" in code
    assert "def conv3x3(" in code and not re.search(r"^(import torch|from torch)\b", code, re.MULTILINE)
    # a class passed as a value keeps torch's signature (norm_layer = nn.BatchNorm2d)
    assert "def BatchNorm2d(num_features, eps=1e-05, momentum=0.1" in code
    misc = (out / "torchvision" / "ops" / "misc.py").read_text()
    assert "class Conv2dNormActivation(ConvNormActivation)" in misc and "class ConvNormActivation(keras.Sequential)" in misc


@pytest.mark.parametrize("factory", SUBSET)
def test_matches_torchvision(port, factory):
    out, _ = port
    module = next(m for m, f, _ in zoo.MODELS if f == factory)
    row = zoo.check(out, module, factory, 64)
    assert row["passed"], row


def test_port_resnet_end_to_end(tmp_path):
    """`portmodel port .../models/resnet.py --model resnet50 --weights r50.pt --to keras`."""
    import torch

    torchvision = zoo.import_torchvision()
    torch.manual_seed(0)
    torch.save(zoo.randomize(torchvision.models.resnet18()).state_dict(), tmp_path / "r18.pt")
    # the subprocess imports torchvision the same way (sitecustomize stubs its CUDA ops)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "import sys, types\n"
        f"for m in {zoo.OP_MODULES!r}:\n    sys.modules.setdefault(m, types.ModuleType(m))\n"
    )
    paths = [str(tmp_path / "site"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    src = zoo.torchvision_dir() / "models" / "resnet.py"
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "portmodel.cli", "port", str(src), "--model", "resnet18", "--weights",
         str(tmp_path / "r18.pt"), "--to", "keras", "--input-shape", "3,64,64",
         "--rtol", "1e-5", "-o", str(out)],
        capture_output=True, text=True, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "PASS" in proc.stdout
    for name in ("model.py", "model.weights.h5", "report.md", "report.json",
                 "torchvision_keras/models/resnet.py", "torchvision_keras/models/_api.py"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "**Verdict: PASS**" in report and "no TODO" in report
