"""The README demo: port the trained Keras digits CNN to PyTorch and compare them.

Runs `portmodel port` (translate + weights + verify), then evaluates both models on the
held-out digits and prints their accuracy and the max abs difference of their logits.
"""

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "out" / "digits"


def main() -> int:
    cmd = [
        sys.executable, "-m", "portmodel.cli", "port", str(HERE / "keras_model.py"),
        "--weights", str(HERE / "digits.keras"), "--inputs", str(HERE / "sample_inputs.npy"),
        "--to", "torch", "-o", str(OUT), "--force",
    ]
    print("$ portmodel " + " ".join(cmd[3:]), flush=True)
    code = subprocess.call(cmd)
    if code != 0:
        return code

    import numpy as np
    import torch

    sys.path.insert(0, str(HERE))
    from data import load_split

    from portmodel.loading import load_keras, load_state_dict, load_torch_module

    _, x_test, _, y_test = load_split()
    keras_model = load_keras(f"{HERE / 'keras_model.py'}:build_model", str(HERE / "digits.keras"))
    torch_model = load_torch_module(f"{OUT / 'model.py'}:DigitsCnn")
    torch_model.load_state_dict(load_state_dict(str(OUT / "model.safetensors")))
    keras_logits = np.asarray(keras_model(x_test, training=False))
    with torch.no_grad():
        torch_logits = torch_model(torch.from_numpy(x_test).permute(0, 3, 1, 2)).numpy()
    keras_acc = float((keras_logits.argmax(1) == y_test).mean())
    torch_acc = float((torch_logits.argmax(1) == y_test).mean())
    print(f"Keras   test accuracy: {keras_acc:.4f}  ({len(y_test)} images)")
    print(f"PyTorch test accuracy: {torch_acc:.4f}")
    print(f"max abs logit difference over the test set: {np.abs(keras_logits - torch_logits).max():.3e}")
    print(f"outputs: {OUT}/model.py, model.safetensors, report.md, report.json")
    return 0 if keras_acc == torch_acc else 1


if __name__ == "__main__":
    sys.exit(main())
