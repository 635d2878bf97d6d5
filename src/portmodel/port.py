"""`port`: translate + weights + verify in one step, with a report.

All outputs are produced in a temporary folder and moved into place only when every
step has run, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from .core.errors import PortmodelError
from .core.fsutil import write_text
from .loading import load_keras, load_torch_module
from .report import write_reports
from .translate import TranslationResult, translate_source
from .verify import load_inputs, make_inputs, verify
from .weights import save_state_dict, transfer

OUTPUTS = ("model.py", "model.safetensors", "report.json", "report.md")
KERAS_OUTPUTS = ("model.py", "model.weights.h5", "report.json", "report.md")


def read_source(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise PortmodelError("file not found" if not p.exists() else "not a file", path)
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PortmodelError(f"not UTF-8 text (byte {exc.start}); re-encode it as UTF-8", path) from None


def pick_model(result: TranslationResult, name: str | None, framework: str = "Keras"):
    if not result.models:
        raise PortmodelError(f"no {framework} model found to port", result.path)
    if name is None:
        if len(result.models) > 1:
            names = ", ".join(m.source for m in result.models)
            raise PortmodelError(f"several models ({names}); choose one with --model", result.path)
        return result.models[0]
    for m in result.models:
        if name in (m.source, m.target):
            return m
    raise PortmodelError(f"no model named '{name}' (found: {', '.join(m.source for m in result.models)})", result.path)


def port(
    src: str,
    out_dir: str,
    *,
    weights: str | None = None,
    model: str | None = None,
    input_shape=None,
    devices=("cpu",),
    atol: float = 1e-5,
    rtol: float = 0.0,
    force: bool = False,
    per_layer: bool = True,
    inputs_path: str | None = None,
) -> dict:
    """Port a Keras source file (and checkpoint) to PyTorch; returns the report dict."""
    import torch

    from .weights import float_dtype

    out = Path(out_dir)
    existing = [str(out / n) for n in OUTPUTS if (out / n).exists()]
    if existing and not force:
        raise PortmodelError("output exists; pass --force to overwrite it", existing[0])
    result = translate_source(read_source(src), src, input_shape=input_shape)
    info = pick_model(result, model)
    _refuse_todos(result, src)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".portmodel-", dir=out.parent) as tmp:
        model_py = os.path.join(tmp, "model.py")
        write_text(model_py, result.code)
        keras_model = load_keras(f"{src}:{info.source}", weights, input_shape)
        torch_model = load_torch_module(f"{model_py}:{info.target}")
        state = transfer(keras_model, torch_model)
        dtype = float_dtype(state)
        if dtype and dtype != "float32":  # a float16/bfloat16/float64 Keras model: keep its dtype
            torch_model.to(getattr(torch, dtype))
        torch_model.load_state_dict(state, strict=True)
        save_state_dict(state, os.path.join(tmp, "model.safetensors"))
        if inputs_path:
            inputs = load_inputs(inputs_path, keras_model, input_shape)
        else:
            inputs = make_inputs(keras_model, input_shape)
        results = verify(keras_model, torch_model, inputs, devices=devices, atol=atol, rtol=rtol, layers=per_layer)
        weights_info = {"output": str(out / "model.safetensors"), "tensors": len(state), "from": weights}
        report = _report(src, info, result, out, results, inputs, inputs_path, atol, rtol, weights_info)
        _publish(report, tmp, out, OUTPUTS)
    return report


def _report(
    src, info, result, out: Path, results, inputs, inputs_path, atol, rtol, weights_info, direction=None, **extra
) -> dict:
    """The report of one port (report.json as it is written; report.md renders it)."""
    return {
        "source": src,
        **({"direction": direction} if direction else {}),
        "model": asdict(info),
        "atol": atol,
        "rtol": rtol,
        "passed": all(r.passed for r in results),
        "translation": {
            "source": src,
            "output": str(out / "model.py"),
            "models": [asdict(m) for m in result.models],
            "todos": [d.format() for d in result.todos],
        },
        "weights": weights_info,
        **extra,
        "verify": [r.to_dict() for r in results],
        "inputs": {
            "from": inputs_path or "seeded standard normal / token ids (seed 0)",
            "arrays": [{"shape": list(a.shape), "dtype": str(a.dtype)} for a in inputs],
        },
    }


def _publish(report: dict, tmp: str, out: Path, names) -> None:
    """Write the reports, then move every output from the temporary folder into place."""
    write_reports(report, os.path.join(tmp, "report.json"), os.path.join(tmp, "report.md"))
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        os.replace(os.path.join(tmp, name), out / name)
    shutil.rmtree(out / "__pycache__", ignore_errors=True)


def _save_keras_file(keras_model, model_py: str, path: str, inputs) -> dict:
    """`model.keras` when the model is serialisable: saved, reloaded (safe_mode) and checked
    to compute the same outputs; otherwise the reason, for the report."""
    import numpy as np

    from .loading import import_file, keras_custom_objects, load_keras_file
    from .verify import run_keras_port

    try:
        keras_model.save(path)
        again = load_keras_file(path, keras_custom_objects(import_file(model_py)))
        same = all(np.array_equal(a, b) for a, b in zip(run_keras_port(keras_model, inputs), run_keras_port(again, inputs)))
    except Exception as exc:  # noqa: BLE001 - not serialisable: the weights file is the output
        if os.path.exists(path):
            os.remove(path)
        reason = str(exc).splitlines()[0][:200] if str(exc) else "get_config() is not implemented"
        return {"written": False, "reason": f"{type(exc).__name__}: {reason} (constructor arguments must be "
                "serialisable: numbers, strings, tuples)"}
    if not same:
        os.remove(path)
        return {"written": False, "reason": "the reloaded .keras model computes different outputs"}
    return {"written": True}


def _refuse_todos(result: TranslationResult, src: str) -> None:
    if result.todos:
        first = result.todos[0]
        more = f" (and {len(result.todos) - 1} more)" if len(result.todos) > 1 else ""
        raise PortmodelError(
            f"cannot port: line {first.line}: {first.message}{more}; "
            "run `portmodel translate` to see every TODO",
            src,
        )


def port_to_keras(
    src: str,
    out_dir: str,
    *,
    weights: str | None = None,
    model: str | None = None,
    input_shape=None,
    devices=("cpu",),
    atol: float = 1e-5,
    rtol: float = 0.0,
    force: bool = False,
    inputs_path: str | None = None,
    dtype: str | None = None,
) -> dict:
    """Port a PyTorch source file (and state_dict) to Keras 3; returns the report dict.

    A file of a package is ported with the package modules of model
    code it imports: they are written beside `model.py` as a package of their own
    (`torchvision_keras/...`), and `model.py` imports the model from it.

    Without `weights` the source model keeps the weights its constructor gives it (seeded),
    which still proves the translation computes the same function. The Keras port is built
    in the checkpoint's dtype (float16/bfloat16/float64 stay so); `dtype` casts, and the
    report says so.
    """
    import torch

    from .loading import keras_dtype_policy, load_keras_port, load_state_dict
    from .verify import make_torch_inputs, verify_torch_source
    from .weights import check_fits, float_dtype, transfer_to_keras

    out = Path(out_dir)
    existing = [str(out / n) for n in (*KERAS_OUTPUTS, "model.keras") if (out / n).exists()]
    if existing and not force:
        raise PortmodelError("output exists; pass --force to overwrite it", existing[0])
    if not input_shape:
        raise PortmodelError("porting PyTorch code needs --input-shape (torch layout, no batch: 3,32,32)")
    packaged = _in_package(src)
    if packaged:
        from .rulebook import load_rules
        from .torch_to_keras.package import write_port

        staging = tempfile.mkdtemp(prefix=".portmodel-pkg-")
        result, port_module, _ = write_port(src, staging, load_rules())
    else:
        result = translate_source(read_source(src), src, input_shape=input_shape, to="keras")
    info = pick_model(result, model, "PyTorch")
    _refuse_todos(result, src)
    torch.manual_seed(0)
    torch_model = load_torch_module(f"{src}:{info.source}")
    source_dtype = "float32"
    if weights:
        state = load_state_dict(weights)
        source_dtype = float_dtype(state, weights) or "float32"
        torch_model.to(getattr(torch, source_dtype))  # load without casting
        check_fits(torch_model, state, weights)
    target_dtype = dtype or source_dtype
    cast = None if target_dtype == source_dtype else f"{source_dtype} -> {target_dtype}"
    torch_model.to(getattr(torch, target_dtype))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".portmodel-", dir=out.parent) as tmp:
        model_py = os.path.join(tmp, "model.py")
        if packaged:
            package = port_module.split(".")[0]
            shutil.copytree(os.path.join(staging, package), os.path.join(tmp, package))
            shutil.rmtree(staging, ignore_errors=True)
            write_text(model_py, f'"""The Keras port of {src} (portmodel): the model from its translated '
                                 f'package."""\n\nfrom {port_module} import {info.target}  # noqa: F401\n')
        else:
            write_text(model_py, result.code)
        try:
            with keras_dtype_policy(target_dtype):
                keras_model = load_keras_port(f"{model_py}:{info.target}", input_shape)
        except PortmodelError:
            raise
        except Exception as exc:  # noqa: BLE001 - the backend lacks a kernel for this dtype, or the shape
            msg = " ".join(str(exc).split())[:200]
            if target_dtype == "float32":
                raise PortmodelError(
                    f"the Keras port does not run on an input of shape {tuple(input_shape)} "
                    f"({type(exc).__name__}: {msg}); check --input-shape (torch's layout, no batch)", src,
                ) from None
            raise PortmodelError(
                f"Keras cannot build this model in {target_dtype} ({type(exc).__name__}: {msg}); "
                "pass --dtype float32 to cast the weights", src,
            ) from None
        transfer_to_keras(torch_model, keras_model)
        keras_model.save_weights(os.path.join(tmp, "model.weights.h5"))
        if inputs_path:
            from .verify import load_array_inputs

            inputs = load_array_inputs(inputs_path, input_shape)
        else:
            inputs = make_torch_inputs(torch_model, input_shape)
        results = verify_torch_source(
            torch_model, keras_model, inputs, devices=devices, atol=atol, rtol=rtol, layers=True
        )
        if target_dtype == "float32":
            keras_file = _save_keras_file(keras_model, model_py, os.path.join(tmp, "model.keras"), inputs)
        else:
            keras_file = {"written": False, "reason": (
                f"a {target_dtype} model's .keras file would reload as float32 (Keras rebuilds the layers "
                f"under the global dtype policy); model.weights.h5 keeps {target_dtype}")}
        weights_info = {
            "output": str(out / "model.weights.h5"), "tensors": len(keras_model.weights), "from": weights,
            "dtype": target_dtype, "cast": cast,
        }
        keras_info = {**keras_file, "output": str(out / "model.keras")} if keras_file["written"] else keras_file
        report = _report(
            src, info, result, out, results, inputs, inputs_path, atol, rtol, weights_info,
            direction="PyTorch -> Keras", keras_file=keras_info,
        )
        extra = ("model.keras",) if keras_file["written"] else ()
        if packaged:
            extra += (port_module.split(".")[0],)
            shutil.rmtree(out / port_module.split(".")[0], ignore_errors=True)
        _publish(report, tmp, out, KERAS_OUTPUTS + extra)
    return report


def _in_package(path: str) -> bool:
    from .core.files import package_root

    return package_root(Path(path))[0] is not None
