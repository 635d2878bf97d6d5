"""Run each artifact of a conversion on the same inputs: ONNX Runtime (the neutral
reference), a SavedModel, a TFLite file, the generated PyTorch module.

onnx2tf turns channels-first inputs and outputs channels-last; each runner matches an
array to the artifact's declared shape and transposes only when the channels-last
permutation is what fits (the report says when it did).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import PortmodelError


def ort_session(path: str):
    import onnxruntime as ort

    try:
        import onnx

        onnx.checker.check_model(path)
    except Exception as exc:  # noqa: BLE001 - onnx's own message names what is wrong
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PortmodelError(f"not a valid ONNX model (corrupt or truncated?): {msg[:300]}", path) from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        raise PortmodelError(f"ONNX Runtime cannot load the model: {str(exc)[:300]}", path) from None


_ORT_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
              "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(bool)": "bool"}


def onnx_inputs(session, input_shape, path: str) -> tuple[list[str], list[tuple[tuple, str]]]:
    """Input names and (shape without batch, dtype); dynamic sizes come from --input-shape."""
    names, specs = [], []
    for inp in session.get_inputs():
        dims = inp.shape[1:]
        if any(not isinstance(d, int) for d in dims):
            if not input_shape or len(input_shape) != len(dims):
                raise PortmodelError(
                    f"input {inp.name!r} has dynamic sizes {inp.shape}; pass --input-shape (no batch)", path
                )
            dims = input_shape
        names.append(inp.name)
        specs.append((tuple(int(d) for d in dims), _ORT_TYPES.get(inp.type, "float32")))
    return names, specs


def channels_last(arr: np.ndarray) -> np.ndarray:
    return arr.transpose(0, *range(2, arr.ndim), 1)


def channels_first(arr: np.ndarray) -> np.ndarray:
    return arr.transpose(0, arr.ndim - 1, *range(1, arr.ndim - 1))


def fit_input(arr: np.ndarray, shape: tuple) -> np.ndarray:
    """`arr` as an input of declared `shape` (None = dynamic), channels moved last if that fits."""
    def fits(a):
        return len(shape) == a.ndim and all(d is None or d == s for d, s in zip(shape, a.shape))

    if fits(arr):
        return arr
    if arr.ndim >= 3 and fits(channels_last(arr)):
        return np.ascontiguousarray(channels_last(arr))
    raise PortmodelError(f"input of shape {arr.shape} fits neither layout of {shape}")


def align_output(ref: np.ndarray, got: np.ndarray) -> tuple[np.ndarray, bool]:
    """`got` in the reference's layout: (array, transposed back?)."""
    if got.shape == ref.shape:
        return got, False
    if got.ndim >= 3 and channels_first(got).shape == ref.shape:
        return channels_first(got), True
    return got, False


def flex_ops(path: str) -> list[str]:
    """The TensorFlow Select ops a TFLite file needs (custom op codes named Flex*)."""
    import re

    with open(path, "rb") as f:
        data = f.read()
    return sorted({m.decode() for m in re.findall(rb"\x00Flex([A-Za-z0-9_]+)\x00", data)})


def assign(arrays: list[np.ndarray], names: list[str], shapes: dict[str, tuple]) -> dict:
    """Feed each of the artifact's inputs (name -> declared shape): by the source's input
    name where the artifact kept it, else the first unused array that fits the shape
    (in either layout)."""
    feeds, unused = {}, list(range(len(arrays)))
    by_name = {n: i for i, n in enumerate(names)}
    for name, shape in shapes.items():
        stem = name.split(":")[0].removeprefix("serving_default_")
        candidates = [by_name[stem]] if stem in by_name and by_name[stem] in unused else unused
        for i in candidates:
            try:
                feeds[name] = fit_input(arrays[i], shape)
            except PortmodelError:
                continue
            unused.remove(i)
            break
        else:
            raise PortmodelError(f"no input fits the artifact's input {name!r} of shape {shape}")
    return feeds


def _ordered(out: dict, output_names: list[str]) -> list[np.ndarray]:
    keys = output_names if output_names and set(output_names) <= set(out) else sorted(out, key=_natural)
    return [np.asarray(out[k]) for k in keys]


def _natural(name: str) -> tuple:
    digits = "".join(c for c in name if c.isdigit())
    return (int(digits) if digits else -1, name)


def run_saved_model(path: str, arrays, names: list[str], output_names=()) -> list[np.ndarray]:
    from ..loading import quiet_import

    tf = quiet_import("tensorflow")

    fn = tf.saved_model.load(path).signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    feeds = assign(arrays, names, {n: tuple(specs[n].shape) for n in specs})
    # onnx2tf may widen integer ids to float: feed what the signature declares
    out = fn(**{n: tf.constant(a, dtype=specs[n].dtype) for n, a in feeds.items()})
    return _ordered(out, list(output_names))


def run_tflite(path: str, arrays, names: list[str], output_names=()) -> list[np.ndarray]:
    """Run a TFLite file: inputs matched by name (or shape), a dynamic batch resized."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path)
    details = {d["name"]: d for d in interp.get_input_details()}
    shapes = {n: tuple(None if s < 0 else int(s) for s in d["shape_signature"]) for n, d in details.items()}
    feeds = assign(arrays, names, shapes)
    for n, a in feeds.items():
        interp.resize_tensor_input(details[n]["index"], a.shape)
    interp.allocate_tensors()
    for n, a in feeds.items():
        interp.set_tensor(details[n]["index"], a.astype(details[n]["dtype"]))
    interp.invoke()
    out = {d["name"].removeprefix("StatefulPartitionedCall:"): interp.get_tensor(d["index"]).copy()
           for d in interp.get_output_details()}
    if not (output_names and set(output_names) <= set(out)):
        details_order = [d["name"].removeprefix("StatefulPartitionedCall:") for d in interp.get_output_details()]
        return [out[k] for k in sorted(details_order, key=_natural)]
    return _ordered(out, list(output_names))
