"""PyTorch -> Keras for a ResNet-18-sized model: portmodel against ONNX + onnx2tf, same run.

Both run as child processes on the same machine, one after the other; each is timed (wall)
and its peak RSS read from the OS. portmodel's figure is the whole `portmodel port`
(static translation, weights, verification on seeded inputs); the baseline's is
torch.onnx.export + onnx2tf.convert (SavedModel and TFLite), then one check of its output.

    bash scripts/bench-setup        # the baseline's packages (onnx, onnx2tf...), once
    .venv/bin/python bench/port.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from _measure import measured

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "bench" / "models" / "resnet18.py"
SHAPE = "3,224,224"


def main() -> int:
    try:
        import onnx2tf  # noqa: F401
    except ImportError:
        print("the baseline needs onnx2tf: run `bash scripts/bench-setup` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        ours_wall, ours_peak, _ = measured(
            [sys.executable, "-m", "portmodel.cli", "port", str(MODEL), "--input-shape", SHAPE,
             "-o", f"{tmp}/ours"], tmp,
        )
        report = json.loads(Path(f"{tmp}/ours/report.json").read_text())
        ours_err = report["verify"][0]["outputs"][0]["max_abs"]
        base_wall, base_peak, out = measured(
            [sys.executable, str(ROOT / "bench" / "_onnx2tf_baseline.py"), str(MODEL), "ResNet18", SHAPE, tmp], tmp
        )
        base = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    print(f"model: {MODEL.name} (11.7M parameters), input {SHAPE}")
    print("| path | wall s | peak RSS MB | max abs vs PyTorch |")
    print("|---|---|---|---|")
    print(f"| portmodel port (translate + weights + verify) | {ours_wall:.1f} | {ours_peak:.0f} | {ours_err:.2e} |")
    print(f"| torch.onnx.export + onnx2tf.convert | {base_wall:.1f} | {base_peak:.0f} | {base['max_abs']:.2e} |")
    print(f"  (export {base['export_s']:.1f} s, onnx2tf {base['convert_s']:.1f} s)")
    print(f"ratio: onnx2tf path / portmodel = {base_wall / ours_wall:.1f}x wall, {base_peak / ours_peak:.1f}x peak RSS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
