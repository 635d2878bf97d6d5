"""ONNX -> SavedModel/TFLite with onnx2tf, in a process of its own, offline.

Run as `python -m portmodel.convert.onnx2tf_worker REQUEST.json RESULT.json`. A separate
process because `import onnx2tf` switches `tf.keras` to Keras 2 for the whole process.
Offline twice over: every socket connection is refused (and counted, so the report can
prove none happened), and onnx2tf's calibration-image download (it fetches a sample file
from GitHub for fixed-batch image inputs) is replaced by seeded local data.
"""

from __future__ import annotations

import json
import sys
import time

from .offline import ATTEMPTS, block_network

CALIBRATION: list[str] = []  # "local" once onnx2tf asked for its sample images


def local_calibration_data():
    """What onnx2tf would download: 20 images 128x128x3 in [0, 1], seeded."""
    import numpy as np

    CALIBRATION.append("local")
    return np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32)


def convert(request: dict) -> dict:
    from ..loading import quiet_import

    onnx2tf = quiet_import("onnx2tf")  # it imports TensorFlow: quietly (see quiet_import)
    from onnx2tf import onnx2tf as core
    from onnx2tf.utils import common_functions

    core.download_test_image_data = local_calibration_data
    common_functions.download_test_image_data = local_calibration_data
    start = time.perf_counter()
    onnx2tf.convert(
        input_onnx_file_path=request["onnx"],
        output_folder_path=request["out"],
        copy_onnx_input_output_names_to_tflite=True,
        output_signaturedefs=True,
        keep_ncw_or_nchw_or_ncdhw_input_names=request.get("keep_nchw") or None,
        batch_size=request.get("batch_size"),
        keep_shape_absolutely_input_names=request.get("keep_shape") or None,
        replace_to_pseudo_operators=[op.lower() for op in request.get("pseudo_ops", [])] or None,
        non_verbose=True,
    )
    result = {"onnx2tf_seconds": time.perf_counter() - start}
    if request.get("dynamic_int8"):
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_saved_model(request["out"])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: no calibration data needed
        with open(request["dynamic_int8"], "wb") as f:
            f.write(converter.convert())
    return result


def main(argv: list[str]) -> int:
    block_network()
    with open(argv[1]) as f:
        request = json.load(f)
    try:
        result = {"ok": True, **convert(request)}
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which names the stage
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
    except SystemExit as exc:  # onnx2tf calls sys.exit(1) on ops it cannot convert
        result = {"ok": False, "error": f"onnx2tf exited with status {exc.code}"}
    result["network_attempts"] = ATTEMPTS
    result["calibration_data"] = "local (seeded)" if CALIBRATION else "not asked for"
    with open(argv[2], "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
