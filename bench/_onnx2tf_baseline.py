"""The baseline of bench/port.py, run in its own process: PyTorch -> ONNX -> onnx2tf.

Importing onnx2tf switches tf.keras to Keras 2 for the whole process, hence a process of
its own. Network access is refused (onnx2tf downloads a calibration file unless one is in
the working folder: a seeded one is written there first). Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path


def _no_network(*_a, **_k):
    raise OSError("network access is disabled in this benchmark")


def main(model_py: str, cls: str, shape: str, work: str) -> None:
    socket.socket.connect = _no_network  # type: ignore[method-assign]
    socket.create_connection = _no_network  # type: ignore[assignment]
    import numpy as np
    import torch

    sys.path.insert(0, str(Path(model_py).parent))
    module = __import__(Path(model_py).stem)
    torch.manual_seed(0)
    model = getattr(module, cls)().eval()
    dims = tuple(int(v) for v in shape.split(","))
    x = np.random.default_rng(0).standard_normal((1, *dims)).astype("float32")
    os.chdir(work)
    np.save("calibration_image_sample_data_20x128x128x3_float32.npy",
            np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32))
    t0 = time.perf_counter()
    torch.onnx.export(model, (torch.from_numpy(x),), "model.onnx", opset_version=17, dynamo=False,
                      input_names=["x"], output_names=["y"])
    t1 = time.perf_counter()
    import onnx2tf

    onnx2tf.convert(input_onnx_file_path="model.onnx", output_folder_path="saved_model", non_verbose=True)
    t2 = time.perf_counter()
    import tensorflow as tf

    loaded = tf.saved_model.load("saved_model")
    fn = loaded.signatures["serving_default"]
    out = next(iter(fn(tf.constant(x.transpose(0, 2, 3, 1))).values())).numpy()
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    print(json.dumps({"export_s": t1 - t0, "convert_s": t2 - t1, "max_abs": float(np.abs(out - ref).max()),
                      "scale": float(np.abs(ref).max())}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
