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


ENGINES = ("auto", "first", "code")


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
    engine: str = "auto",
    model_args: dict | None = None,
) -> dict:
    """Port a Keras source file (and checkpoint) to PyTorch; returns the report dict.

    `engine`: "first" (the first Keras -> PyTorch engine: the model the file's default
    arguments build), "code" (the code-directed engine: builders such as keras.applications'
    `ResNet50(include_top=True, weights="imagenet", ...)` become classes taking the same
    arguments), or "auto": the first engine when it finds the model (`model`, or the file's
    only one) and leaves no TODO; else the code engine when it finds it and leaves no TODO;
    else the first engine's error, or the models the code engine ports where it translated
    the file without a TODO (`pick_engine`).

    A builder ported by the code engine is built with `weights=None` and the arguments the
    checkpoint was built with: `input_shape` from the Keras model's input; `include_top`,
    `pooling`, `classes`, `classifier_activation` from its output (the candidates that fit the
    checkpoint's weights, the one computing what Keras computes); `model_args` (--model-args)
    gives any of them, and the others (`alpha`, ...) the checkpoint cannot tell.
    """
    import torch

    from .weights import float_dtype

    out = Path(out_dir)
    existing = [str(out / n) for n in OUTPUTS if (out / n).exists()]
    if existing and not force:
        raise PortmodelError("output exists; pass --force to overwrite it", existing[0])
    result, info, used = pick_engine(read_source(src), src, model, engine, input_shape)
    if model_args and used != "code":
        raise PortmodelError("--model-args are the arguments of a builder the code engine ports "
                             "(--engine code); the first engine's port takes none", src)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".portmodel-", dir=out.parent) as tmp:
        model_py = os.path.join(tmp, "model.py")
        write_text(model_py, result.code)
        extra = {"engine": used}
        if used == "code":
            keras_model = _keras_for_builder(src, info, weights, input_shape, model_args or {})
            inputs = load_inputs(inputs_path, keras_model, input_shape) if inputs_path \
                else make_inputs(keras_model, input_shape)
            torch_model, state, built = build_port(model_py, info, keras_model, inputs, model_args or {}, atol, rtol,
                                                    src)
            extra["builder"] = built
            extra["runtime"] = runtime_needs(model_py)
        else:
            keras_model = load_keras(f"{src}:{info.source}", weights, input_shape)
            torch_model = load_torch_module(f"{model_py}:{info.target}")
            state = transfer(keras_model, torch_model)
            dtype = float_dtype(state)
            if dtype and dtype != "float32":  # a float16/bfloat16/float64 Keras model: keep its dtype
                torch_model.to(getattr(torch, dtype))
            torch_model.load_state_dict(state, strict=True)
            if inputs_path:
                inputs = load_inputs(inputs_path, keras_model, input_shape)
            else:
                inputs = make_inputs(keras_model, input_shape)
        save_state_dict(state, os.path.join(tmp, "model.safetensors"))
        results = verify(keras_model, torch_model, inputs, devices=devices, atol=atol, rtol=rtol, layers=per_layer)
        weights_info = {"output": str(out / "model.safetensors"), "tensors": len(state), "from": weights}
        report = _report(src, info, result, out, results, inputs, inputs_path, atol, rtol, weights_info, **extra)
        _publish(report, tmp, out, OUTPUTS, render=_render_port)
    return report


# -- which engine ---------------------------------------------------------------------------------


def _has(result: TranslationResult, name: str | None) -> bool:
    """`result` holds the model to port: the one named, or its only one."""
    if name is None:
        return len(result.models) == 1
    return any(name in (m.source, m.target) for m in result.models)


def pick_engine(source: str, src: str, name: str | None, engine: str = "auto", input_shape=None):
    """(translation, the model to port, "first" | "code") for Keras -> PyTorch.

    "auto": the first engine when it finds the model and leaves no TODO; else the code engine
    when it finds the model and leaves no TODO; else the first engine's error, unchanged,
    except where the code engine translated the file without a TODO and found models (and the
    first engine has no model of the name given): then the models it ports are listed (with
    the first engine's, where it left no TODO): no model of that name, or several to choose
    from."""
    if engine not in ENGINES:
        raise PortmodelError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine != "auto":
        result = translate_source(source, src, input_shape=input_shape, to="torch", engine=engine)
        info = pick_model(result, name)
        _refuse_todos(result, src)
        return result, info, engine
    first = translate_source(source, src, input_shape=input_shape, to="torch", engine="first")
    if _has(first, name) and not first.todos:
        return first, pick_model(first, name), "first"
    try:
        code = translate_source(source, src, to="torch", engine="code")
    except PortmodelError:  # the first engine's error says what is wrong with the file
        code = None
    clean = code is not None and code.status == "converted" and not code.todos
    if clean and _has(code, name):
        return code, pick_model(code, name), "code"
    if name is not None and _has(first, name):
        _refuse_todos(first, src)  # the first engine has the model named, with TODOs
    if clean and code.models:  # the models either engine ports (the first engine's, where it leaves no TODO)
        found = [m.source for m in code.models]
        found += [m.source for m in first.models if m.source not in found and not first.todos]
        if name is None:
            raise PortmodelError(f"several models ({', '.join(found)}); choose one with --model", src)
        raise PortmodelError(f"no model named '{name}' (found: {', '.join(found)})", src)
    info = pick_model(first, name)
    _refuse_todos(first, src)
    return first, info, "first"


# -- a builder's port (code engine) ------------------------------------------------------------


def parse_model_args(items) -> dict:
    """`--model-args include_top=False pooling=avg` -> {"include_top": False, "pooling": "avg"}:
    values are Python literals (ast.literal_eval); a bare word is a string."""
    import ast
    import difflib

    args = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise PortmodelError(f"--model-args: expected NAME=VALUE (include_top=False pooling=avg), got {item!r}")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            if not text.strip().isidentifier():
                raise PortmodelError(f"--model-args {item}: the value is not a Python literal "
                                     "(numbers, strings, tuples, True/False/None)") from None
            close = difflib.get_close_matches(text.strip(), ["True", "False", "None"], n=1, cutoff=0.6)
            if close or text.strip().lower() in ("true", "false", "none"):
                fix = close[0] if close else text.strip().capitalize()
                raise PortmodelError(f"--model-args {item}: did you mean {key}={fix}? "
                                     "(a bare word is a string, as in pooling=avg)") from None
            value = text.strip()
        if key in args:
            raise PortmodelError(f"--model-args: {key} is given twice")
        args[key] = value
    return args


def _call_text(name: str, kwargs: dict) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def _parameters(fn, name: str, path: str) -> dict:
    import inspect

    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        raise PortmodelError(f"{name} has no signature to read its arguments from", path) from None


def _check_args(params: dict, model_args: dict, name: str, path: str) -> None:
    """A name that is not a parameter of the builder (a typo) or `weights` is an error."""
    import difflib

    if "weights" in model_args:
        raise PortmodelError("--model-args weights: the port is built with weights=None; the checkpoint is "
                             "--weights", path)
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    named = [k for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in model_args:
        if key not in named:
            close = difflib.get_close_matches(key, named, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise PortmodelError(f"--model-args {key}: {name}() has no such parameter; {hint}"
                                 f"its parameters: {', '.join(named)}", path)


def _keras_for_builder(src: str, info, weights: str | None, input_shape, model_args: dict):
    """The Keras model to port from: the .keras checkpoint as it is (loaded safely; the builder
    is not called, as its defaults may download weights), or the builder called with
    weights=None, --input-shape and `model_args` (then a .weights.h5 loaded into it)."""
    from .loading import (
        check_file,
        import_file,
        keras_custom_objects,
        load_keras_file,
        quiet_import,
    )

    keras = quiet_import("keras")
    module = import_file(src)
    fn = getattr(module, info.source, None)
    if fn is None:
        raise PortmodelError(f"no '{info.source}' in the file", src)
    params = _parameters(fn, info.source, src)
    _check_args(params, model_args, info.source, src)  # a typo is an error before the checkpoint loads
    if weights and weights.endswith(".keras"):
        return load_keras_file(weights, keras_custom_objects(module))
    kwargs = {"weights": None} if "weights" in params else {}
    if input_shape and "input_shape" in params:
        kwargs["input_shape"] = tuple(input_shape)
    kwargs.update(model_args)
    try:
        model = fn(**kwargs)
    except Exception as exc:  # noqa: BLE001 - user code: report any failure as one line
        raise PortmodelError(f"calling {_call_text(info.source, kwargs)} failed: {type(exc).__name__}: {exc}",
                             src) from None
    if not isinstance(model, keras.Model):
        raise PortmodelError(f"{info.source}() did not give a keras.Model", src)
    if weights:
        check_file(weights, (".h5", ".keras"))
        try:
            model.load_weights(weights)
        except Exception as exc:  # noqa: BLE001
            raise PortmodelError(f"cannot load these weights into {_call_text(info.source, kwargs)}: {exc}; "
                                 "give the arguments it was built with: --model-args NAME=VALUE ...", weights) from None
    return model


def _output_candidates(params: dict, keras_model) -> list[dict]:
    """The values of include_top / pooling / classes / classifier_activation that can give
    the Keras model's output: one for a feature map, the likeliest first for a vector."""
    if "include_top" not in params or len(keras_model.outputs) != 1:
        return [{}]
    shape = tuple(keras_model.outputs[0].shape)
    if len(shape) != 2:
        return [{"include_top": False, **({"pooling": None} if "pooling" in params else {})}]
    top = {"include_top": True}
    if "classes" in params and shape[-1] is not None:
        top["classes"] = int(shape[-1])
    last = keras_model.layers[-1]
    activation = last.get_config().get("activation") if hasattr(last, "get_config") else None
    if "classifier_activation" in params and isinstance(activation, str):
        top["classifier_activation"] = None if activation == "linear" else activation
    if "pooling" not in params:
        return [top]
    pools = [{"include_top": False, "pooling": "avg"}, {"include_top": False, "pooling": "max"}]
    kind = type(last).__name__
    if kind.startswith("GlobalMax"):
        pools.reverse()
    return [*pools, top] if kind.startswith("Global") else [top, *pools]


def build_port(model_py: str, info, keras_model, inputs, model_args: dict, atol: float, rtol: float,
               src: str | None = None):
    """The port of a builder, holding the checkpoint's weights: (module, state_dict, what it was
    built with). Built with weights=None, the Keras model's input shape and the arguments its
    output tells (`_output_candidates`), `model_args` over them; of the candidates whose
    weights fit, the first computing what Keras computes within atol + rtol x |output| (else
    the closest). Errors name `src` (the source file), else `model_py`."""
    import torch

    from .loading import import_file
    from .verify import errors, run_keras, run_torch
    from .weights import float_dtype

    module = import_file(model_py)
    fn = getattr(module, info.target, None)
    if fn is None:
        raise PortmodelError(f"no '{info.target}' in the port", src or model_py)
    params = _parameters(fn, info.target, src or model_py)
    _check_args(params, model_args, info.target, src or model_py)
    base = {"weights": None} if "weights" in params else {}
    if "input_shape" in params and keras_model.inputs and len(keras_model.inputs) == 1:
        base["input_shape"] = tuple(keras_model.inputs[0].shape[1:])
    candidates = []
    for variant in _output_candidates(params, keras_model):
        kwargs = {**base, **variant, **model_args}
        if kwargs not in candidates:
            candidates.append(kwargs)
    ref = run_keras(keras_model, inputs) if len(candidates) > 1 else None
    problems, best, closest = [], None, None
    for kwargs in candidates:
        call = _call_text(info.target, kwargs)
        try:
            torch_model = fn(**kwargs)
        except Exception as exc:  # noqa: BLE001 - the port's own checks (obtain_input_shape, ...)
            problems.append(f"calling {call} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            continue
        if not isinstance(torch_model, torch.nn.Module):
            raise PortmodelError(f"{info.target}() did not give an nn.Module", src or model_py)
        torch_model.eval()
        try:
            _materialise(torch_model, inputs)
            state = transfer(keras_model, torch_model)
        except Exception as exc:  # noqa: BLE001 - the port does not fit the checkpoint: the next candidate
            text = str(exc).removeprefix("the checkpoint does not fit the port: ")
            problems.append(f"{call}: {'; '.join(text.split('; ')[:3])}")
            continue
        dtype = float_dtype(state)
        if dtype and dtype != "float32":  # a float16/bfloat16/float64 Keras model: keep its dtype
            torch_model.to(getattr(torch, dtype))
        torch_model.load_state_dict(state, strict=True)
        if ref is None:
            best = (torch_model, state, kwargs)
            break
        try:
            got = run_torch(torch_model, inputs)
            (max_abs, max_rel, scale), = [errors(r, g) for r, g in zip(ref, got)]
        except (PortmodelError, ValueError) as exc:
            problems.append(f"{call}: {exc}")
            continue
        if max_abs <= atol + rtol * scale:
            best = (torch_model, state, kwargs)
            break
        if closest is None or max_rel < closest[0]:
            closest = (max_rel, (torch_model, state, kwargs))
    best = best or (closest[1] if closest else None)
    if best is None:
        takes = ", ".join(f"{k}={p.default!r}" for k, p in params.items()
                          if k not in ("weights", "input_tensor", "name") and p.default is not p.empty)
        raise PortmodelError(
            f"the checkpoint does not fit the port: {problems[0]}"
            + (f" ({len(problems) - 1} other argument set(s) tried)" if len(problems) > 1 else "")
            + f"; give the arguments the checkpoint was built with: --model-args NAME=VALUE ... ({info.target} "
            f"takes {takes})", src or model_py,
        )
    torch_model, state, kwargs = best
    inferred = [k for k in kwargs if k not in model_args and k != "weights"]
    return torch_model, state, {
        "call": _call_text(info.target, kwargs),
        "arguments": {k: _jsonable(v) for k, v in kwargs.items()},
        "from_checkpoint": inferred,
        "given": list(model_args),
        "first_call": "nn.Lazy" in Path(model_py).read_text(encoding="utf-8"),
    }


def _jsonable(value):
    """A builder argument as report.json holds it: tuples as lists, anything else not JSON as its repr."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _jsonable(v) for k, v in value.items()}
    return repr(value)


def _materialise(torch_model, inputs) -> None:
    """Lazy modules (nn.LazyLinear after a Flatten) take their sizes from a first call."""
    import torch
    from torch.nn.modules.lazy import LazyModuleMixin

    from .verify import _to_port

    if any(isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in torch_model.modules()):
        with torch.no_grad():
            torch_model(*[_to_port(a[:1]) for a in inputs])


def runtime_needs(model_py: str) -> dict:
    """The imports of the port's model.py besides torch, numpy and the standard library (for
    keras.applications: Keras' validation helpers, called as written), for the report."""
    import ast
    import sys

    tree = ast.parse(Path(model_py).read_text(encoding="utf-8"))
    imports, packages = [], set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            tops = {n.split(".")[0] for n in names} - sys.stdlib_module_names - {"torch", "numpy", ""}
            if tops:
                imports.append(ast.unparse(node))
                packages |= tops
    return {"packages": ["torch", *sorted(packages)], "imports": imports,
            "note": "model.py runs these imports when imported; its folder is importable as it is "
                    "(`from model import ...` with the folder on sys.path)" if imports else "model.py needs only torch"}


def _render_port(report: dict) -> str:
    """report.md: the common report, plus the engine, the builder's arguments and what model.py needs."""
    from .report import render_markdown

    text = render_markdown(report)
    if report.get("engine") != "code":
        return text
    b, r = report["builder"], report["runtime"]
    lines = ["## Port", "", "- engine: code (the builder as an `nn.Module` taking its arguments)",
             f"- built as `{b['call']}`"]
    if b["from_checkpoint"]:
        lines.append(f"- read from the checkpoint: {', '.join(b['from_checkpoint'])}")
    if b["given"]:
        lines.append(f"- given (--model-args): {', '.join(b['given'])}")
    lines.append(f"- model.py needs: {', '.join(r['packages'])}"
                 + (f" (`{'`; `'.join(r['imports'])}`)" if r["imports"] else ""))
    lines += ["", "```python", "import sys", f"sys.path.insert(0, {str(Path(report['translation']['output']).parent)!r})",
              f"from model import {report['model']['target']}", "from safetensors.torch import load_file", "",
              f"model = {b['call']}"]
    if b.get("first_call"):
        lines.append("model(example_input)  # lazy modules take their sizes from a first call")
    lines += [f"model.load_state_dict(load_file({report['weights']['output']!r}))", "```", ""]
    head, sep, tail = text.partition("## Equivalence")
    return head + "\n".join(lines) + "\n" + sep + tail


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


def _publish(report: dict, tmp: str, out: Path, names, render=None) -> None:
    """Write the reports, then move every output from the temporary folder into place."""
    extra = {"render": render} if render else {}
    write_reports(report, os.path.join(tmp, "report.json"), os.path.join(tmp, "report.md"), **extra)
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
