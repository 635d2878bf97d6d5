"""Model-zoo code, both directions: how close each port computes to its source.

Every zoo fixture (keras.applications-style Keras; torchvision / Hugging Face-style PyTorch)
is translated, its source model given seeded random weights (BatchNorm statistics
included), the weights moved into the port and both run on the same seeded inputs, as
`portmodel port` does (in this process: two fixtures are built by factory functions).
Printed per model: parameters, the largest absolute and relative error on the model's
output, the largest absolute error over the layers compared one by one, and the seconds
the translation, the weight move and the verification took together.

    .venv/bin/python bench/zoo.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
KERAS = ["zoo_resnet", "zoo_vgg", "zoo_mobilenet_v2", "zoo_densenet", "zoo_efficientnet", "zoo_bert"]
TORCH = ["resnet_small.py", "vgg.py", "mobilenet_v2.py", "densenet.py", "efficientnet.py", "bert_encoder.py", "bert_hf.py"]


def keras_to_torch(name: str, tmp: Path):
    from portmodel.examples import randomize
    from portmodel.loading import load_keras, load_torch_module
    from portmodel.translate import translate_source
    from portmodel.verify import make_inputs, verify
    from portmodel.weights import transfer

    spec = yaml.safe_load((ROOT / "fixtures" / "keras" / "fixtures.yaml").read_text())[name]
    src = ROOT / "fixtures" / "keras" / f"{name}.py"
    shape = tuple(spec["input_shape"]) if "input_shape" in spec else None
    keras_model = load_keras(f"{src}:{spec['model']}", input_shape=shape)
    randomize(keras_model, 0)
    start = time.perf_counter()
    result = translate_source(src.read_text(), str(src), input_shape=shape, to="torch")
    info = next(m for m in result.models if m.source == spec["model"])
    (tmp / f"{name}_torch.py").write_text(result.code)
    torch_model = load_torch_module(f"{tmp / f'{name}_torch.py'}:{info.target}")
    torch_model.load_state_dict(transfer(keras_model, torch_model), strict=True)
    (res,) = verify(keras_model, torch_model, make_inputs(keras_model, shape), layers=True)
    return res, keras_model.count_params(), time.perf_counter() - start, len(result.todos)


def torch_to_keras(name: str, tmp: Path):
    from portmodel.examples import randomize_torch
    from portmodel.loading import load_keras_port, load_torch_module
    from portmodel.translate import translate_source
    from portmodel.verify import make_torch_inputs, verify_torch_source
    from portmodel.weights import transfer_to_keras

    spec = yaml.safe_load((ROOT / "fixtures" / "torch" / "fixtures.yaml").read_text())[name]
    src, shape = ROOT / "fixtures" / "torch" / name, tuple(spec["input_shape"])
    torch_model = load_torch_module(f"{src}:{spec['model']}")
    randomize_torch(torch_model, 0)
    start = time.perf_counter()
    result = translate_source(src.read_text(), str(src), input_shape=shape, to="keras")
    (tmp / f"{src.stem}_keras.py").write_text(result.code)
    keras_model = load_keras_port(f"{tmp / f'{src.stem}_keras.py'}:{spec['model']}", shape)
    transfer_to_keras(torch_model, keras_model)
    (res,) = verify_torch_source(torch_model, keras_model, make_torch_inputs(torch_model, shape), layers=True)
    return res, sum(p.numel() for p in torch_model.parameters()), time.perf_counter() - start, len(result.todos)


def main() -> int:
    print("| model | direction | parameters | TODOs | output max abs | output max rel | worst layer max abs | s |")
    print("|---|---|---|---|---|---|---|---|")
    jobs = [(n, "Keras -> PyTorch", keras_to_torch) for n in KERAS] + [(n, "PyTorch -> Keras", torch_to_keras) for n in TORCH]
    with tempfile.TemporaryDirectory() as tmp:
        for name, direction, run in jobs:
            res, params, seconds, todos = run(name, Path(tmp))
            layers = [lay["max_abs"] for lay in (res.layers or []) if lay.get("compared")]
            worst = f"{max(layers):.1e}" if layers else "-"
            print(f"| {name.removesuffix('.py')} | {direction} | {params:,} | {todos} | "
                  f"{max(o.max_abs for o in res.outputs):.1e} | {max(o.max_rel for o in res.outputs):.1e} | {worst} | {seconds:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
