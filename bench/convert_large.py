"""`portmodel convert` on a 2.1 GB PyTorch model (over protobuf's 2 GB limit, so the ONNX
file keeps its weights as external data), to ONNX and PyTorch, against the floor of
holding the model once: building it and writing its state_dict with safetensors.

All runs are child processes in the same run; peak memory is the largest sum of RSS over
each run's process tree (convert runs the source in a worker process of its own).

    .venv/bin/python bench/convert_large.py      # ~10 GB of disk in a temporary folder
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from _measure import measured

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "bench" / "models" / "wide_lm.py"
FLOOR = (
    "import sys, torch; sys.path.insert(0, sys.argv[1]); from wide_lm import WideLM; "
    "from safetensors.torch import save_file; torch.manual_seed(0); m = WideLM(); "
    "save_file({k: v.contiguous() for k, v in m.state_dict().items()}, sys.argv[2])"
)


def main() -> int:
    with tempfile.TemporaryDirectory(dir=ROOT / "out" if (ROOT / "out").is_dir() else None) as tmp:
        floor_wall, floor_peak, _ = measured(
            [sys.executable, "-c", FLOOR, str(MODEL.parent), f"{tmp}/floor.safetensors"], tmp
        )
        size_mb = Path(f"{tmp}/floor.safetensors").stat().st_size / 2**20
        runs = []
        for targets in ("onnx,torch", "onnx,safetensors"):
            out = f"{tmp}/{targets.replace(',', '_')}"
            wall, peak, _ = measured(
                [sys.executable, "-m", "portmodel.cli", "convert", f"{MODEL}:WideLM", "--input-shape", "8",
                 "--to", targets, "-o", out], tmp,
            )
            runs.append((targets, wall, peak, json.loads(Path(f"{out}/report.json").read_text())))
        onnx_files = [f"{p.name} ({p.stat().st_size / 2**20:,.0f} MiB)" for p in sorted(Path(out).iterdir())
                      if p.name.startswith("model.onnx")]
    print(f"model: {MODEL.name}, {size_mb:,.0f} MiB of float32 weights, largest tensor 512 MiB; "
          f"ONNX files: {', '.join(onnx_files)}")
    print("| run | wall s | peak RSS MB (process tree) | peak / model size |")
    print("|---|---|---|---|")
    print(f"| floor: build + safetensors save | {floor_wall:.1f} | {floor_peak:,.0f} | {floor_peak / size_mb:.2f} |")
    for targets, wall, peak, _ in runs:
        print(f"| portmodel convert --to {targets} | {wall:.1f} | {peak:,.0f} | {peak / size_mb:.2f} |")
    for targets, _, _, report in runs:
        for s in report["stages"]:
            worst = max(o["max_abs"] for o in s["outputs"])
            print(f"  --to {targets}, stage {s['name']}: {s['tool']}, {s['seconds']:.1f} s, max abs {worst:.2e}, "
                  f"{'PASS' if s['passed'] else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
