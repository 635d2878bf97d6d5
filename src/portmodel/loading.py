"""Load models for the steps that run them (weights, verify, port).

Importing a user's Python file executes it: only these explicit steps do that, never
`translate`. Checkpoints load safely: Keras with `safe_mode=True`, torch with
`weights_only=True`, unless the user vouches for them (`--trust-checkpoint`, which sets
`TRUST_CHECKPOINTS` for the command).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib
import importlib.util
import os
import re
import sys
import threading
import zipfile
from pathlib import Path

from .core.errors import PortmodelError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_IMPORT_LOCK = threading.Lock()
_FRAMEWORK_IMPORT = re.compile(r"^\s*(?:import|from)\s+(keras|tensorflow)\b", re.MULTILINE)


def quiet_import(name: str):
    """`importlib.import_module(name)` for Keras / TensorFlow and what imports them (onnx2tf,
    tf2onnx): the first import in the process runs with file descriptor 2 sent to /dev/null.

    Why: TensorFlow's C++ runtime logs at start-up (`WARNING: All log messages before
    absl::InitializeLog() ...`, `I0000 ... port.cc:153] oneDNN custom operations are on ...`)
    to stderr before TF_CPP_MIN_LOG_LEVEL takes effect, on machines whose CPU has oneDNN's
    features, and the CLI's errors are one line on stderr. Only the import is muted (what it
    writes to stderr, Python warnings included); an import that fails still raises, with its
    message. Turning oneDNN off instead (TF_ENABLE_ONEDNN_OPTS=0) would change numerical
    results. Every first import of these packages by portmodel goes through here (a user's
    file: see `import_file`); fd 2 is the whole process's, hence the lock.
    """
    with _IMPORT_LOCK:
        if name in sys.modules:
            return importlib.import_module(name)
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
            return importlib.import_module(name)
        finally:
            os.dup2(saved, 2)
            os.close(saved)


# True only where the user asked to unpickle checkpoints (which can run code) they trust
TRUST_CHECKPOINTS: contextvars.ContextVar[bool] = contextvars.ContextVar("trust_checkpoints", default=False)
_UNSAFE_HINT = "; if you trust the file, --trust-checkpoint loads it (unpickling can run code)"


def _trusting(path: str) -> bool:
    if TRUST_CHECKPOINTS.get():
        print(f"portmodel: warning: {path}: loading with --trust-checkpoint (code in the file can run)", file=sys.stderr)
        return True
    return False


def import_file(path: str):
    """Import a Python file as a fresh module (its folder goes first on sys.path); a file of a
    package (its folder has an `__init__.py`) as that package's module, so its relative
    imports hold."""
    p = Path(path)
    if not p.is_file():
        raise PortmodelError("file not found", path)
    from .core.files import package_root

    root, dotted = package_root(p)
    if root is not None:
        return _import_package_module(p, root, dotted)
    name = "portmodel_user_" + hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, p)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(p.parent.resolve()))
    try:
        for framework in _FRAMEWORK_IMPORT.findall(p.read_text(errors="replace")):
            quiet_import(framework)  # first here, not in the user's code (quiet_import says why)
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - report any failure of user code as one line
        raise PortmodelError(f"importing it failed: {type(exc).__name__}: {exc}", path) from None
    finally:
        sys.path.remove(str(p.parent.resolve()))
    return module


def _import_package_module(p: Path, root: Path, dotted: str):
    sys.path.insert(0, str(root))
    try:
        for framework in _FRAMEWORK_IMPORT.findall(p.read_text(errors="replace")):
            quiet_import(framework)
        return importlib.import_module(dotted)
    except Exception as exc:  # noqa: BLE001 - report any failure of user code as one line
        raise PortmodelError(f"importing it failed: {type(exc).__name__}: {exc}", str(p)) from None
    finally:
        sys.path.remove(str(root))


def split_spec(spec: str, framework: str | None = None) -> tuple[str, str | None]:
    """'keras:path.py:name' / 'path.py:name' / 'model.keras' -> (path, name)."""
    if framework and spec.startswith(framework + ":"):
        spec = spec[len(framework) + 1 :]
    path, sep, name = spec.rpartition(":")
    if not sep or not path or "/" in name or name.endswith((".py", ".keras", ".h5")):
        return spec, None
    return path, name


def _build_call(model, shapes: list[tuple], dtype: str, symbolic: bool) -> None:
    """Build `model` by calling it once: on zeros, or on symbolic tensors (no computation, and
    no weight memory inside a `keras.StatelessScope`)."""
    keras = quiet_import("keras")
    import numpy as np

    if symbolic:
        model(*[keras.KerasTensor(s, dtype=dtype) for s in shapes], training=False)
    else:
        model(*[np.zeros(s, dtype=dtype) for s in shapes], training=False)


def _build_subclassed(model, input_shape, symbolic: bool = False):
    if not model.built:
        if not input_shape:
            raise PortmodelError("a subclassed model needs --input-shape to be built")
        _build_call(model, [(1, *input_shape)], "float32", symbolic)
    return model


def keras_custom_objects(module) -> dict:
    keras = quiet_import("keras")

    return {
        k: v
        for k, v in vars(module).items()
        if isinstance(v, type) and issubclass(v, keras.layers.Layer) and v.__module__ == module.__name__
    }


def load_keras(
    spec: str, weights: str | None = None, input_shape=None, source: str | None = None, symbolic: bool = False
):
    """A Keras model from `.keras`, or `PATH.py:builder_or_class` (+ weights file); `symbolic`
    builds a subclassed model on symbolic inputs."""
    keras = quiet_import("keras")

    path, name = split_spec(spec, "keras")
    if path.endswith(".keras") and name is None:
        custom = keras_custom_objects(import_file(source)) if source else {}
        return load_keras_file(path, custom)
    if name is None:
        raise PortmodelError("expected PATH.py:builder_or_class or a .keras file", spec)
    module, model = _construct(path, name, keras.Model)
    if not isinstance(model, keras.Model):
        raise PortmodelError(f"{name} did not give a keras.Model", path)
    _build_subclassed(model, input_shape, symbolic)
    if weights:
        if weights.endswith(".keras"):
            saved = load_keras_file(weights, keras_custom_objects(module))
            try:
                model.set_weights(saved.get_weights())
            except ValueError as exc:
                raise PortmodelError(f"the checkpoint does not fit {name}(): {exc}", weights) from None
        else:
            check_file(weights, (".h5",))
            try:
                model.load_weights(weights)
            except Exception as exc:  # noqa: BLE001
                raise PortmodelError(f"cannot load these weights into {name}: {exc}", weights) from None
    return model


def _construct(path: str, name: str, model_type: type):
    """Import `path` and call `name()` (a model instance already is one): (module, model)."""
    module = import_file(path)
    obj = getattr(module, name, None)
    if obj is None:
        raise PortmodelError(f"no '{name}' in the file", path)
    if isinstance(obj, model_type):
        return module, obj
    try:
        return module, obj()
    except Exception as exc:  # noqa: BLE001 - user code: report any failure as one line
        raise PortmodelError(f"calling {name}() failed: {type(exc).__name__}: {exc}", path) from None


def check_file(path: str, suffixes: tuple[str, ...]) -> None:
    p = Path(path)
    if not p.exists():
        raise PortmodelError("file not found", path)
    if not p.is_file():
        raise PortmodelError("not a file", path)
    if not p.name.endswith(suffixes):
        raise PortmodelError(f"unsupported checkpoint type; expected one of {', '.join(suffixes)}", path)


def load_keras_file(path: str, custom_objects: dict | None = None):
    keras = quiet_import("keras")

    check_file(path, (".keras",))
    if not zipfile.is_zipfile(path):
        raise PortmodelError("not a valid .keras file (corrupt or truncated zip archive)", path)
    trust = _trusting(path)
    try:
        return keras.saving.load_model(path, custom_objects=custom_objects, compile=False, safe_mode=not trust)
    except Exception as exc:  # noqa: BLE001
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = _UNSAFE_HINT if "safe_mode" in msg and not trust else ""
        raise PortmodelError(f"cannot load the Keras model: {msg}{hint}", path) from None


def load_torch_module(spec: str):
    """An `nn.Module` instance from 'torch:PATH.py:Class' (constructed with no arguments)."""
    import torch

    path, name = split_spec(spec, "torch")
    if name is None:
        raise PortmodelError("expected PATH.py:ClassName", spec)
    _, model = _construct(path, name, torch.nn.Module)
    if not isinstance(model, torch.nn.Module):
        raise PortmodelError(f"{name} is not a torch.nn.Module", path)
    return model.eval()


def load_state_dict(path: str) -> dict:
    """A torch state_dict from .safetensors or .pt/.pth (weights_only)."""
    import torch

    check_file(path, (".safetensors", ".pt", ".pth"))
    trust = False
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            return load_file(path)
        trust = _trusting(path)
        sd = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as exc:  # noqa: BLE001
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = "" if trust else _UNSAFE_HINT
        raise PortmodelError(f"cannot read the checkpoint (corrupt or unsafe?): {msg}{hint}", path) from None
    if trust and isinstance(sd, torch.nn.Module):  # `torch.save(model)`: the whole module pickled
        sd = sd.state_dict()
    if not isinstance(sd, dict):
        raise PortmodelError("the file does not hold a state_dict", path)
    return sd


def load_keras_port(spec: str, input_shape, symbolic: bool = False):
    """The Keras port of a PyTorch model (`PATH.py:Class`), built on a zero (or `symbolic`)
    input given in torch's layout (`input_shape`, batch excluded)."""
    keras = quiet_import("keras")

    path, name = split_spec(spec, "keras")
    if name is None:
        raise PortmodelError("expected PATH.py:ClassName", spec)
    _, model = _construct(path, name, keras.Model)
    if not isinstance(model, keras.Model):
        raise PortmodelError(f"{name} did not give a keras.Model", path)
    if not input_shape:
        raise PortmodelError("building the Keras port needs --input-shape")
    shapes = list(input_shape) if isinstance(input_shape[0], tuple | list) else [input_shape]
    shapes = [(1, *s) for s in shapes]
    shapes = [(s[0], *s[2:], s[1]) if len(s) in (4, 5) else s for s in shapes]
    first = model
    dtype = "float32"
    if any(type(layer).__name__ == "Embedding" for layer in model._flatten_layers(include_self=False)):
        first = next(iter(model._flatten_layers(include_self=False)))
        dtype = "int32" if type(first).__name__ == "Embedding" else "float32"
    _build_call(model, shapes, dtype, symbolic)
    return model


@contextlib.contextmanager
def keras_dtype_policy(dtype: str):
    """Build Keras layers with `dtype` variables and computation (the checkpoint's dtype)."""
    keras = quiet_import("keras")

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
