"""Streaming weight conversion of a 2.1 GB checkpoint, both ways, against the floor.

The model is `bench/models/wide_lm.py` (537M float32 parameters, largest tensor 512 MiB)
and its Keras port, translated in this run. A seeded random safetensors checkpoint goes
PyTorch -> Keras (`portmodel weights ... -o model.weights.h5`) and back
(`-o back.safetensors`), each command a child process timed (wall) with its peak RSS read
from the OS, and the round trip checked bit for bit. The floor, in the same run: reading
and writing the same tensors with safetensors and no transform
(`save_file(load_file(src), dst)`).

Every command runs twice: on the full model and on the same architecture at toy size. The
toy run's figures are the fixed costs (Python, TensorFlow and PyTorch imports, translation
of nothing, model building); the difference is what the tensors cost, which is what the
issue's aims are about: time within 1.5x the floor's, peak RSS under 1.25x the largest
tensor plus the fixed overhead.

    .venv/bin/python bench/weights.py [--workdir DIR]   # needs ~9 GB of disk
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _measure import measured

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "bench" / "models" / "wide_lm.py"
CONSTANTS = re.compile(r"^VOCAB, DIM, HIDDEN, BLOCKS = .*$", re.MULTILINE)
TOY = "VOCAB, DIM, HIDDEN, BLOCKS = 64, 32, 64, 4"
FLOOR = "import sys; from safetensors.numpy import load_file, save_file; save_file(load_file(sys.argv[1]), sys.argv[2])"


def make_checkpoint(model_py: Path, path: Path) -> int:
    """A seeded random state_dict of WideLM written tensor by tensor; returns the largest tensor's bytes."""
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from portmodel.loading import load_torch_module
    from portmodel.streaming import BLOCK_BYTES, SafetensorsWriter

    with torch.device("meta"):
        state = load_torch_module(f"{model_py}:WideLM").state_dict()
    writer = SafetensorsWriter(path, {k: ("float32", tuple(v.shape)) for k, v in state.items()})
    rng = np.random.default_rng(0)
    for key in state:
        with writer.open(key) as m:
            flat = m.array.reshape(-1)
            step = BLOCK_BYTES // 4
            for a in range(0, flat.size, step):
                flat[a : a + step] = rng.standard_normal(min(step, flat.size - a), dtype=np.float32) * 0.02
                m.release()
    return max(math.prod(t.shape) for t in state.values()) * 4


def same_tensors(a: Path, b: Path) -> bool:
    sys.path.insert(0, str(ROOT / "src"))
    from portmodel.streaming import SafetensorsReader

    ra, rb = SafetensorsReader(str(a)), SafetensorsReader(str(b))
    if {k: v[:2] for k, v in ra.tensors.items()} != {k: v[:2] for k, v in rb.tensors.items()}:
        return False
    for key in ra.tensors:
        with ra.open(key) as x, rb.open(key) as y:
            if not np.array_equal(x.array, y.array):
                return False
    return True


def run_all(work: Path, constants: str) -> dict:
    """Translate, make the checkpoint, and measure floor / to Keras / back for one model size."""
    model = work / "wide_lm.py"
    model.write_text(CONSTANTS.sub(constants, MODEL.read_text()))
    port = work / "wide_lm_keras.py"
    cli = [sys.executable, "-m", "portmodel.cli"]
    subprocess.run([*cli, "translate", str(model), "--to", "keras", "--input-shape", "16", "-o", str(port), "--force"],
                   check=True, capture_output=True)
    src = work / "wide_lm.safetensors"
    largest = make_checkpoint(model, src)
    size = src.stat().st_size
    floor = measured([sys.executable, "-c", FLOOR, str(src), str(work / "floor.safetensors")], str(work))
    (work / "floor.safetensors").unlink()
    h5 = work / "model.weights.h5"
    to_keras = measured([*cli, "weights", str(src), "--to", "keras", "--source", f"torch:{model}:WideLM",
                         "--model", f"{port}:WideLM", "--input-shape", "16", "-o", str(h5), "--force"], str(work))
    back = work / "back.safetensors"
    to_torch = measured([*cli, "weights", str(h5), "--source", f"keras:{port}:WideLM", "--input-shape", "16",
                         "--model", f"{model}:WideLM", "-o", str(back), "--force"], str(work))
    exact = same_tensors(src, back)
    for p in (src, h5, back):
        p.unlink()
    return {"size": size, "largest": largest, "floor": floor, "to_keras": to_keras, "to_torch": to_torch, "exact": exact}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", help="folder for the checkpoints (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        toy = run_all(Path(tmp), TOY)
        full = run_all(Path(tmp), CONSTANTS.search(MODEL.read_text()).group(0))
    mb = 1 << 20
    print(f"checkpoint: {full['size'] / mb:,.0f} MiB, largest tensor {full['largest'] / mb:,.0f} MiB "
          f"(toy model: {toy['size'] / 1024:,.0f} KiB); round trip bit-exact: {full['exact'] and toy['exact']}")
    print("| run | wall s | wall s, toy | tensor time s | vs floor | peak RSS MB | toy MB | RSS over fixed / largest tensor |")
    print("|---|---|---|---|---|---|---|---|")
    floor_time = full["floor"][0] - toy["floor"][0]
    for name, key in (("floor: safetensors load_file + save_file", "floor"),
                      ("PyTorch safetensors -> Keras .weights.h5", "to_keras"),
                      ("Keras .weights.h5 -> PyTorch safetensors", "to_torch")):
        (wall, peak, _), (twall, tpeak, _) = full[key], toy[key]
        tensor_time = wall - twall
        over = (peak - tpeak) * mb / full["largest"]
        print(f"| {name} | {wall:.1f} | {twall:.1f} | {tensor_time:.1f} | {tensor_time / floor_time:.2f}x "
              f"| {peak:,.0f} | {tpeak:,.0f} | {over:.2f}x |")
    return 0 if full["exact"] and toy["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
