"""CPU-vs-GPU errors of every fixture port, both directions (`verify --device all`).

For each Keras fixture: the Keras model (random weights) is the reference; its PyTorch port
runs on CPU and on CUDA. For each PyTorch fixture: the PyTorch model runs on CPU and on
CUDA, its Keras port on the device the Keras backend uses (KERAS_BACKEND=jax on a GPU
machine: the GPU). Prints one markdown row per model and device; exit 1 if one fails.

    KERAS_BACKEND=jax python bench/cuda_verify.py      # on a machine with a GPU
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    import keras
    import torch
    from helpers import MANIFEST, TORCH_FIXTURES, TORCH_MANIFEST, port_models, torch_port

    from portmodel.core.errors import PortmodelError
    from portmodel.verify import resolve_devices, verify, verify_torch_source

    devices = resolve_devices("all")
    print(f"torch {torch.__version__}, keras {keras.__version__} ({keras.backend.backend()}), devices {devices}")
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    print("\n| direction | model | device | max abs | max rel | result |\n|---|---|---|---|---|---|")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(MANIFEST):
            work = Path(tmp) / f"k_{name}"
            work.mkdir()
            try:
                keras_model, torch_model, inputs = port_models(name, work)
            except PortmodelError as exc:  # e.g. a tf.keras fixture on a machine without TensorFlow
                print(f"| Keras → PyTorch | {name} | - | - | - | skipped: {str(exc)[-60:]} |")
                continue
            for res in verify(keras_model, torch_model, inputs, devices=devices):
                failed += _row("Keras → PyTorch", name, res)
        for name in sorted(TORCH_MANIFEST):
            spec = TORCH_MANIFEST[name]
            work = Path(tmp) / f"t_{name}"
            work.mkdir()
            torch_model, keras_model, inputs = torch_port(
                TORCH_FIXTURES / name, spec["model"], tuple(spec["input_shape"]), work
            )
            for res in verify_torch_source(torch_model, keras_model, inputs, devices=devices):
                failed += _row("PyTorch → Keras", name, res)
    print(f"\n{failed} failing row(s)")
    return 1 if failed else 0


def _row(direction: str, name: str, res) -> int:
    o = max(res.outputs, key=lambda o: o.max_abs)
    verdict = "PASS" if res.passed else "FAIL"
    print(f"| {direction} | {name} | {res.device} | {o.max_abs:.2e} | {o.max_rel:.2e} | {verdict} |")
    return 0 if res.passed else 1


if __name__ == "__main__":
    sys.exit(main())
