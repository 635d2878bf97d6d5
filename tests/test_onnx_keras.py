"""ONNX -> Keras 3 source (portmodel.onnx_keras), checked the way a user gets it.

Each model is exported to ONNX, converted, and its `model.py` + `model.weights.h5` are
loaded in a fresh Python process that never imports portmodel; its outputs (channels-last
images moved back) are compared with ONNX Runtime within 1e-4 x max(1, |output|), on a
batch other than the export's. Then: names come from the source (both writers), a
converted model trains, an op without a converter names itself and nothing is written.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")  # the `convert` extra (scripts/setup installs it)
ort = pytest.importorskip("onnxruntime")
import torch
from helpers import TORCH_FIXTURES, conv_transpose_graph, onnx_graph
from torch import nn
from torch.nn import functional as F

from portmodel.onnx_keras import CONVERTERS, UnsupportedOp, onnx_to_keras, save
from portmodel.onnx_keras.ops import op
from portmodel.onnx_torch import onnx_to_torch

sys.path.insert(0, str(TORCH_FIXTURES))
try:
    from autoencoder import ConvAutoencoder
    from bert_encoder import TinyBert
    from mobilenet_v2 import MobileNetV2
    from resnet_small import ResNetSmall
    from unet_tiny import TinyUNet
finally:
    sys.path.remove(str(TORCH_FIXTURES))


class Mixed(nn.Module):
    """What moves with the layout: a BatchNorm the exporter keeps (after a ReLU), a concat and
    a softmax over channels, average pooling, asymmetric pads, a flatten of a conv into a Linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, stride=2)
        self.bn = nn.BatchNorm2d(6)
        self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=6)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1)
        self.head = nn.Linear(12 * 8 * 8, 5)

    def forward(self, x):
        x = self.bn(F.relu(self.stem(F.pad(x, (0, 1, 0, 1)))))
        y = torch.cat([F.hardswish(self.dw(x)), torch.sigmoid(self.avg(x))], dim=1)
        y = y * torch.softmax(y, dim=1) + y.mean(dim=(2, 3), keepdim=True)
        return self.head(torch.flatten(y, 1))


def _randomise(model: nn.Module) -> nn.Module:
    """Trained-looking BatchNorm statistics (the fixtures' are identities)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model.eval()


# name -> (model, input shape, dtype, exporter)
CASES = {
    "resnet": (ResNetSmall, (3, 32, 32), "float32", "torchscript"),
    "mobilenet_v2": (MobileNetV2, (3, 32, 32), "float32", "torchscript"),
    "bert": (TinyBert, (10,), "int64", "dynamo"),
    "mixed": (Mixed, (3, 16, 16), "float32", "torchscript"),
    "unet": (TinyUNet, (3, 8, 8), "float32", "torchscript"),  # bilinear upsampling, an image out
    "autoencoder": (ConvAutoencoder, (1, 16, 16), "float32", "torchscript"),  # ConvTranspose, nearest, ELU
}


def _export(model: nn.Module, shape: tuple, dtype: str, path, exporter: str) -> None:
    example = (torch.zeros((2, *shape), dtype=getattr(torch, dtype)),)
    if exporter == "dynamo":
        torch.onnx.export(model, example, str(path), dynamo=True, input_names=["input"], opset_version=18,
                          dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    else:
        torch.onnx.export(model, example, str(path), dynamo=False, input_names=["input"], opset_version=17,
                          dynamic_axes={"input": {0: "batch"}})


def _inputs(shape: tuple, dtype: str, batch: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    if dtype == "int64":
        return rng.integers(0, 100, size=(batch, *shape)).astype("int64")
    return rng.standard_normal((batch, *shape)).astype("float32")


FRESH = textwrap.dedent("""
    import importlib.util, sys
    import numpy as np
    import keras

    for folder in sys.argv[1:]:
        spec = importlib.util.spec_from_file_location("generated_" + folder.replace("/", "_"), folder + "/model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.Model()
        model.build(None)
        model.load_weights(folder + "/model.weights.h5")
        np.save(folder + "/got.npy", np.asarray(model(np.load(folder + "/x.npy"))))
        again = keras.saving.load_model(folder + "/model.keras")  # the class registered by the import
        np.save(folder + "/again.npy", np.asarray(again(np.load(folder + "/x.npy"))))
    print("portmodel imported:", any(m.split(".")[0] == "portmodel" for m in sys.modules))
""")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Every case exported, converted and saved; then loaded in one fresh process."""
    root = tmp_path_factory.mktemp("onnx_keras")
    out = {}
    for name, (cls, shape, dtype, exporter) in CASES.items():
        torch.manual_seed(0)
        model = _randomise(cls())
        folder = root / name
        folder.mkdir()
        _export(model, shape, dtype, folder / "m.onnx", exporter)
        result = onnx_to_keras(str(folder / "m.onnx"))
        code = result.code
        x = _inputs(shape, dtype)
        np.save(folder / "x.npy", result.to_keras([x])[0])
        keras_model, files, notes = save(result, str(folder))
        ref = ort.InferenceSession(str(folder / "m.onnx")).run(None, {"input": x})[0]
        out[name] = {"folder": folder, "result": result, "code": code, "ref": ref, "files": files, "notes": notes,
                     "model": keras_model, "x": x, "torch": model}
    proc = subprocess.run([sys.executable, "-c", FRESH, *(str(v["folder"]) for v in out.values())],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "portmodel imported: False" in proc.stdout
    return out


def _within(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.shape == ref.shape
    err = float(np.abs(got - ref).max())
    assert err <= 1e-4 * max(1.0, float(np.abs(ref).max())), err


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_model_in_a_fresh_process_matches_onnx_runtime(name, converted):
    case = converted[name]
    result, ref = case["result"], case["ref"]
    assert case["files"] == ["model.py", "model.weights.h5", "model.keras"], case["notes"]
    for file in ("got.npy", "again.npy"):  # model.py + weights, and model.keras
        got = result.from_keras([np.load(case["folder"] / file)])[0]
        _within(got, ref)
    with torch.no_grad():  # and the PyTorch source itself
        _within(result.from_keras([np.load(case["folder"] / "got.npy")])[0], case["torch"](torch.from_numpy(case["x"])).numpy())


def test_layers_are_native_and_channels_last(converted):
    resnet, mobile, bert, mixed = (converted[n]["code"] for n in ("resnet", "mobilenet_v2", "bert", "mixed"))
    assert "layers.Conv2D(16, kernel_size=3, padding=\"same\", name=\"layer1_0_conv1\")" in resnet
    assert "layers.GlobalAveragePooling2D(keepdims=True" in resnet and "layers.Dense(10" in resnet
    assert "layers.DepthwiseConv2D(" in mobile and "layers.ReLU(max_value=6.0" in mobile
    assert "layers.Embedding(100, 32" in bert and "layers.LayerNormalization(axis=-1, epsilon=1e-12" in bert
    assert bert.count("layers.Dense(") == 2 * 6 + 2
    assert "layers.BatchNormalization(momentum=0.9, epsilon=1e-05" in mixed
    assert "ops.concatenate([" in mixed and "axis=-1)" in mixed and "layers.Softmax(axis=-1" in mixed
    # a conv's output goes back to channels-first before the flatten, so the Dense keeps torch's weights
    assert re.search(r"(\w+) = ops\.transpose\(\w+, \(0, 3, 1, 2\)\)\n\s+\w+ = ops\.reshape\(\1,", mixed), mixed
    assert converted["resnet"]["result"].input_layouts == ["cl"]
    weights = {w.path.split("/", 1)[1]: w for w in converted["resnet"]["model"].weights}  # below the model's name
    kernel = weights["layer1_0_conv1/kernel"]
    assert tuple(kernel.shape) == (3, 3, 16, 16) and kernel.trainable  # HWIO, a trainable variable
    conv = converted["resnet"]["torch"].layer1[0].conv1.weight.detach().numpy()
    assert converted["resnet"]["result"].code.count("self.layer1_0_conv1(") == 1
    assert conv.shape == (16, 16, 3, 3)


def test_a_converted_pytorch_model_trains_a_step(converted):
    case = converted["resnet"]
    model = case["model"]
    model.compile(optimizer="sgd", loss="mse")
    before = [np.array(w) for w in model.trainable_weights]
    x = case["result"].to_keras([case["x"]])[0]
    model.fit(x, np.zeros((x.shape[0], 10), "float32"), batch_size=x.shape[0], epochs=1, verbose=0)
    after = [np.array(w) for w in model.trainable_weights]
    assert len(before) > 20 and sum(not np.array_equal(a, b) for a, b in zip(before, after)) == len(before)


def test_keep_nchw_keeps_the_source_layout(converted, tmp_path):
    case = converted["mixed"]
    result = onnx_to_keras(str(case["folder"] / "m.onnx"), keep_nchw=True)
    assert result.input_layouts == [""] and result.output_layouts == [""]
    model, _, _ = save(result, str(tmp_path), keras_file=False)
    _within(np.asarray(model(case["x"])), case["ref"])


def _keras_applications_style(tmp_path):
    """A few blocks named as keras.applications' ResNet50 names them (conv1_conv, conv1_bn...),
    exported by Keras (tf2onnx folds every BatchNormalization into its convolution)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    x = layers.ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(inp)
    x = layers.Conv2D(8, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    s = layers.Conv2D(16, 1, name="conv2_block1_0_conv")(x)
    s = layers.BatchNormalization(epsilon=1.001e-5, name="conv2_block1_0_bn")(s)
    y = layers.Conv2D(8, 1, name="conv2_block1_1_conv")(x)
    y = layers.BatchNormalization(epsilon=1.001e-5, name="conv2_block1_1_bn")(y)
    y = layers.Activation("relu", name="conv2_block1_1_relu")(y)
    y = layers.Conv2D(16, 3, padding="same", name="conv2_block1_2_conv")(y)
    y = layers.BatchNormalization(epsilon=1.001e-5, name="conv2_block1_2_bn")(y)
    y = layers.Activation("relu", name="conv2_block1_out")(layers.Add(name="conv2_block1_add")([s, y]))
    y = layers.GlobalAveragePooling2D(name="avg_pool")(y)
    model = keras.Model(inp, layers.Dense(4, activation="softmax", name="predictions")(y))
    rng = np.random.default_rng(1)
    for layer in model.layers:  # trained-looking weights; one block as built, which tf2onnx folds whole
        if not layer.name.startswith("conv2_block1_0"):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()])
    model(np.zeros((1, 16, 16, 3), "float32"))
    path = tmp_path / "r50_style.onnx"
    model.export(str(path), format="onnx", verbose=False)
    return path, model


def test_names_come_from_the_source_not_a_folded_neighbour(tmp_path, converted):
    """tf2onnx names a Conv with a folded BatchNorm after the BatchNorm: both writers name the
    layer after the convolution's weight (conv1_conv), as keras.applications did."""
    path, keras_model = _keras_applications_style(tmp_path)
    torch_code = onnx_to_torch(str(path)).code
    result = onnx_to_keras(str(path))
    for name in ("conv1_conv", "conv2_block1_0_conv", "conv2_block1_1_conv", "conv2_block1_2_conv", "predictions"):
        assert f"self.{name} = nn." in torch_code, torch_code
        assert f'name="{name}")' in result.code, result.code
    assert not re.search(r"self\.\w*(bn|batchnorm)\w* = nn\.", torch_code)  # no layer named after a BatchNorm
    assert not re.search(r"self\.\w*(bn|batchnorm)\w* = layers\.", result.code)
    folded = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Conv" and "conv2_block1_0_bn" in n.name]
    assert folded, "the exporter names the folded convolution after its BatchNorm"
    model, _, _ = save(result, str(tmp_path))
    assert "conv1_conv/kernel" in {w.path.split("/", 1)[1] for w in model.weights}
    x = np.random.default_rng(2).standard_normal((3, 16, 16, 3)).astype("float32")
    _within(np.asarray(model(x)), np.asarray(keras_model(x)))  # .keras -> ONNX -> Keras round trip
    # a torchvision-style ResNet: the state_dict's module paths
    torch_names = onnx_to_torch(str(converted["resnet"]["folder"] / "m.onnx")).code
    for name in ("conv1", "layer1_0_conv1", "layer2_0_downsample_0", "fc"):
        assert f"self.{name} = nn." in torch_names


@pytest.mark.parametrize(
    "attributes",
    [{"pads": [0, 1, 1, 0], "strides": [2, 2]}, {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
     {"auto_pad": "SAME_LOWER", "strides": [2, 3]}, {"output_shape": [9, 12], "strides": [2, 3]}],
    ids=["asymmetric", "same-upper", "same-lower", "output-shape"],
)
def test_conv_transpose_pads_are_cropped(attributes, tmp_path):
    """ConvTranspose as tf2onnx writes Keras' Conv2DTranspose(padding='same'): Keras' 'valid'
    output with ONNX's pads cropped off."""
    model, x = conv_transpose_graph(attributes)
    ref = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    result = onnx_to_keras(model)
    keras_model, _, _ = save(result, str(tmp_path), keras_file=False)
    _within(result.from_keras([np.asarray(keras_model(*result.to_keras([x])))])[0], ref)


def test_an_op_without_converter_names_the_op_and_the_node():
    with pytest.raises(UnsupportedOp, match=r"ONNX op Hardmax \(node 'my_hardmax'\) has no Keras converter"):
        onnx_to_keras(onnx_graph("Hardmax"))


def test_a_second_registration_is_refused():
    assert "Conv" in CONVERTERS
    with pytest.raises(ValueError, match="registered twice"):
        op("Conv")(lambda e, node: None)


def test_generated_source_passes_ruff(converted, tmp_path):
    """The source is for people to read and keep: clean under ruff's default rules."""
    import shutil
    from pathlib import Path

    files = []
    for name, case in converted.items():
        (tmp_path / f"{name}.py").write_text(case["code"])
        files.append(str(tmp_path / f"{name}.py"))
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    proc = subprocess.run([ruff, "check", "--isolated", *files], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_keras_model_scopes_name_layers_whatever_the_model_is_called():
    """tf2onnx names a Keras 3 model's tensors under the model's own scope (`resnet50_1/...` for
    keras.applications' ResNet50, measured: `convert r50.keras --to torch` writes
    `self.conv1_conv = nn.Conv2d(3, 64, ...)`); TorchScript scopes stay module paths."""
    from portmodel.onnx_common import source_name

    assert source_name("", "resnet50_1/conv1_conv_1/convolution/ReadVariableOp:0") == "conv1_conv"
    assert source_name("", "functional_1/conv1_conv_1/convolution/merged_input:0") == "conv1_conv"
    assert source_name("/layer1/layer1.0/conv1/Conv", None) == "layer1.0.conv1"
