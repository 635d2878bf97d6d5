"""`portmodel convert` on a ResNet-18-sized PyTorch model, against calling onnx2tf directly
and against portmodel's own translation path (`port --to keras`), all in the same run.

Each runs as a child process, one after the other; wall time and peak RSS (the largest
process, onnx2tf's worker included) come from the OS. `convert` here is export + ONNX
Runtime check + onnx2tf (its offline worker) + a check of the SavedModel and the TFLite
file; the baseline is torch.onnx.export + onnx2tf.convert + one check of its SavedModel.

    bash scripts/setup              # the convert stack (onnx2tf...) is installed with it
    .venv/bin/python bench/convert.py [--to keras]

`--to keras` adds, in the same run, the ONNX graph written as Keras 3 source by
`portmodel.onnx_keras` (`convert model.onnx --to keras`: model_keras.py + model.weights.h5 +
model.keras, checked against ONNX Runtime), beside onnx2tf's path to TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _measure import measured

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "bench" / "models" / "resnet18.py"
SHAPE = "3,224,224"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", choices=["tflite", "keras"], default="tflite",
                        help="keras: also time ONNX -> Keras 3 source (onnx_keras)")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "portmodel.cli"]
    keras_row = None
    with tempfile.TemporaryDirectory() as tmp:
        conv_wall, conv_peak, _ = measured(
            [*cli, "convert", f"{MODEL}:ResNet18", "--input-shape", SHAPE, "--to", "saved_model,tflite",
             "-o", f"{tmp}/convert"], tmp,
        )
        report = json.loads(Path(f"{tmp}/convert/report.json").read_text())
        stages = {s["name"]: s for s in report["stages"]}
        conv_err = max(o["max_abs"] for s in stages.values() for o in s["outputs"])
        base_wall, base_peak, out = measured(
            [sys.executable, str(ROOT / "bench" / "_onnx2tf_baseline.py"), str(MODEL), "ResNet18", SHAPE, tmp], tmp
        )
        base = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
        port_wall, port_peak, _ = measured(
            [*cli, "port", str(MODEL), "--input-shape", SHAPE, "--to", "keras", "-o", f"{tmp}/port"], tmp
        )
        port_err = json.loads(Path(f"{tmp}/port/report.json").read_text())["verify"][0]["outputs"][0]["max_abs"]
        if args.to == "keras":
            keras_row = _onnx_keras(cli, tmp)
    print(f"model: {MODEL.name} (11.7M parameters), input {SHAPE}")
    print("| path | wall s | peak RSS MB | max abs vs PyTorch |")
    print("|---|---|---|---|")
    print(f"| portmodel convert --to saved_model,tflite (every stage checked) | {conv_wall:.1f} | {conv_peak:.0f} | {conv_err:.2e} |")
    print(f"| torch.onnx.export + onnx2tf.convert (one check) | {base_wall:.1f} | {base_peak:.0f} | {base['max_abs']:.2e} |")
    print(f"| portmodel port --to keras (translation + weights + verify) | {port_wall:.1f} | {port_peak:.0f} | {port_err:.2e} |")
    if keras_row:
        print("| portmodel convert model.onnx --to keras (onnx_keras, checked; max abs vs ONNX Runtime) | "
              f"{keras_row[0]:.1f} | {keras_row[1]:.0f} | {keras_row[2]:.2e} |")
    for name, s in stages.items():
        print(f"  convert, stage {name}: {s['tool']}, {s['seconds']:.1f} s")
    print(f"  baseline: export {base['export_s']:.1f} s (TorchScript, batch fixed to 1), onnx2tf {base['convert_s']:.1f} s")
    print(f"ratio: convert / onnx2tf directly = {conv_wall / base_wall:.2f}x wall, {conv_peak / base_peak:.2f}x peak RSS")
    print(f"ratio: convert / translation path = {conv_wall / port_wall:.1f}x wall, {conv_peak / port_peak:.1f}x peak RSS")
    return 0


def _onnx_keras(cli: list[str], tmp: str) -> tuple[float, float, float]:
    """The model's ONNX graph (written by convert, not timed) to Keras 3 source: (wall s, peak MB, max abs)."""
    measured([*cli, "convert", f"{MODEL}:ResNet18", "--input-shape", SHAPE, "--to", "onnx", "-o", f"{tmp}/onnx"], tmp)
    wall, peak, _ = measured([*cli, "convert", f"{tmp}/onnx/model.onnx", "--to", "keras", "-o", f"{tmp}/keras"], tmp)
    stages = json.loads(Path(f"{tmp}/keras/report.json").read_text())["stages"]
    return wall, peak, max(o["max_abs"] for s in stages if s["name"] == "keras" for o in s["outputs"])


if __name__ == "__main__":
    sys.exit(main())
