"""ONNX -> PyTorch source (portmodel.onnx_torch): every converter against ONNX Runtime.

Each model is exported by torch (TorchScript exporter: fast, dynamic batch), converted,
and the generated module is run on a batch size other than the export's and compared
with ONNX Runtime on the same seeded input.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")  # the `convert` extra (scripts/setup installs it)
ort = pytest.importorskip("onnxruntime")
import torch
from helpers import conv_transpose_graph, onnx_graph
from torch import nn
from torch.nn import functional as F

from portmodel.onnx_torch import CONVERTERS, UnsupportedOp, onnx_to_torch
from portmodel.onnx_torch.ops import op


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.avg(self.pool(F.relu(self.bn(self.conv(x)))))
        return torch.softmax(self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)), dim=-1)


class Mobile(nn.Module):
    """Asymmetric padding, depthwise conv, hard-swish, ReLU6 (Clip), a flatten to Linear."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 3, stride=2, groups=4)
        self.pw = nn.Conv2d(4, 6, 1, bias=False)
        self.fc = nn.Linear(6 * 5 * 5, 3)

    def forward(self, x):
        x = F.hardswish(self.dw(F.pad(x, (0, 1, 0, 1))))
        x = torch.clamp(self.pw(x), 0.0, 6.0)
        return self.fc(x.reshape(x.shape[0], -1))


class Attention(nn.Module):
    """Embedding, hand-written attention, LayerNorm, exact GELU."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.qkv = nn.Linear(8, 24)
        self.norm = nn.LayerNorm(8)
        self.ff = nn.Linear(8, 8)

    def forward(self, ids):
        x = self.embed(ids)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(8), dim=-1)
        x = self.norm(x + att @ v)
        return F.gelu(self.ff(x)).mean(dim=1)


class Recurrent(nn.Module):
    """A two-layer bidirectional LSTM, then a GRU (gate blocks reordered both)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 7, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(14, 4, batch_first=True, bidirectional=True)
        self.out = nn.Linear(8 + 8, 2)

    def forward(self, x):
        y, _ = self.lstm(x)
        z, h = self.gru(y)
        return self.out(torch.cat([z[:, -1], h.permute(1, 0, 2).flatten(1)], dim=1))


class Upsample(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        near = F.interpolate(x, scale_factor=2, mode="nearest")
        smooth = F.interpolate(self.conv(x), scale_factor=2, mode="bilinear", align_corners=False)
        return torch.cat([near, smooth], dim=1)


class Misc(nn.Module):
    """Split, squeeze/unsqueeze, reductions, where, leaky ReLU / ELU, pow, sqrt, min/max."""

    def forward(self, x):
        a, b = torch.split(x, [2, 4], dim=1)
        a = F.leaky_relu(a, 0.2).unsqueeze(1).squeeze(1)
        b = torch.where(b > 0, F.elu(b), torch.sqrt(b * b + 1.0))
        s = torch.cat([a, b], dim=1) ** 2
        return s.amax(dim=1) + s.mean(dim=1) - torch.minimum(a, b[:, :2]).sum(dim=1)


class Decoder(nn.Module):
    """Transposed convolutions: stride 2 with padding and output_padding, grouped, 1-D."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)
        self.grouped = nn.ConvTranspose2d(6, 4, 2, stride=2, groups=2, bias=False)
        self.line = nn.ConvTranspose1d(4, 3, 5, stride=3, padding=2, dilation=2)

    def forward(self, x):
        y = self.grouped(F.relu(self.up(x)))
        return self.line(y.mean(dim=2))


CASES = {
    "cnn": (Cnn, (3, 16, 16), "float32"),
    "decoder": (Decoder, (4, 5, 6), "float32"),
    "mobile": (Mobile, (4, 10, 10), "float32"),
    "attention": (Attention, (6,), "int64"),
    "recurrent": (Recurrent, (9, 5), "float32"),
    "upsample": (Upsample, (2, 5, 5), "float32"),
    "misc": (Misc, (6,), "float32"),
}


def _export(model: nn.Module, shape: tuple, dtype: str, path) -> None:
    example = torch.zeros((2, *shape), dtype=getattr(torch, dtype))
    torch.onnx.export(
        model, (example,), str(path), dynamo=False, input_names=["input"], opset_version=17,
        dynamic_axes={"input": {0: "batch"}},
    )


def _inputs(shape: tuple, dtype: str, batch: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    if dtype == "int64":
        return rng.integers(0, 20, size=(batch, *shape)).astype("int64")
    return rng.standard_normal((batch, *shape)).astype("float32")


def load_generated(result, tmp_path):
    path = tmp_path / "generated.py"
    path.write_text(result.code)
    spec = importlib.util.spec_from_file_location(f"generated_{id(result)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, result.class_name)().eval()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in result.state.items()}, strict=True)
    return model


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_module_matches_onnx_runtime(name, tmp_path):
    cls, shape, dtype = CASES[name]
    torch.manual_seed(0)
    source = cls().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in source.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    _export(source, shape, dtype, tmp_path / "m.onnx")
    result = onnx_to_torch(onnx.load(tmp_path / "m.onnx"))
    model = load_generated(result, tmp_path)
    x = _inputs(shape, dtype)  # batch 3: the export used 2, the batch stays dynamic
    ref = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": x})[0]
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-5, np.abs(got - ref).max()
    compile(result.code, "generated.py", "exec")


def test_weights_go_to_native_layers(tmp_path):
    """Conv/BatchNorm/Linear/LSTM/Embedding weights become nn modules, not anonymous buffers."""
    code = {}
    for name in ("cnn", "recurrent", "attention"):
        cls, shape, dtype = CASES[name]
        _export(cls().eval(), shape, dtype, tmp_path / f"{name}.onnx")
        code[name] = onnx_to_torch(onnx.load(tmp_path / f"{name}.onnx")).code
    assert "nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)" in code["cnn"]
    assert "nn.Linear(8, 5)" in code["cnn"]
    assert code["recurrent"].count("nn.LSTM(") == 2 and "bidirectional=True" in code["recurrent"]
    assert "nn.Embedding(20, 8)" in code["attention"] and "nn.LayerNorm(8" in code["attention"]


def test_torch_export_of_the_generated_module(tmp_path):
    """The batch stays a dynamic dimension: shapes are Python ints, not tensors."""
    cls, shape, dtype = CASES["mobile"]
    _export(cls().eval(), shape, dtype, tmp_path / "m.onnx")
    model = load_generated(onnx_to_torch(onnx.load(tmp_path / "m.onnx")), tmp_path)
    x = torch.from_numpy(_inputs(shape, dtype))
    program = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    bigger = torch.from_numpy(_inputs(shape, dtype, batch=5))
    assert torch.equal(program.module()(bigger), model(bigger))


@pytest.mark.parametrize(
    "attributes",
    [{"pads": [0, 1, 1, 0], "strides": [2, 2]}, {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
     {"auto_pad": "SAME_LOWER", "strides": [2, 3]}, {"output_shape": [9, 12], "strides": [2, 3]}],
    ids=["asymmetric", "same-upper", "same-lower", "output-shape"],
)
def test_conv_transpose_pads_torch_cannot_write_become_a_crop(attributes, tmp_path):
    """ConvTranspose as tf2onnx writes Keras' Conv2DTranspose(padding='same'): pads that are
    not alike on both sides, or sizes given by auto_pad / output_shape."""
    model, x = conv_transpose_graph(attributes)
    expected = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    result = onnx_to_torch(model)
    module = load_generated(result, tmp_path)
    got = module(torch.from_numpy(x)).detach().numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_an_op_without_converter_names_the_op_and_the_node():
    with pytest.raises(UnsupportedOp, match=r"ONNX op Hardmax \(node 'my_hardmax'\) has no PyTorch converter"):
        onnx_to_torch(onnx_graph("Hardmax"))


def test_an_unsupported_form_names_the_op_and_why():
    with pytest.raises(UnsupportedOp, match=r"ONNX op Softmax \(node 'my_softmax'\): Softmax before opset 13"):
        model = onnx_graph("Softmax", axis=0)
        model.opset_import[0].version = 11
        onnx_to_torch(model)


def test_a_second_registration_is_refused():
    assert "Conv" in CONVERTERS
    with pytest.raises(ValueError, match="registered twice"):
        op("Conv")(lambda e, node: None)


def test_erfc_from_tf2onnx_is_rewritten_as_one_minus_erf(tmp_path):
    """tf2onnx writes exact GELU's erfc as an `Erfc` node, which ONNX does not define."""
    from portmodel.convert.onnx_fixes import replace_erfc

    path = tmp_path / "erfc.onnx"
    onnx.save(onnx_graph("Erfc"), path)
    notes = replace_erfc(str(path))
    assert notes and "1 - Erf(x)" in notes[0]
    x = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    got = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    assert np.abs(got - np.vectorize(math.erfc)(x)).max() < 1e-6


def test_generated_source_passes_ruff(tmp_path):
    """The source is for people to read and keep: clean under ruff's default rules."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    for name, (cls, shape, dtype) in CASES.items():
        _export(cls().eval(), shape, dtype, tmp_path / f"{name}.onnx")
        (tmp_path / f"{name}.py").write_text(onnx_to_torch(onnx.load(tmp_path / f"{name}.onnx")).code)
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    files = [str(tmp_path / f"{name}.py") for name in CASES]
    proc = subprocess.run([ruff, "check", "--isolated", *files], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
