"""The source's own process: load it, run it on the inputs, export it to ONNX, offline.

Run as `python -m portmodel.convert.source_worker REQUEST.json RESULT.json`. The source
model lives only here, so the later stages (ONNX Runtime's copy of the weights, the
converted PyTorch state_dict) never share a process with it: a 2 GB checkpoint costs
about its size per stage, not the sum of all. Writes `arrays` (an .npz of the inputs and
the source's outputs) and the ONNX file; the result names the source's kind, layout and
inputs, the exporter, and every network attempt (all refused).
"""

from __future__ import annotations

import json
import sys

from .offline import ATTEMPTS, block_network


def run(request: dict) -> dict:
    import numpy as np

    from . import sources

    sources.EXTERNAL_DATA_BYTES = request["external_data_bytes"]
    origin = sources.Origin(request["spec"], request["weights"], _shape(request["input_shape"]), request["exporter"])
    source = sources.load_source(origin.spec, origin.weights, origin.input_shape, origin.exporter)
    inputs = reference_inputs(source, request["inputs_path"], request["seed"])
    ref = [np.asarray(r) for r in source.run(inputs)]
    np.savez(request["arrays"], **{f"input_{i}": a for i, a in enumerate(inputs)},
             **{f"output_{i}": r for i, r in enumerate(ref)})
    exported = source.export(request["onnx"])
    return {"source": source.describe(), "export": exported}


def reference_inputs(source, inputs_path: str | None, seed: int) -> list:
    """The arrays every stage runs on: the user's `.npy`/`.npz`, or seeded ones."""
    from .sources import seeded_inputs

    if not inputs_path:
        return seeded_inputs(source, seed)
    from ..verify import load_array_inputs

    return load_array_inputs(inputs_path, None, source.input_specs)


def _shape(shape):
    return tuple(shape) if shape else None


def main(argv: list[str]) -> int:
    from ..core.errors import PortmodelError

    block_network()
    with open(argv[1]) as f:
        request = json.load(f)
    try:
        result = {"ok": True, **run(request)}
    except PortmodelError as exc:  # the user-facing error, raised again by the parent
        result = {"ok": False, "error": {"message": exc.args[0], "path": exc.path, "line": exc.line}}
    result["network_attempts"] = ATTEMPTS
    with open(argv[2], "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
