"""The Python API: what the command line does, for notebooks and scripts (docs/api.md).

Every function returns a result object (a dataclass) and raises `PortmodelError` (naming
the file and line where there is one) on bad input; none prints or exits. The command line
(`portmodel.cli`) is a layer over these functions that prints their results.

- files and source text: `translate`, `lint`, `port`, `verify`, `convert`
- live objects: `to_keras(nn.Module instance, *example_inputs)`,
  `to_torch(Keras model, *example_inputs)`

Imports of torch, Keras and libcst happen inside the functions, so that `import portmodel`
stays cheap.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import keyword
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.errors import PortmodelError
from .core.identifiers import unique
from .core.result import ModelInfo, TranslationResult

__all__ = [
    "ConvertResult", "LintResult", "ModelPort", "PortResult", "PortmodelError", "TranslationResult",
    "VerifyReport", "WeightsResult", "convert", "lint", "port", "to_keras", "to_torch", "transfer_weights", "translate",
    "translate_many", "verify",
]

PathLike = str | os.PathLike


@contextlib.contextmanager
def _trust(trust_checkpoint: bool) -> Iterator[None]:
    from .loading import TRUST_CHECKPOINTS

    token = TRUST_CHECKPOINTS.set(trust_checkpoint)
    try:
        yield
    finally:
        TRUST_CHECKPOINTS.reset(token)


# -- translate --------------------------------------------------------------------------------


def _is_path(source_or_path: PathLike) -> bool:
    """A path (os.PathLike, or a one-line string naming a file or ending in .py/.ipynb), or
    source text (anything else)."""
    if isinstance(source_or_path, os.PathLike):
        return True
    text = str(source_or_path)
    if "\n" in text or not text.strip():
        return False
    return text.endswith((".py", ".ipynb")) or Path(text).is_file()


def translate(
    source_or_path: PathLike,
    *,
    to: str | None = None,
    input_shape: Sequence[int] | None = None,
    path: str | None = None,
    engine: str | None = None,
) -> TranslationResult:
    """Translate a file (a path: .py or .ipynb) or source text to the other framework.

    `to`: "torch" or "keras" (default: away from the framework the code imports);
    `input_shape`: the source layout without the batch, where the code does not state it;
    `path`: the name diagnostics give source text (default "<string>"); `engine`, Keras ->
    PyTorch: "auto" (None: the first engine, or the code-directed one where it ports more of
    the file), "first" or "code" (docs/keras_to_torch.md).
    Returns a `TranslationResult`: `.code` (what `portmodel translate -o` writes: the input
    unchanged where nothing was translated, a notebook's JSON for a notebook),
    `.diagnostics` (TODOs with positions), `.models`, `.status`. Static: the code is never run.
    """
    if to not in (None, "torch", "keras"):
        raise PortmodelError(f"to must be 'torch' or 'keras', got {to!r}")
    shape = tuple(input_shape) if input_shape else None
    if _is_path(source_or_path):
        from .tree import _translate_one  # what `portmodel translate` runs per file, errors raised

        name = os.fspath(source_or_path)
        o = _translate_one(name, shape, to, engine=engine)
        return TranslationResult(name, o.status, o.code, list(o.diagnostics), list(o.models), translated=o.layers)
    from .translate import translate_source

    text = str(source_or_path)
    res = translate_source(text, path or "<string>", input_shape=shape, to=to, engine=engine)
    if res.status == "unchanged" or res.code is None:
        res.code = text
    return res


def translate_many(
    paths: Sequence[PathLike],
    *,
    to: str | None = None,
    input_shape: Sequence[int] | None = None,
    jobs: int | None = None,
    engine: str | None = None,
    progress: bool = False,
) -> list:
    """Translate many files as `portmodel translate` does (one run: a package's files resolve
    each other), in `jobs` processes; nothing is written. Returns one outcome per file, in
    order (`.path`, `.status`, `.code`, `.diagnostics`, `.error` where the file failed)."""
    from .tree import translate_many as run

    shape = tuple(input_shape) if input_shape else None
    return run([os.fspath(p) for p in paths], shape, jobs, progress=progress, to=to, engine=engine)


# -- lint -------------------------------------------------------------------------------------


@dataclass
class LintResult:
    """Lint results, one `FileLint` per file (`.findings`, `.fixed`, `.error`)."""

    files: list = field(default_factory=list)

    @property
    def findings(self) -> list:
        return [f for r in self.files for f in r.findings]

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.files if r.error]

    @property
    def fixed(self) -> int:
        return sum(r.fixed for r in self.files)

    def statistics(self) -> list[dict]:
        """Findings per rule code, most frequent first (as `ruff check --statistics`):
        `{"code", "name", "count", "fixable"}`."""
        from .lint import CHECKS

        counts: dict[str, list] = {}
        for f in self.findings:
            row = counts.setdefault(f.code, [0, False])
            row[0] += 1
            row[1] = row[1] or f.replace is not None
        return [
            {"code": code, "name": CHECKS[code].name if code in CHECKS else "", "count": n, "fixable": fixable}
            for code, (n, fixable) in sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
        ]

    def render(self, fmt: str = "text") -> str:
        """The findings as `portmodel lint --format` prints them: text, json, sarif, github."""
        from .lint.output import render

        return render(self.files, fmt)


def _codes(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return [c.strip() for c in items if c.strip()]


def lint(
    paths: PathLike | Sequence[PathLike],
    *,
    fix: bool = False,
    unsafe_fixes: bool = False,
    config: PathLike | None = None,
    source: str | None = None,
    select: str | Sequence[str] | None = None,
    ignore: str | Sequence[str] | None = None,
    extend_select: str | Sequence[str] | None = None,
) -> LintResult:
    """Lint files and folders (or source text: a string with a newline), as `portmodel lint`.

    `config`: the folder or file to find pyproject.toml's `[tool.portmodel]` from (default:
    the current folder); `source`: the framework migrated from (overrides the config's
    `from`); `select` / `ignore` / `extend_select`: rule codes or prefixes, a list or
    comma-separated, applied over the config as ruff applies its command line (`select`
    replaces the config's selection, `extend_select` adds, `ignore` removes).
    `fix` / `unsafe_fixes` rewrite the files. A file that fails is the result's `errors`.
    """
    from .core.config import load_config
    from .core.files import discover
    from .lint import CHECKS
    from .lint.run import FileLint, lint_file, lint_source

    cfg = load_config(config or ".")
    if source:
        cfg.source = source
    cfg.select_rules(_codes(select), _codes(ignore), _codes(extend_select), CHECKS)
    if isinstance(paths, str) and "\n" in paths:
        findings, _ = lint_source(paths, "<string>", cfg)
        return LintResult([FileLint("<string>", findings)])
    names = [os.fspath(paths)] if isinstance(paths, str | os.PathLike) else [os.fspath(p) for p in paths]
    files = discover(names, cfg)
    return LintResult([lint_file(f, cfg, fix=fix or unsafe_fixes, unsafe=unsafe_fixes) for f in files])


# -- verify -----------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """One `VerifyResult` per device: `.outputs` (max abs / max rel per output), `.layers`."""

    results: list

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for r in self.results for o in r.outputs), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((o.max_rel for r in self.results for o in r.outputs), default=0.0)

    def to_dict(self) -> list[dict]:
        return [r.to_dict() for r in self.results]


def verify(
    source: str,
    target: str,
    *,
    weights: str | None = None,
    target_weights: str | None = None,
    input_shape: Sequence[int] | None = None,
    inputs: str | None = None,
    device: str = "cpu",
    atol: float = 1e-5,
    rtol: float = 0.0,
    per_layer: bool = False,
    seed: int = 0,
    trust_checkpoint: bool = False,
) -> VerifyReport:
    """Run a source model and its port on the same inputs, as `portmodel verify`.

    `source`: `keras:PATH.py:builder_or_class`, a `.keras` file, or `torch:PATH.py:Class`;
    `target`: the port (`torch:PATH.py:Class` / `keras:PATH.py:Class`); `inputs`: a .npy/.npz
    file (default: seeded inputs); `device`: cpu, cuda or all."""
    from .verify import resolve_devices

    shape = tuple(input_shape) if input_shape else None
    with _trust(trust_checkpoint):
        if source.startswith("torch:"):
            return VerifyReport(_verify_torch_source(source, target, weights, target_weights, shape, inputs,
                                                     resolve_devices(device), atol, rtol, per_layer, seed))
        from .loading import load_keras, load_state_dict, load_torch_module
        from .verify import load_inputs, make_inputs
        from .verify import verify as run_verify
        from .weights import check_fits, transfer

        keras_model = load_keras(source, weights, shape)
        torch_model = load_torch_module(target)
        if target_weights:
            check_fits(torch_model, load_state_dict(target_weights), target_weights)
        else:
            torch_model.load_state_dict(transfer(keras_model, torch_model), strict=True)
        arrays = load_inputs(inputs, keras_model, shape) if inputs else make_inputs(keras_model, shape, seed=seed)
        return VerifyReport(run_verify(keras_model, torch_model, arrays, devices=resolve_devices(device),
                                       atol=atol, rtol=rtol, layers=per_layer))


def _verify_torch_source(source, target, weights, target_weights, shape, inputs, devices, atol, rtol, per_layer,
                         seed) -> list:
    """A PyTorch model (the source) against its Keras port."""
    import torch

    from .loading import load_keras_port, load_state_dict, load_torch_module
    from .verify import load_array_inputs, make_torch_inputs, verify_torch_source
    from .weights import check_fits, transfer_to_keras

    torch.manual_seed(seed)
    torch_model = load_torch_module(source)
    if weights:
        check_fits(torch_model, load_state_dict(weights), weights)
    keras_model = load_keras_port(target, shape)
    if target_weights:
        keras_model.load_weights(target_weights)
    else:
        transfer_to_keras(torch_model, keras_model)
    arrays = load_array_inputs(inputs, shape) if inputs else make_torch_inputs(torch_model, shape, seed=seed)
    return verify_torch_source(torch_model, keras_model, arrays, devices=devices, atol=atol, rtol=rtol,
                               layers=per_layer)


# -- port and convert -------------------------------------------------------------------------


@dataclass
class PortResult:
    """What `port` wrote to `out_dir` (model.py, weights, report.md, report.json) and its
    report (`report.json` as a dict)."""

    out_dir: str
    report: dict

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])

    @property
    def max_abs(self) -> float:
        return max((o["max_abs"] for r in self.report["verify"] for o in r["outputs"]), default=0.0)

    @property
    def markdown(self) -> str:
        from .report import render_markdown

        return render_markdown(self.report)


def port(
    src: PathLike,
    out_dir: PathLike,
    *,
    to: str | None = None,
    weights: str | None = None,
    model: str | None = None,
    input_shape: Sequence[int] | None = None,
    device: str = "cpu",
    atol: float = 1e-5,
    rtol: float = 0.0,
    force: bool = False,
    inputs: str | None = None,
    dtype: str | None = None,
    trust_checkpoint: bool = False,
    engine: str = "auto",
    model_args: dict[str, Any] | None = None,
) -> PortResult:
    """Translate + carry the weights + verify, as `portmodel port` (writes `out_dir`).

    `to`: "torch" or "keras" (default: away from the framework `src` imports); `weights`: the
    source checkpoint; `model`: which model of the file; `input_shape`: the source layout
    without the batch (needed for PyTorch sources); `dtype`: cast the weights (--to keras).
    Keras -> PyTorch: `engine` "auto" (the first engine, or the code-directed one where the
    first cannot port the model: `portmodel.port.pick_engine`), "first" or "code";
    `model_args`: arguments of a builder the code engine ports (`{"alpha": 0.25}`), beyond
    those read from the checkpoint (docs/api.md)."""
    from .port import port as port_torch
    from .port import port_to_keras, read_source
    from .translate import guess_target
    from .verify import resolve_devices

    src, out = os.fspath(src), os.fspath(out_dir)
    to = to or guess_target(read_source(src))
    if dtype and to != "keras":
        raise PortmodelError("--dtype is available with --to keras")
    if to == "keras" and (engine != "auto" or model_args):
        raise PortmodelError("--engine and --model-args are for --to torch (Keras -> PyTorch)")
    extra = {"dtype": dtype} if to == "keras" else {"engine": engine, "model_args": dict(model_args or {})}
    run = port_to_keras if to == "keras" else port_torch
    with _trust(trust_checkpoint):
        report = run(
            src, out, weights=weights, model=model, input_shape=tuple(input_shape) if input_shape else None,
            devices=resolve_devices(device), atol=atol, rtol=rtol, force=force, inputs_path=inputs, **extra,
        )
    return PortResult(out, report)


@dataclass
class ConvertResult:
    """What `convert` wrote to `out_dir` and its report (`report.json` as a dict)."""

    out_dir: str
    report: dict

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])

    @property
    def files(self) -> list[str]:
        return [f for s in self.report["stages"] for f in s["files"]]


def convert(
    src: PathLike,
    to: str | Sequence[str],
    out_dir: PathLike,
    *,
    weights: str | None = None,
    input_shape: Sequence[int] | None = None,
    inputs: str | None = None,
    quantize: Sequence[str] = (),
    keep_nchw: bool = False,
    exporter: str = "dynamo",
    atol: float = 1e-4,
    rtol: float = 0.0,
    seed: int = 0,
    force: bool = False,
    trust_checkpoint: bool = False,
) -> ConvertResult:
    """A trained model to other runtimes through ONNX, every stage verified, as `portmodel
    convert` (docs/convert.md). `to`: targets, a list or comma-separated (onnx, saved_model,
    tflite, keras, torch, safetensors)."""
    from .convert import convert as run_convert

    targets = [t.strip() for t in (to.split(",") if isinstance(to, str) else to) if t.strip()]
    with _trust(trust_checkpoint):
        report = run_convert(
            os.fspath(src), targets, os.fspath(out_dir), weights=weights,
            input_shape=tuple(input_shape) if input_shape else None, inputs_path=inputs, quantize=list(quantize),
            keep_nchw=keep_nchw, exporter=exporter, atol=atol, rtol=rtol, seed=seed, force=force,
        )
    return ConvertResult(os.fspath(out_dir), report)


# -- live objects -----------------------------------------------------------------------------


@dataclass
class ModelPort:
    """A live model ported: `.model` (the port, built and holding the weights), `.source`
    (its source code), `.report` (readable text, report.md), `.errors` (max abs / max rel per
    output), `.details` (report.json as a dict)."""

    model: Any
    source: str
    report: str
    results: list
    details: dict
    out_dir: str | None = None

    @property
    def errors(self) -> list:
        return [o for r in self.results for o in r.outputs]

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.errors), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((o.max_rel for o in self.errors), default=0.0)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def _arrays(example_inputs) -> list:
    import numpy as np

    if not example_inputs:
        raise PortmodelError("give at least one example input (a batch in the source's layout)")
    out = []
    for x in example_inputs:
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        a = np.asarray(x)
        out.append(a.astype("float32") if a.dtype.kind == "f" else a.astype("int64"))
    return out


def _class_file(cls: type) -> tuple[str, int | None]:
    try:
        path = inspect.getsourcefile(cls)
    except (TypeError, OSError):
        path = None
    if not path or not Path(path).is_file():
        raise PortmodelError(f"the source file of {cls.__qualname__} cannot be found (a class defined in a .py file "
                             "can be ported; one typed into an interpreter cannot)")
    try:
        line = inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        line = None
    return path, line


_SIMPLE = (bool, int, float, str, type(None))


def _recoverable(value) -> bool:
    """A constructor argument read back from an instance: plain data, classes and functions."""
    if isinstance(value, _SIMPLE):
        return True
    if isinstance(value, tuple | list):
        return all(_recoverable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _recoverable(v) for k, v in value.items())
    if isinstance(value, functools.partial):
        return _recoverable(value.func) and _recoverable(value.args) and _recoverable(value.keywords)
    return inspect.isclass(value) or inspect.isfunction(value)


def _constructor_args(instance, given: dict) -> tuple[dict, list[str], list[str]]:
    """(arguments, the required ones that cannot be recovered, those left at their default),
    from `given` and the instance's attributes of the parameters' names (`name`, `_name`)."""
    cls = type(instance)
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        params = []
    known = {p.name for p in params}
    unknown = sorted(set(given) - known)
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in params):
        raise PortmodelError(f"{cls.__qualname__}() takes no argument '{unknown[0]}'")
    args, missing, defaulted = dict(given), [], []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in given:
            continue
        for attr in (p.name, "_" + p.name):
            value = instance.__dict__.get(attr, inspect.Parameter.empty)
            if value is not inspect.Parameter.empty and _recoverable(value):
                if p.kind is p.POSITIONAL_ONLY:
                    break
                args[p.name] = value
                break
        else:
            if p.default is inspect.Parameter.empty:
                missing.append(p.name)
            else:
                defaulted.append(p.name)
    return args, missing, defaulted


def _shapes(module) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _rebuild_shapes(build) -> dict[str, tuple] | None:
    """The state_dict shapes of `build()` (on the meta device: no memory, no computation);
    None where building fails."""
    import torch

    with contextlib.suppress(Exception), torch.device("meta"):  # else user code that needs real tensors
        return _shapes(build())
    try:
        with torch.random.fork_rng():
            return _shapes(build())
    except Exception:  # noqa: BLE001 - the arguments do not build this model
        return None


def _first_difference(a: dict, b: dict) -> str:
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            return f"'{k}': {a.get(k, 'absent')} vs {b.get(k, 'absent')} in the instance"
    return ""


def _factories(cls: type) -> list:
    """Functions of the class's module that return it and need no argument (torchvision's
    `resnet18()`): the way a model built by a factory can be rebuilt."""
    module = sys.modules.get(cls.__module__)
    out = []
    for name, fn in sorted(vars(module).items() if module else []):
        if not inspect.isfunction(fn) or fn.__module__ != cls.__module__ or name.startswith("_"):
            continue
        sig = inspect.signature(fn)
        ret = sig.return_annotation
        if ret is not cls and ret != cls.__name__:
            continue
        if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in sig.parameters.values()):
            out.append(fn)
    return out


def _how_to_build(instance, given: dict, path: str, line: int | None) -> tuple[str, dict]:
    """How the Keras port is built: (the class's or a factory's name, its arguments), checked
    by rebuilding the PyTorch model so (on the meta device) and comparing the state_dict."""
    cls = type(instance)
    want = _shapes(instance)
    args, missing, defaulted = _constructor_args(instance, given)
    problem = ""
    if not missing:
        got = _rebuild_shapes(lambda: cls(**args))
        if got == want:
            return cls.__name__, args
        problem = (f"{cls.__name__}(...) with the arguments recovered from the instance builds a different model "
                   f"({_first_difference(got, want)})" if got is not None else
                   f"{cls.__name__}(...) does not build with the arguments recovered from the instance")
    if not given:
        for fn in _factories(cls):
            if _rebuild_shapes(fn) == want:
                return fn.__name__, {}
    call = f"portmodel.to_keras(model, x, {', '.join(f'{m}=...' for m in (missing or defaulted)[:3])})"
    if missing:
        raise PortmodelError(
            f"cannot recover the constructor argument{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} of {cls.__name__} from the instance (no default, and no "
            f"attribute of that name holds it); pass {'them' if len(missing) > 1 else 'it'} as a keyword: {call}",
            path, line)
    left = f"; left at their defaults: {', '.join(defaulted)}; pass the right values as keywords: {call}"
    raise PortmodelError(problem + (left if defaulted else ""), path, line)


def _keras_value(value, modules: dict[str, Any]):
    """A constructor argument for the port: classes and functions of the source (or torch.nn
    classes passed as values) become the port's objects of the same name."""
    if isinstance(value, tuple | list):
        return type(value)(_keras_value(v, modules) for v in value)
    if isinstance(value, dict):
        return {k: _keras_value(v, modules) for k, v in value.items()}
    if isinstance(value, functools.partial):
        return functools.partial(_keras_value(value.func, modules), *_keras_value(value.args, modules),
                                 **_keras_value(value.keywords, modules))
    if inspect.isclass(value) or inspect.isfunction(value):
        for module in (modules.get(value.__module__), modules.get(None)):
            if module is not None and hasattr(module, value.__name__):
                return getattr(module, value.__name__)
        raise PortmodelError(f"the constructor argument {value.__module__}.{value.__qualname__} has no "
                             "counterpart in the port; pass a Keras one as a keyword")
    return value


def _import_port_package(folder: str, dotted: str):
    """The translated package (`torchvision_keras.models.resnet`) from `folder`, fresh."""
    import importlib

    from .loading import quiet_import

    quiet_import("keras")  # first here, quietly (loading.quiet_import says why)
    top = dotted.split(".")[0]
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(dotted)
    except Exception as exc:  # noqa: BLE001 - report a failing port as one line
        raise PortmodelError(f"importing the port failed: {type(exc).__name__}: {exc}", folder) from None
    finally:
        sys.path.remove(folder)


def _stage(out_dir: PathLike | None, names: Sequence[str]) -> tuple[str, bool]:
    """(the folder to write in, whether it is temporary)."""
    if out_dir is None:
        return tempfile.mkdtemp(prefix="portmodel-live-"), True
    out = Path(out_dir)
    existing = [str(out / n) for n in names if (out / n).exists()]
    if existing:
        raise PortmodelError("output exists; choose another out_dir or remove it", existing[0])
    out.mkdir(parents=True, exist_ok=True)
    return str(out), False


def _finish(report: dict, folder: str, temporary: bool) -> str:
    from .report import render_markdown, write_reports

    if temporary:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        write_reports(report, os.path.join(folder, "report.json"), os.path.join(folder, "report.md"))
        shutil.rmtree(os.path.join(folder, "__pycache__"), ignore_errors=True)
    return render_markdown(report)


@contextlib.contextmanager
def _kept_state(module) -> Iterator[None]:
    """The module's training flag and device as they were (verification runs it in eval mode
    on the CPU)."""
    training = module.training
    device = next((p.device for p in module.parameters()), None)
    try:
        yield
    finally:
        module.train(training)
        if device is not None:
            module.to(device)


def _arguments_text(args: dict) -> str:
    return ", ".join(f"{k}={getattr(v, '__name__', None) or repr(v)}" for k, v in args.items())


def _in_memory(report: dict, model: str) -> None:
    """A report of a port kept in memory (no out_dir): nothing was written."""
    report["translation"]["output"] = "in memory (ModelPort.source)"
    report["weights"]["output"] = model


def to_keras(
    module: Any,
    *example_inputs: Any,
    out_dir: PathLike | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    **ctor_kwargs: Any,
) -> ModelPort:
    """Port a live `torch.nn.Module` to Keras 3: its class's source is translated, the Keras
    model built with the same constructor arguments, the instance's weights and buffers
    carried over, and both run on `example_inputs` (torch's layout: NCHW images; the port
    takes channels-last, verification transposes).

    Constructor arguments are read back from the instance (an attribute of a parameter's
    name, `name` or `_name`) and checked by rebuilding the PyTorch model on the meta device;
    where they cannot be, a factory of the class's module that builds the same model
    (torchvision's `resnet18()`) is used; otherwise `PortmodelError` names the argument, to be
    passed as a keyword (`to_keras(model, x, depth=4)`). Classes passed as arguments become
    the port's classes of the same name. PASS: max abs <= atol + rtol x max |output|.
    `out_dir`: also write model.py, model.weights.h5, report.md and report.json there.
    """
    import torch

    from .core.files import package_root
    from .core.fsutil import write_text
    from .loading import import_file
    from .port import _refuse_todos, _report, read_source
    from .rulebook import load_rules
    from .verify import to_keras_layout, verify_torch_source
    from .weights import transfer_to_keras

    if not isinstance(module, torch.nn.Module):
        raise PortmodelError(f"to_keras takes a torch.nn.Module instance, got {type(module).__name__}")
    inputs = _arrays(example_inputs)
    cls = type(module)
    path, line = _class_file(cls)
    name, args = _how_to_build(module, ctor_kwargs, path, line)
    root, _ = package_root(Path(path))
    folder, temporary = _stage(out_dir, ("model.py", "model.weights.h5", "report.json", "report.md"))
    try:
        if root is not None:  # a file of a package: the package's model modules are translated with it
            from .torch_to_keras.package import write_port

            result, port_module, _ = write_port(path, folder, load_rules())
            _refuse_todos(result, path)
            keras_module = _import_port_package(folder, port_module)
            modules = {cls.__module__: keras_module, None: keras_module}
            write_text(os.path.join(folder, "model.py"), f'"""The Keras port of {path} (portmodel)."""\n\n'
                       f"from {port_module} import {name}  # noqa: F401\n")
        else:
            result = translate(read_source(path), to="keras", input_shape=inputs[0].shape[1:], path=path)
            _refuse_todos(result, path)
            model_py = os.path.join(folder, "model.py")
            write_text(model_py, result.code)
            keras_module = import_file(model_py)
            modules = {cls.__module__: keras_module, None: keras_module}
        builder = getattr(keras_module, name, None)
        if builder is None:
            raise PortmodelError(f"the port defines no {name}", path, line)
        try:
            keras_model = builder(**{k: _keras_value(v, modules) for k, v in args.items()})
            keras_model(*[to_keras_layout(a[:1]) for a in inputs], training=False)
        except PortmodelError:
            raise
        except Exception as exc:  # noqa: BLE001 - the port does not build: one line, with where
            msg = " ".join(str(exc).split())[:300]
            raise PortmodelError(f"building the Keras port of {name} failed: {type(exc).__name__}: {msg}",
                                 path, line) from None
        with _kept_state(module):
            transfer_to_keras(module, keras_model)
            results = verify_torch_source(module, keras_model, inputs, atol=atol, rtol=rtol, layers=True)
        if not temporary:
            keras_model.save_weights(os.path.join(folder, "model.weights.h5"))
        info = next((m for m in result.models if m.source == name), ModelInfo(name, name, "subclassed"))
        report = _report(path, info, result, Path(folder), results, inputs, "the example inputs", atol, rtol,
                         {"output": os.path.join(folder, "model.weights.h5"), "tensors": len(keras_model.weights),
                          "from": f"the live {cls.__name__} instance"},
                         direction="PyTorch -> Keras", constructor=f"{name}({_arguments_text(args)})")
        if temporary:
            _in_memory(report, "the Keras model (ModelPort.model)")
        text = _finish(report, folder, temporary)
    except BaseException:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return ModelPort(keras_model, result.code, text, results, report, None if temporary else folder)


# -- Keras model -> source --------------------------------------------------------------------


_SKIPPED_CONFIG = {"name", "trainable", "dtype", "autocast"}


def _literal(value) -> str:
    if isinstance(value, list | tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        raise TypeError("a serialized object")
    if isinstance(value, float | int | str | bool | type(None)):
        return repr(value)
    raise TypeError(f"a {type(value).__name__}")


def _layer_call(layer, keras) -> str:
    """`layers.Conv2D(16, ...)`: the layer's class and the config entries that differ from the
    constructor's defaults (initializers, regularizers and constraints left out: the weights
    are carried, and inference does not use them)."""
    cls = type(layer)
    if getattr(keras.layers, cls.__name__, None) is not cls:
        raise PortmodelError(
            f"layer '{layer.name}' is a {cls.__module__}.{cls.__qualname__}, not a built-in Keras layer; a live model "
            "is read from its config, which names built-in layers only (port the .py file that defines it with "
            "portmodel.port instead)")
    params = inspect.signature(cls.__init__).parameters
    parts = []
    for key, value in layer.get_config().items():
        if key in _SKIPPED_CONFIG or key not in params or key.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        default = params[key].default
        if default is not inspect.Parameter.empty and _same(value, default):
            continue
        if default is None and (key, value) in (("data_format", "channels_last"), ("activation", "linear")):
            continue  # what None means
        try:
            parts.append(f"{key}={_literal(value)}")
        except TypeError as exc:
            raise PortmodelError(f"layer '{layer.name}': its argument {key} is {exc}, which a live model's source "
                                 "cannot state; port the .py file that builds the model instead") from None
    parts.append(f"name={layer.name!r}")
    return f"layers.{cls.__name__}({', '.join(parts)})"


def _same(value, default) -> bool:
    if isinstance(value, list | tuple) and isinstance(default, list | tuple):
        return len(value) == len(default) and all(_same(a, b) for a, b in zip(value, default))
    if isinstance(value, list | tuple) and isinstance(default, int) and not isinstance(default, bool):
        return all(v == default for v in value)
    return type(value) is type(default) and value == default if isinstance(value, bool | str) else value == default


def _identifier(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W", "_", name)
    base = "x_" + base if not base or base[0].isdigit() or keyword.iskeyword(base) else base
    base = base if base not in ("keras", "layers", "build_model") else base + "_"
    return unique(base, taken, first=2)


def keras_source(model: Any, input_shapes: Sequence[Sequence[int]] | None = None) -> str:
    """Keras source for a live functional or Sequential model, read from its config: one
    builder function, `build_model()`, built-in layers only (a custom layer or an operation
    that is not a layer raises `PortmodelError`). `input_shapes` (no batch) where the model
    does not state them (a Sequential model built by calling it)."""
    from .loading import quiet_import

    keras = quiet_import("keras")
    lines = ['"""Keras source of a live model (written by portmodel from its config)."""',
             "import keras", "from keras import layers", "", "", "def build_model():"]
    taken: set[str] = set()
    if isinstance(model, keras.Sequential):
        shape = input_shapes[0] if input_shapes else None
        if shape is None:
            try:
                shape = tuple(model.inputs[0].shape[1:])
            except (AttributeError, ValueError, IndexError):
                raise PortmodelError("the Sequential model's input shape is unknown; give an example input") from None
        x = _identifier("inputs", taken)
        lines.append(f"    {x} = keras.Input(shape={_literal(tuple(shape))})")
        first = x
        for layer in model.layers:
            y = _identifier(layer.name, taken)
            lines.append(f"    {y} = {_layer_call(layer, keras)}({x})")
            x = y
        lines.append(f"    return keras.Model({first}, {x}, name={model.name!r})")
        return "\n".join(lines) + "\n"
    if type(model).__name__ != "Functional" and type(model) is not keras.Model:
        raise PortmodelError(f"{type(model).__qualname__} is a subclassed model; to_torch reads functional and "
                             "Sequential models (port the .py file that defines it with portmodel.port)")
    config = model.get_config()
    by_name = {layer.name: layer for layer in model.layers}
    nodes: dict[tuple[str, int], str] = {}
    indexed = {(h[0], h[1]) for spec in config["layers"] for node in spec.get("inbound_nodes", [])
               for h in _histories(node) if h[2] > 0}
    calls = {spec["name"]: len(spec.get("inbound_nodes", [])) for spec in config["layers"]}
    shared: dict[str, str] = {}
    for spec in config["layers"]:
        layer = by_name[spec["name"]]
        if spec["class_name"] == "InputLayer":
            c = spec["config"]
            var = _identifier(layer.name, taken)
            dtype = f", dtype={c['dtype']!r}" if c.get("dtype", "float32") != "float32" else ""
            lines.append(f"    {var} = keras.Input(shape={_literal(tuple(c['batch_shape'][1:]))}{dtype}, "
                         f"name={layer.name!r})")
            nodes[(layer.name, 0)] = var
            continue
        if isinstance(layer, keras.Model):
            raise PortmodelError(f"'{layer.name}' is a model used as a layer; to_torch reads flat functional models")
        if not isinstance(layer, keras.layers.Layer):
            raise PortmodelError(f"'{layer.name}' is an operation ({spec['class_name']}), not a layer; to_torch reads "
                                 "models of layers (port the .py file that builds the model with portmodel.port)")
        call = _layer_call(layer, keras)
        if calls[spec["name"]] > 1:
            shared[layer.name] = _identifier(layer.name, taken)
            lines.append(f"    {shared[layer.name]} = {call}")
            call = shared[layer.name]
        for i, node in enumerate(spec.get("inbound_nodes", [])):
            args = ", ".join(_argument(a, nodes, indexed) for a in node.get("args", []))
            kwargs = "".join(f", {k}={_argument(v, nodes, indexed)}" for k, v in node.get("kwargs", {}).items()
                             if v is not None)
            var = _identifier(layer.name if i == 0 else f"{layer.name}_{i}", taken)
            lines.append(f"    {var} = {call}({args}{kwargs})")
            nodes[(layer.name, i)] = var
    ins = [_argument({"class_name": "__keras_tensor__", "config": {"keras_history": h}}, nodes, indexed)
           for h in _as_list(config["input_layers"])]
    outs = [_argument({"class_name": "__keras_tensor__", "config": {"keras_history": h}}, nodes, indexed)
            for h in _as_list(config["output_layers"])]
    one = len(ins) == 1 and not isinstance(config["input_layers"][0], list)
    single_out = len(outs) == 1 and not isinstance(config["output_layers"][0], list)
    lines.append(f"    return keras.Model({ins[0] if one else '[' + ', '.join(ins) + ']'}, "
                 f"{outs[0] if single_out else '[' + ', '.join(outs) + ']'}, name={model.name!r})")
    return "\n".join(lines) + "\n"


def _as_list(histories) -> list:
    return [histories] if histories and not isinstance(histories[0], list) else list(histories)


def _histories(node) -> list:
    found: list = []

    def walk(v):
        if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
            found.append(v["config"]["keras_history"])
        elif isinstance(v, dict):
            for item in v.values():
                walk(item)
        elif isinstance(v, list | tuple):
            for item in v:
                walk(item)

    walk(node)
    return found


def _argument(value, nodes: dict, indexed: set) -> str:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        name, node, index = value["config"]["keras_history"]
        var = nodes[(name, node)]
        return f"{var}[{index}]" if (name, node) in indexed else var
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_argument(v, nodes, indexed) for v in value) + "]"
    return _literal(value)


def to_torch(keras_model: Any, *example_inputs: Any, out_dir: PathLike | None = None, atol: float = 1e-5,
             rtol: float = 1e-5) -> ModelPort:
    """Port a live Keras 3 functional or Sequential model to PyTorch: its source is written
    from its config (`keras_source`: built-in layers), translated, the `nn.Module` built,
    the weights carried over, and both run on `example_inputs` (Keras' layout: channels-last
    images; the port takes NCHW, verification transposes).
    PASS: max abs <= atol + rtol x max |output|. `out_dir`: also write keras_model.py (the
    source read from the model), model.py, model.safetensors, report.md and report.json.
    """
    from .core.fsutil import write_text
    from .loading import load_torch_module, quiet_import
    from .port import _refuse_todos, _report, pick_model
    from .verify import verify as run_verify
    from .weights import save_state_dict, transfer

    keras = quiet_import("keras")
    if not isinstance(keras_model, keras.Model):
        raise PortmodelError(f"to_torch takes a keras.Model, got {type(keras_model).__name__}")
    inputs = _arrays(example_inputs)
    source = keras_source(keras_model, [a.shape[1:] for a in inputs])
    names = ("keras_model.py", "model.py", "model.safetensors", "report.json", "report.md")
    folder, temporary = _stage(out_dir, names)
    try:
        keras_py = os.path.join(folder, "keras_model.py")
        write_text(keras_py, source)
        result = translate(source, to="torch", path=keras_py)
        _refuse_todos(result, keras_py)
        info = pick_model(result, None)
        model_py = os.path.join(folder, "model.py")
        write_text(model_py, result.code)
        torch_model = load_torch_module(f"{model_py}:{info.target}")
        state = transfer(keras_model, torch_model)
        torch_model.load_state_dict(state, strict=True)
        results = run_verify(keras_model, torch_model, inputs, atol=atol, rtol=rtol, layers=True)
        if not temporary:
            save_state_dict(state, os.path.join(folder, "model.safetensors"))
        report = _report(f"the live Keras model '{keras_model.name}'", info, result, Path(folder), results, inputs,
                         "the example inputs", atol, rtol,
                         {"output": os.path.join(folder, "model.safetensors"), "tensors": len(state),
                          "from": "the live model"},
                         direction="Keras -> PyTorch", keras_source=keras_py)
        if temporary:
            _in_memory(report, "the nn.Module (ModelPort.model)")
            report["keras_source"] = "in memory (portmodel.keras_source(model))"
        text = _finish(report, folder, temporary)
    except BaseException:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return ModelPort(torch_model, result.code, text, results, report, None if temporary else folder)


# -- weights ----------------------------------------------------------------------------------


@dataclass
class WeightsResult:
    """What `transfer_weights` wrote: the output, how many tensors, whether it streamed."""

    output: str
    tensors: int
    streamed: bool
    message: str  # one line, as the CLI prints it


def transfer_weights(
    checkpoint: PathLike,
    output: PathLike,
    *,
    model: str,
    to: str | None = None,
    source: str | None = None,
    input_shape: Sequence[int] | None = None,
    force: bool = False,
    trust_checkpoint: bool = False,
) -> WeightsResult:
    """Carry a checkpoint between a Keras model and its port (`portmodel weights`).

    `model`: the port (`PATH.py:Class`); `source`: the model the checkpoint belongs to where the
    checkpoint does not build it (`keras:src.py:builder`, `torch:net.py:Net`); `to`: "torch"
    (a .safetensors/.pt output) or "keras" (.weights.h5/.keras). Between .safetensors and
    .weights.h5 the tensors stream one at a time. Written atomically; an existing output is an
    error unless `force`.
    """
    from .loading import load_keras, load_torch_module
    from .streaming import streamable
    from .weights import save_state_dict, transfer

    out = Path(output)
    checkpoint = os.fspath(checkpoint)
    shape = tuple(input_shape) if input_shape else None
    if out.exists() and not force:
        raise PortmodelError("output exists; pass --force to overwrite it", str(out))
    to_keras = to == "keras" or (source or "").startswith("torch:")
    if to_keras and not str(out).endswith((".weights.h5", ".keras")):
        raise PortmodelError("output must end in .weights.h5 or .keras", str(out))
    with _trust(trust_checkpoint):
        builders = _weights_models(model, source, shape, to_keras)
        if builders and streamable(checkpoint, str(out)):
            return _stream_weights(checkpoint, out, to_keras, *builders)
        if to_keras:
            return _weights_to_keras(checkpoint, out, *builders)
        if builders:
            keras_model = load_keras(source, checkpoint, shape)
        else:
            if not checkpoint.endswith(".keras"):
                raise PortmodelError(
                    "a .weights.h5 checkpoint needs --source PATH.py:builder_or_class to build the model", checkpoint
                )
            keras_model = load_keras(checkpoint, source=source)
        torch_model = load_torch_module(model)
        state = transfer(keras_model, torch_model)
        save_state_dict(state, str(out), force=True)
    return WeightsResult(str(out), len(state), False, f"wrote {len(state)} tensors to {out}")


def _weights_models(model: str, source: str | None, input_shape, to_keras: bool):
    """How `weights` builds its two models: (Keras builder taking `symbolic`, PyTorch builder),
    or None where the Keras model comes whole from a .keras checkpoint. The Keras model is the
    port of a PyTorch model (`source="torch:net.py:Net"`, `model="port.py:Net"`), or a Keras
    source model (`source="[keras:]src.py:build_or_class"`) with its PyTorch port in `model`."""
    from .loading import load_keras, load_keras_port, load_torch_module, split_spec

    if to_keras and source and source.startswith("torch:"):
        return (lambda symbolic: load_keras_port(model, input_shape, symbolic)), (lambda: load_torch_module(source))
    if source and split_spec(source, "keras")[1]:
        return (lambda symbolic: load_keras(source, input_shape=input_shape, symbolic=symbolic)), (
            lambda: load_torch_module(model)
        )
    if to_keras:
        raise PortmodelError(
            "--to keras needs --source torch:PATH.py:Class (a PyTorch model and its Keras port in --model) "
            "or --source keras:PATH.py:builder_or_class (the Keras model to fill)"
        )
    return None


def _stream_weights(checkpoint: str, out: Path, to_keras: bool, build_keras, build_torch) -> WeightsResult:
    """safetensors <-> .weights.h5 one tensor at a time, the models holding no weights."""
    from .core.fsutil import atomic_path
    from .streaming import stateless_models, stream_to_keras, stream_to_torch

    keras_model, torch_model = stateless_models(lambda: build_keras(True), build_torch)
    with atomic_path(out) as tmp:
        if to_keras:
            n = stream_to_keras(torch_model, keras_model, checkpoint, tmp)
        else:
            n = stream_to_torch(keras_model, torch_model, checkpoint, tmp)
    return WeightsResult(str(out), n, True, f"streamed {n} tensors to {out}")


def _weights_to_keras(checkpoint: str, out: Path, build_keras, build_torch) -> WeightsResult:
    """A PyTorch state_dict into a Keras model, in memory (.keras output, .pt checkpoints)."""
    from .core.fsutil import atomic_path
    from .loading import load_state_dict
    from .weights import check_fits, transfer_to_keras

    torch_model = build_torch()
    check_fits(torch_model, load_state_dict(checkpoint), checkpoint)
    keras_model = build_keras(False)
    transfer_to_keras(torch_model, keras_model)
    with atomic_path(out) as tmp:
        target = tmp.with_name(tmp.name + (".weights.h5" if str(out).endswith(".weights.h5") else ".keras"))
        if str(out).endswith(".keras"):
            keras_model.save(target)
        else:
            keras_model.save_weights(target)
        target.replace(tmp)
    n = len(keras_model.weights)
    return WeightsResult(str(out), n, False, f"wrote {n} Keras weights to {out}")
