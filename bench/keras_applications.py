"""keras.applications through the code engine (Keras -> PyTorch): the whole table.

    .venv/bin/python bench/keras_applications.py [--write docs/keras_applications.md] [--models ResNet50,VGG16]

Translates the installed `keras/src/applications` folder in one run (`translate_many`, the
code engine: resnet_v2.py uses resnet.py's port), writes the ports into a temporary package
(`kapps`), then for each model: builds the Keras builder with `weights=None` and the port
with the same arguments, randomises the Keras weights (`portmodel.examples.randomize`),
carries them with `portmodel.weights.transfer`, and compares the outputs in eval mode on a
seeded batch of 2 inputs. A model whose file still has TODOs is a "not translated" row; any
error is a row too. Prints a Markdown table; `--write PATH` writes it into a document.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import keras
import numpy as np
import torch

from portmodel.api import translate_many
from portmodel.examples import randomize
from portmodel.verify import errors, per_layer, run_keras, run_torch
from portmodel.weights import transfer

APPS = Path(keras.__file__).parent / "src" / "applications"
TOL = 1e-4  # pass: max abs <= TOL x max(1, |output|)

# (builder, module, arguments besides weights=None, input shape: None = the builder's default)
MODELS = [
    ("VGG16", "vgg16", {}, None),
    ("VGG19", "vgg19", {}, None),
    ("ResNet50", "resnet", {}, None),
    ("ResNet101", "resnet", {}, None),
    ("ResNet50V2", "resnet_v2", {}, None),
    ("MobileNet", "mobilenet", {}, None),
    ("MobileNetV2", "mobilenet_v2", {}, None),
    ("MobileNetV3Small", "mobilenet_v3", {}, None),
    ("MobileNetV3Large", "mobilenet_v3", {}, None),
    ("DenseNet121", "densenet", {}, None),
    ("EfficientNetB0", "efficientnet", {}, None),
    ("EfficientNetV2B0", "efficientnet_v2", {}, None),
    ("ConvNeXtTiny", "convnext", {}, None),
    ("Xception", "xception", {}, None),
    ("InceptionV3", "inception_v3", {}, None),
    ("InceptionResNetV2", "inception_resnet_v2", {}, None),
    ("NASNetMobile", "nasnet", {}, None),
    # other arguments, other input sizes
    ("ResNet50", "resnet", {"include_top": False, "pooling": "avg"}, (160, 160, 3)),
    ("MobileNetV2", "mobilenet_v2", {"include_top": False, "pooling": "avg"}, (160, 160, 3)),
    ("EfficientNetB0", "efficientnet", {"include_top": False, "pooling": "avg"}, (160, 160, 3)),
    ("MobileNet", "mobilenet", {"alpha": 0.5}, None),
    ("MobileNetV2", "mobilenet_v2", {"alpha": 0.5}, None),
]
DEFAULT_SIZE = {"Xception": (299, 299, 3), "InceptionV3": (299, 299, 3), "InceptionResNetV2": (299, 299, 3)}
DEPENDS = {"resnet_v2": ["resnet"]}  # modules whose port uses another module's port


def translate_folder(out: Path) -> tuple[dict, float]:
    """Translate the folder's files in one run into the package `out`; outcomes by module name."""
    paths = sorted(str(p) for p in APPS.glob("*.py") if not p.name.endswith("_test.py"))
    start = time.perf_counter()
    outcomes = translate_many(paths, to="torch", engine="code", jobs=os.cpu_count() or 1)
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    by_name = {}
    for o in outcomes:
        name = Path(o.path).stem
        by_name[name] = o
        if o.code is not None:
            (out / f"{name}.py").write_text(o.code)
    if not (out / "__init__.py").exists():
        (out / "__init__.py").write_text("")
    return by_name, seconds


def _todos(outcome) -> list:
    return [d for d in outcome.diagnostics if d.severity == "todo"]


def _label(builder: str, kwargs: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{builder}({args})" if args else builder


def _count(torch_model) -> int:
    """The checkpoint's numbers (parameters and BatchNorm statistics), as Keras counts its weights:
    non-persistent buffers (BatchNormalization(scale=False)'s constant weight) and BatchNorm's
    `num_batches_tracked` left out."""
    return sum(v.numel() for k, v in torch_model.state_dict().items() if not k.endswith("num_batches_tracked"))


def check(outcomes: dict, builder: str, module: str, kwargs: dict, shape) -> dict:
    row = {"model": _label(builder, kwargs), "input": "x".join(map(str, shape or DEFAULT_SIZE.get(builder, (224, 224, 3)))),
           "keras_params": None, "torch_params": None, "max_abs": None, "max_rel": None, "scaled": None,
           "passed": False, "layers": "", "note": "", "seconds": 0.0}
    for name in [module, *DEPENDS.get(module, [])]:
        outcome = outcomes.get(name)
        if outcome is None or outcome.status == "failed":
            row["note"] = f"not translated: {name}.py failed ({outcome.error if outcome else 'missing'})"
            return row
        todos = _todos(outcome)
        if todos:
            first = todos[0]
            row["note"] = f"not translated: {len(todos)} TODOs in {name}.py (first: line {first.line}: {first.message})"
            return row
    start = time.perf_counter()
    keras_model = torch_model = None
    try:
        source = importlib.import_module(f"keras.src.applications.{module}")
        port = importlib.import_module(f"kapps.{module}")
        extra = {"input_shape": shape} if shape else {}
        keras_model = getattr(source, builder)(weights=None, **kwargs, **extra)
        torch_model = getattr(port, builder)(weights=None, **kwargs, **extra)
        fallback = shape or DEFAULT_SIZE.get(builder, (224, 224, 3))  # MobileNetV3 leaves its size open
        size = tuple(f if d is None else d for d, f in zip(keras_model.inputs[0].shape[1:], fallback))
        row["input"] = "x".join(map(str, size))
        x = np.random.default_rng(0).standard_normal((2, *size)).astype("float32")
        torch_model.eval()
        with torch.no_grad():  # LazyLinear (a Dense after a Flatten) takes its size from a first call
            torch_model(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous())
        randomize(keras_model)
        torch_model.load_state_dict(transfer(keras_model, torch_model), strict=True)
        row["keras_params"] = keras_model.count_params()
        row["torch_params"] = _count(torch_model)
        (ref,), (got,) = run_keras(keras_model, [x]), run_torch(torch_model, [x])
        max_abs, max_rel, scale = errors(ref, got)
        row.update(max_abs=max_abs, max_rel=max_rel, scaled=max_abs / max(1.0, scale),
                   passed=max_abs <= TOL * max(1.0, scale))
        rows = per_layer(keras_model, torch_model, [x], atol=TOL, rtol=TOL)
        compared = [r for r in rows if r["compared"]]
        failed = [r for r in compared if not r["passed"]]
        row["layers"] = f"{len(compared) - len(failed)}/{len(compared)}"
        if failed:
            f = failed[0]
            row["note"] = f"first diverging layer: {f['layer']} ({f['torch']}, max abs {f['max_abs']:.1e})"
        elif not row["passed"]:
            row["note"] = "every compared layer within tolerance; the output is not"
        elif kwargs.get("include_top", True) and float(ref.max()) > 1 - 1e-6:
            last = compared[-1]
            row["note"] = (f"softmax saturated (one class ~1.0); its logits ({last['layer']}, before the activation): "
                           f"max abs {last['max_abs']:.1e}, max rel {last['max_rel']:.1e}")
    except Exception as exc:  # noqa: BLE001 - a failing model is a row of the table
        row["passed"] = False
        row["note"] = f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
        traceback.print_exc(file=sys.stderr)
    finally:
        del keras_model, torch_model
        keras.backend.clear_session()
        gc.collect()
    row["seconds"] = time.perf_counter() - start
    return row


HEADER = ("| model | input | parameters (Keras) | parameters (port checkpoint) | max abs | max rel | "
          "max abs / max(1, \\|out\\|) | result | layers within tol | first diverging layer / note |")


def _num(v, fmt: str) -> str:
    return "" if v is None else format(v, fmt)


def line(r: dict) -> str:
    if r["max_abs"] is None:
        verdict = "SKIP" if r["note"].startswith("not translated") else "ERROR"
    else:
        verdict = "PASS" if r["passed"] else "FAIL"
    note = r["note"].replace("|", "\\|")
    return (f"| {r['model']} | {r['input']} | {_num(r['keras_params'], ',')} | {_num(r['torch_params'], ',')} | "
            f"{_num(r['max_abs'], '.2e')} | {_num(r['max_rel'], '.2e')} | {_num(r['scaled'], '.2e')} | {verdict} | {r['layers']} | {note} |")


def table(rows: list[dict]) -> str:
    return "\n".join([HEADER, "|---|---|---|---|---|---|---|---|---|---|", *(line(r) for r in rows)]) + "\n"


def document(rows: list[dict], files: int, todos: int, seconds: float, command: str, total: float) -> str:
    passed = sum(r["passed"] for r in rows)
    untranslated = sum(r["note"].startswith("not translated") for r in rows)
    errors_ = len(rows) - passed - untranslated
    intro = f"""# keras.applications in PyTorch (code engine)

Produced by `bench/keras_applications.py`. The installed Keras {keras.__version__} `keras/src/applications`
folder ({files} files, the `*_test.py` files left out) is translated to PyTorch in one run by the code engine
(`translate_many(..., to="torch", engine="code")`: {todos} TODOs, {seconds:.0f} s), and the ports are imported
as one package (resnet_v2's port uses resnet's).

For each row, the Keras builder is built with `weights=None` and the arguments shown, and the port with the
same arguments. Where no input size is given it is the builder's default: 224x224x3, 299x299x3 for Xception,
InceptionV3 and InceptionResNetV2; MobileNetV3 leaves its size open and is fed 224x224x3. The Keras weights
are randomised (`portmodel.examples.randomize`, BatchNorm statistics included), carried to the port by
`portmodel.weights.transfer`, and the outputs compared in eval mode on a seeded batch of 2 float32 inputs.

- **max abs**, **max rel** (relative to the output's largest magnitude), **max abs / max(1, |out|)**;
  **PASS**: max abs <= 1e-4 x max(1, |output|).
- **layers within tol**: rows of `portmodel.verify.per_layer(keras, port, [x], atol=1e-4, rtol=1e-4)` within
  that tolerance / rows compared; the first failing row, where any, is the first diverging layer. A
  classifier's softmax output alone can hide errors in its logits (a saturated one: see the row's note): the layers are
  compared too.
- **parameters**: Keras' `count_params()` (BatchNorm statistics included) against the numbers in the port's
  `state_dict()` (BatchNorm's `num_batches_tracked` left out).
- **SKIP**: the model's file still has TODOs after translation; the row gives their count and the first.

Machine: CPU only, {os.cpu_count()} cores ({platform.machine()}, {platform.system()}); Keras {keras.__version__}
({keras.backend.backend()} backend), torch {torch.__version__}, Python {platform.python_version()}.
{passed} of {len(rows)} rows pass, {untranslated} not translated, {errors_} failed; the run took {total:.0f} s.

Reproduce:

```bash
{command}
```

"""
    return intro + table(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", metavar="PATH", help="write the table into this document (e.g. docs/keras_applications.md)")
    ap.add_argument("--models", help="comma-separated builders (default: all), e.g. ResNet50,VGG16")
    args = ap.parse_args()
    wanted = set(args.models.split(",")) if args.models else None
    if wanted and (unknown := wanted - {m[0] for m in MODELS}):
        ap.error(f"unknown model(s): {', '.join(sorted(unknown))}")
    begin = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        outcomes, seconds = translate_folder(Path(tmp) / "kapps")
        todos = sum(len(_todos(o)) for o in outcomes.values())
        failed = [n for n, o in outcomes.items() if o.status == "failed"]
        print(f"translated {len(outcomes)} files in {seconds:.1f} s ({todos} TODOs, {len(failed)} failed"
              f"{': ' + ', '.join(failed) if failed else ''})", flush=True)
        sys.path.insert(0, tmp)
        try:
            print(HEADER, flush=True)
            for builder, module, kwargs, shape in MODELS:
                if wanted and builder not in wanted:
                    continue
                row = check(outcomes, builder, module, kwargs, shape)
                rows.append(row)
                print(line(row), f"<!-- {row['seconds']:.0f} s -->", flush=True)
        finally:
            sys.path.remove(tmp)
    total = time.perf_counter() - begin
    print()
    print(table(rows), end="")
    if args.write:
        command = ".venv/bin/python bench/keras_applications.py --write docs/keras_applications.md"
        if args.models:
            command += f" --models {args.models}"
        Path(args.write).write_text(document(rows, len(outcomes), todos, seconds, command, total))
        print(f"wrote {args.write}")
    return 0 if all(r["passed"] or r["note"].startswith("not translated") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
