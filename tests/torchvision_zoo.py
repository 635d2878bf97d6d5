"""torchvision's classification models, as installed, ported to Keras by the code engine.

Shared by `tests/test_torchvision.py` (a subset, small inputs) and `bench/torchvision_zoo.py`
(the whole table). Nothing of torchvision is copied: its files are read from the installed
package. torchvision 0.28 pairs with torch 2.13 but its compiled ops are a CUDA build that
does not load beside the CPU torch; the models need none of them, so the two modules that
register those ops are stubbed before the import (`../shared/GUIDE.md`, section 6).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
import types
from pathlib import Path

import numpy as np

OP_MODULES = ("torchvision._meta_registrations", "torchvision._autograd_registrations")

# (torchvision module, factory, input size): the models the issue names; inception_v3 needs
# 299 (its auxiliary head), the transformers their image size (ViT asserts it).
MODELS = [
    ("alexnet", "alexnet", 64), ("vgg", "vgg11_bn", 64), ("vgg", "vgg16", 64), ("resnet", "resnet18", 64),
    ("resnet", "resnet50", 64), ("resnet", "resnext50_32x4d", 64), ("resnet", "wide_resnet50_2", 64),
    ("squeezenet", "squeezenet1_1", 64), ("densenet", "densenet121", 64), ("mobilenetv2", "mobilenet_v2", 64),
    ("mobilenetv3", "mobilenet_v3_small", 64), ("mobilenetv3", "mobilenet_v3_large", 64),
    ("efficientnet", "efficientnet_b0", 64), ("efficientnet", "efficientnet_v2_s", 64),
    ("convnext", "convnext_tiny", 64), ("shufflenetv2", "shufflenet_v2_x1_0", 64), ("mnasnet", "mnasnet1_0", 64),
    ("googlenet", "googlenet", 64), ("inception", "inception_v3", 299), ("regnet", "regnet_y_400mf", 64),
    ("vision_transformer", "vit_b_16", 224), ("swin_transformer", "swin_t", 224),
]
# the ops modules the classification models import
OPS = ("ops/misc.py", "ops/stochastic_depth.py")


def import_torchvision():
    for name in OP_MODULES:
        sys.modules.setdefault(name, types.ModuleType(name))
    import torchvision

    return torchvision


def torchvision_dir() -> Path | None:
    spec = importlib.util.find_spec("torchvision")
    return Path(spec.origin).parent if spec and spec.origin else None


def classification_files(root: Path) -> list[str]:
    """The top-level modules of `models/` and the `ops/` modules they import."""
    return [str(p) for p in sorted((root / "models").glob("*.py"))] + [str(root / f) for f in OPS]


def translate_zoo(out: Path, files: list[str] | None = None, jobs: int = 1) -> list:
    """Translate the classification files as one package into `out/torchvision/...`."""
    from portmodel.core.fsutil import write_text
    from portmodel.tree import output_path, translate_many

    root = torchvision_dir()
    files = files or classification_files(root)
    outcomes = translate_many(files, jobs=jobs, to="keras")
    for o in outcomes:
        if o.code is not None:
            write_text(str(output_path(o.path, [str(root)], str(out), packages=True)), o.code)
    return outcomes


def import_port(out: Path, module: str, alias: str = "torchvision_port"):
    """The translated `torchvision.models.<module>`, imported as `<alias>.models.<module>`
    (another top-level name than the installed torchvision, which the port's non-model code
    still imports)."""
    for sub, path in ((alias, out / "torchvision"), (f"{alias}.models", out / "torchvision" / "models"),
                      (f"{alias}.ops", out / "torchvision" / "ops")):
        if sub not in sys.modules:
            pkg = types.ModuleType(sub)
            pkg.__path__ = [str(path)]
            sys.modules[sub] = pkg
    return importlib.import_module(f"{alias}.models.{module}")


def randomize(model, seed: int = 0):
    """BatchNorm running statistics random, and zero-initialised parameters (ViT's head)
    given values, so that every weight shows in the output."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            for p in m.parameters(recurse=False):
                if not p.detach().abs().sum():
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return model.eval()


def check(out: Path, module: str, factory: str, size: int, batch: int = 2) -> dict:
    """Build torchvision's factory and the port's with weights=None, carry the weights with
    `portmodel.weights`, compare the outputs on seeded inputs (eval mode)."""
    import torch

    from portmodel.verify import verify_torch_source
    from portmodel.weights import transfer_to_keras

    start = time.perf_counter()
    torchvision = import_torchvision()
    port = import_port(out, module)
    torch.manual_seed(0)
    torch_model = randomize(getattr(torchvision.models, factory)(weights=None))
    keras_model = getattr(port, factory)(weights=None)
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype("float32")
    # every layer is built, training-only branches (auxiliary heads) included
    keras_model(np.transpose(x, (0, 2, 3, 1)), training=True)
    keras_model(np.transpose(x, (0, 2, 3, 1)), training=False)
    transfer_to_keras(torch_model, keras_model)
    (res,) = verify_torch_source(torch_model, keras_model, [x], layers=False)
    o = res.outputs[0]
    scale = o.max_abs / o.max_rel if o.max_rel else 0.0
    passed = o.max_abs <= 1e-4 * max(1.0, scale)
    first = None
    if not passed:
        (res,) = verify_torch_source(torch_model, keras_model, [x], layers=True, atol=1e-4, rtol=1e-4)
        first = (res.first_divergence or {}).get("torch")
    return {
        "model": factory, "input": size, "params": sum(p.numel() for p in torch_model.parameters()),
        "max_abs": o.max_abs, "max_rel": o.max_rel, "passed": passed, "first_divergence": first,
        "seconds": round(time.perf_counter() - start, 1),
    }
