"""What `convert` starts from: a model it can run (the reference) and export to ONNX.

Sources: `PATH.py:Name` (an `nn.Module` class, or a Keras builder/class) with an optional
checkpoint, a `.pt2` program, a TorchScript archive, a `.keras` file, a TensorFlow
SavedModel folder, or an `.onnx` file. Importing a `.py` file runs it: `convert` is one of
the explicit steps that do. `convert` loads, runs and exports the source in a process of
its own (source_worker); the later stages get a `Source` described by that process and
build the model again only where they need it (`live_model`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import PortmodelError
from ..loading import import_file, load_keras_file, load_state_dict, quiet_import, split_spec
from .onnx_fixes import replace_erfc

# Weights beyond this go to an external data file beside model.onnx (protobuf's limit is 2 GB)
EXTERNAL_DATA_BYTES = 1_800_000_000


@dataclass(frozen=True)
class Origin:
    """What the user gave: enough to load the source again in any process."""

    spec: str
    weights: str | None = None
    input_shape: tuple | None = None
    exporter: str = "dynamo"


@dataclass
class Source:
    kind: str  # "torch" | "keras" | "saved_model" | "onnx"
    path: str
    layout: str  # "channels_first" (torch, ONNX from torch) | "channels_last" (Keras, TF)
    input_names: list[str]
    input_specs: list[tuple[tuple, str]]  # (shape without batch, dtype) per input
    run: Callable[[list[np.ndarray]], list[np.ndarray]] | None  # None where described by another process
    export: Callable[[str], dict] | None  # write ONNX to a path; returns {"exporter": ..., "seconds": ...}
    model: object = None
    notes: list[str] = field(default_factory=list)
    name: str | None = None  # the class or builder in a .py source
    input_shape: tuple | None = None
    origin: Origin | None = None

    def live_model(self):
        """The model itself, loaded in this process on first use where another process
        loaded, ran and exported it (a `.py` source is built with the same seeds there and
        here, so even without --weights both hold the same weights)."""
        if self.model is None:
            o = self.origin
            self.model = load_source(o.spec, o.weights, o.input_shape, o.exporter).model
        return self.model

    def describe(self) -> dict:
        """Everything but the model and its callables, as JSON."""
        keys = ("kind", "path", "layout", "input_names", "input_specs", "notes", "name", "input_shape")
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def described(cls, fields: dict, origin: Origin) -> Source:
        """The Source another process described (`describe`); its model loads on demand."""
        specs = [(tuple(shape), dtype) for shape, dtype in fields["input_specs"]]
        shape = tuple(fields["input_shape"]) if fields["input_shape"] else None
        return cls(**{**fields, "input_specs": specs, "input_shape": shape}, run=None, export=None, origin=origin)

    @property
    def translatable(self) -> bool:
        """PyTorch code portmodel can translate itself (the route around onnx2tf)."""
        return self.kind == "torch" and self.path.endswith(".py")


def load_source(spec: str, weights: str | None, input_shape, exporter: str = "dynamo") -> Source:
    path, name = split_spec(spec)
    p = Path(path)
    if not p.exists():
        raise PortmodelError("file not found", path)
    if p.is_dir():
        if not (p / "saved_model.pb").is_file():
            raise PortmodelError("a folder source must be a TensorFlow SavedModel (no saved_model.pb in it)", path)
        return _saved_model_source(path)
    if path.endswith(".onnx"):
        return _onnx_source(path, input_shape)
    if path.endswith(".keras"):
        return _keras_source(load_keras_file(path), path)
    if path.endswith(".pt2"):
        return _exported_program_source(path, input_shape, exporter)
    if path.endswith((".pt", ".pth", ".torchscript", ".ts")) and name is None:
        return _torchscript_source(path, input_shape)
    if path.endswith(".py") and name:
        return _python_source(path, name, weights, input_shape, exporter)
    raise PortmodelError(
        "expected PATH.py:ClassOrBuilder, a .keras file, a SavedModel folder or an .onnx file", spec
    )


def _python_source(path: str, name: str, weights, input_shape, exporter: str) -> Source:
    """An `nn.Module` class or factory, or a Keras builder/class, from a Python file."""
    import torch

    module = import_file(path)
    obj = getattr(module, name, None)
    if obj is None:
        raise PortmodelError(f"no '{name}' in the file", path)
    # Seeded, so a model built without --weights gets the same initial weights in every
    # process (the source worker's, and the main process's where a stage rebuilds it).
    torch.manual_seed(0)
    if "keras" in sys.modules:  # Keras code (importing Keras only for it: it is slow)
        import keras

        keras.utils.set_random_seed(0)
    try:
        model = obj() if callable(obj) and not isinstance(obj, torch.nn.Module) else obj
    except Exception as exc:  # noqa: BLE001 - user code
        raise PortmodelError(f"calling {name}() failed: {type(exc).__name__}: {exc}", path) from None
    if isinstance(model, torch.nn.Module):
        if weights:
            from ..weights import check_fits

            check_fits(model, load_state_dict(weights), weights)
        if not input_shape:
            raise PortmodelError("a PyTorch source needs --input-shape (torch layout, no batch: 3,224,224)")
        source = _torch_source(model.eval(), path, tuple(input_shape), exporter)
        source.name = name
        return source
    keras = quiet_import("keras")

    from ..loading import _build_subclassed

    if not isinstance(model, keras.Model):
        raise PortmodelError(f"{name} gives neither a torch.nn.Module nor a keras.Model", path)
    _build_subclassed(model, input_shape)
    if weights:
        model.load_weights(weights)
    return _keras_source(model, path, input_shape)


def _torch_source(model, path: str, shape: tuple, exporter: str, dtype: str | None = None) -> Source:
    import torch

    from ..verify import run_torch_source

    if dtype is None:
        first = next((m for m in model.modules() if not list(m.children())), None)
        dtype = "int64" if isinstance(first, torch.nn.Embedding) else "float32"

    def run(inputs):
        return run_torch_source(model, inputs)

    def export(onnx_path: str) -> dict:
        return _export_torch(model, shape, dtype, onnx_path, exporter)

    return Source("torch", path, "channels_first", ["input"], [(shape, dtype)], run, export, model, input_shape=shape)


def _exported_program_source(path: str, input_shape, exporter: str) -> Source:
    """A `torch.export` program (`.pt2`): run as its module; shapes from its example inputs."""
    import torch

    try:
        program = torch.export.load(path)
    except Exception as exc:  # noqa: BLE001
        raise PortmodelError(f"cannot load the ExportedProgram: {type(exc).__name__}: {str(exc)[:200]}", path) from None
    args = (program.example_inputs or ((), {}))[0]
    if len(args) != 1 and not input_shape:
        raise PortmodelError("the program's example inputs are unknown or several; pass --input-shape", path)
    shape = tuple(input_shape) if input_shape else tuple(args[0].shape[1:])
    dtype = str(args[0].dtype).removeprefix("torch.") if args else "float32"
    module = program.module()
    # frozen in the mode it was exported in, and its train()/eval() raise: make them no-ops
    module.train, module.eval = (lambda mode=True: module), (lambda: module)
    source = _torch_source(module, path, shape, exporter, dtype=dtype)
    return source


def _torchscript_source(path: str, input_shape) -> Source:
    """A TorchScript archive (`torch.jit.save`): exported with the TorchScript exporter."""
    import torch

    if not input_shape:
        raise PortmodelError("a TorchScript source needs --input-shape (torch layout, no batch)", path)
    try:
        model = torch.jit.load(path, map_location="cpu").eval()
    except Exception as exc:  # noqa: BLE001 - a state_dict saved as .pt is the usual mistake
        raise PortmodelError(
            f"not a TorchScript archive ({type(exc).__name__}); a state_dict needs its class: "
            "PATH.py:Class --weights FILE", path,
        ) from None
    return _torch_source(model, path, tuple(input_shape), "torchscript")


def _export_torch(model, shape: tuple, dtype: str, onnx_path: str, exporter: str) -> dict:
    """torch.onnx.export with a dynamic batch: the dynamo exporter, the TorchScript one as fallback."""
    import torch

    example = (torch.zeros((2, *shape), dtype=getattr(torch, dtype)),)
    big = sum(p.numel() * p.element_size() for p in model.parameters()) > EXTERNAL_DATA_BYTES
    tried = []
    for dynamo in ((True, False) if exporter == "dynamo" else (False,)):
        start = time.perf_counter()
        try:
            kwargs = (
                {"dynamic_shapes": ({0: torch.export.Dim("batch")},), "external_data": big}
                if dynamo else {"dynamic_axes": {"input": {0: "batch"}}}
            )
            with _quiet():
                torch.onnx.export(
                    model, example, onnx_path, dynamo=dynamo, input_names=["input"], opset_version=18,
                    verbose=False, **kwargs,
                )
            name = "torch.onnx.export (dynamo)" if dynamo else "torch.onnx.export (TorchScript)"
            return {"exporter": name, "seconds": time.perf_counter() - start, "fallback_from": tried}
        except Exception as exc:  # noqa: BLE001 - the exporter's own failure, reported
            tried.append(f"{'dynamo' if dynamo else 'TorchScript'}: {type(exc).__name__}: {str(exc)[:200]}")
    raise PortmodelError("PyTorch -> ONNX failed: " + " | ".join(tried))


@contextlib.contextmanager
def _quiet():
    """The exporters' progress lines and warnings (torchvision ops skipped...) stay out of our output."""
    import io
    import logging
    import warnings

    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _keras_source(model, path: str, input_shape=None) -> Source:
    from ..verify import input_specs, run_keras

    specs = input_specs(model, input_shape)
    if any(None in s for s, _ in specs):
        raise PortmodelError("the Keras model's inputs have dynamic sizes besides the batch", path)

    def run(arrays):
        return run_keras(model, arrays)

    def export(onnx_path: str) -> dict:
        start = time.perf_counter()
        try:
            with _quiet():
                model.export(onnx_path, format="onnx", verbose=False)
        except Exception as exc:  # noqa: BLE001 - tf2onnx's own failure, reported
            raise PortmodelError(f"Keras -> ONNX (keras export, tf2onnx) failed: {type(exc).__name__}: {exc}", path)
        notes = replace_erfc(onnx_path)
        return {"exporter": "keras Model.export(format='onnx') (tf2onnx)", "seconds": time.perf_counter() - start,
                "notes": notes}

    names = [t.name for t in model.inputs] if _has_inputs(model) else ["input"]
    return Source("keras", path, "channels_last", names, specs, run, export, model)


def _has_inputs(model) -> bool:
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError):
        return False


def _saved_model_source(path: str) -> Source:
    tf = quiet_import("tensorflow")

    loaded = tf.saved_model.load(path)
    if "serving_default" not in loaded.signatures:
        raise PortmodelError("the SavedModel has no 'serving_default' signature", path)
    fn = loaded.signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    names = sorted(specs)
    shapes = [(tuple(specs[n].shape[1:]), specs[n].dtype.name) for n in names]
    if any(None in s for s, _ in shapes):
        raise PortmodelError("the SavedModel's inputs have dynamic sizes besides the batch", path)

    def run(arrays):
        out = fn(**{n: tf.constant(a) for n, a in zip(names, arrays)})
        return [out[k].numpy() for k in sorted(out)]

    def export(onnx_path: str) -> dict:
        import tf2onnx
        from keras.src.export.tf2onnx_lib import patch_tf2onnx
        from tf2onnx import tf_loader

        patch_tf2onnx()  # tf2onnx 1.17 still uses numpy 1 names
        start = time.perf_counter()
        try:  # frozen (variables as constants), inputs/outputs renamed to the signature's names
            graph_def, ins, outs, _, rename = tf_loader.from_saved_model(
                path, None, None, signatures=["serving_default"], return_initialized_tables=True,
                return_tensors_to_rename=True,
            )
            with _quiet():
                tf2onnx.convert.from_graph_def(
                    graph_def, input_names=ins, output_names=outs, tensors_to_rename=rename, output_path=onnx_path
                )
        except Exception as exc:  # noqa: BLE001
            raise PortmodelError(f"SavedModel -> ONNX (tf2onnx) failed: {type(exc).__name__}: {exc}", path) from None
        return {"exporter": "tf2onnx (frozen SavedModel signature)", "seconds": time.perf_counter() - start,
                "notes": replace_erfc(onnx_path)}

    return Source("saved_model", path, "channels_last", names, shapes, run, export, loaded)


def _onnx_source(path: str, input_shape) -> Source:
    from .runtimes import onnx_inputs, ort_session

    session = ort_session(path)
    names, specs = onnx_inputs(session, input_shape, path)

    def run(arrays):
        return session.run(None, dict(zip(names, arrays)))

    def export(onnx_path: str) -> dict:
        import shutil

        import onnx

        graph = onnx.load(path, load_external_data=False)
        if not any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.graph.initializer):
            shutil.copyfile(path, onnx_path)
            return {"exporter": "given", "seconds": 0.0}
        # weights in files beside the graph: gathered into model.onnx.data beside the copy
        onnx.save_model(onnx.load(path), onnx_path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(onnx_path) + ".data")
        return {"exporter": "given (external data gathered into one file)", "seconds": 0.0}

    return Source("onnx", path, "as given", names, specs, run, export)


def seeded_inputs(source: Source, seed: int = 0, batch: int = 2) -> list[np.ndarray]:
    """Inputs for every stage: standard normal floats, or small non-negative integer ids."""
    rng = np.random.default_rng(seed)
    out = []
    for shape, dtype in source.input_specs:
        if "int" in dtype:
            out.append(rng.integers(0, 8, size=(batch, *shape)).astype(dtype))
        else:
            out.append(rng.standard_normal((batch, *shape)).astype(dtype))
    return out
