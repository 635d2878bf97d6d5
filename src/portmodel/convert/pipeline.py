"""`portmodel convert`: a trained model to another runtime through ONNX, every stage checked.

    source ──export──▶ model.onnx ──onnx2tf (worker)──▶ saved_model/, model_float32.tflite
                            └──portmodel.onnx_torch──▶ model.py + model.safetensors (+ model.pt2)

Every stage runs on the same seeded (or given) inputs and is compared with the source's
outputs: ONNX Runtime first (the neutral reference for the exporter), then each target.
A stage that raises stops the run with an error naming the stage (and the op, when a
converter names one) and writes nothing; a stage whose numbers are out of tolerance stops
the run too, and only the report is written. Everything is built in a temporary folder
and moved into place at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import PortmodelError
from ..core.fsutil import write_text
from .runtimes import align_output, assign, ort_session, run_saved_model, run_tflite
from .sources import Origin, Source
from .translated import keras_port, tensorflow_files

TARGETS = ("onnx", "saved_model", "tflite", "keras", "torch", "safetensors")
QUANTIZE = ("float16", "dynamic-int8")
# Lossy by request: judged against the output's scale, and the report says so.
LOSSY_RTOL = {"float16": 1e-2, "dynamic-int8": 1e-1}


@dataclass
class Stage:
    name: str
    tool: str
    seconds: float
    files: list[str]
    outputs: list[dict] = field(default_factory=list)
    atol: float = 0.0
    rtol: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(o["passed"] for o in self.outputs)


def compare(stage: Stage, ref: list[np.ndarray], got: list[np.ndarray]) -> Stage:
    """Fill `stage.outputs` with the error of each output against the source's."""
    from ..verify import errors

    if len(ref) != len(got):
        raise PortmodelError(f"stage {stage.name}: the source gives {len(ref)} outputs, this stage {len(got)}")
    moved = False
    for i, (r, g) in enumerate(zip(ref, got)):
        g, t = align_output(r, np.asarray(g))
        moved = moved or t
        if g.shape != r.shape:
            raise PortmodelError(f"stage {stage.name}: output {i} has shape {g.shape}, the source's {r.shape}")
        max_abs, max_rel, scale = errors(r, g)
        stage.outputs.append({
            "name": f"output_{i}", "shape": list(r.shape), "max_abs": max_abs, "max_rel": max_rel,
            "passed": max_abs <= stage.atol + stage.rtol * scale,
        })
    if moved:
        stage.notes.append("outputs are channels-last; compared after moving channels back")
    return stage


def convert(
    spec: str,
    targets: list[str],
    out_dir: str,
    *,
    weights: str | None = None,
    input_shape=None,
    inputs_path: str | None = None,
    quantize: list[str] = (),
    keep_nchw: bool = False,
    exporter: str = "dynamo",
    atol: float = 1e-4,
    rtol: float = 0.0,
    seed: int = 0,
    force: bool = False,
) -> dict:
    """Convert `spec` to each of `targets` under `out_dir`; returns the report dict."""
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise PortmodelError(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not force:
        raise PortmodelError("output folder exists and is not empty; pass --force to replace its contents", str(out))
    origin = Origin(spec, weights, tuple(input_shape) if input_shape else None, exporter)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".portmodel-convert-", dir=out.parent.resolve())
    except OSError as exc:
        raise PortmodelError(f"cannot write the output folder: {exc.strerror}", str(out.parent)) from None
    try:
        source, inputs, ref, exported, attempts = run_source(origin, inputs_path, seed, tmp)
        report = _run(source, exported, targets, tmp, inputs, ref, quantize, keep_nchw, atol, rtol)
        report["network_attempts"] = attempts + report["network_attempts"]
        report.update(source=spec, source_kind=source.kind, source_layout=source.layout, targets=targets,
                      inputs={"from": inputs_path or f"seeded standard normal (seed {seed})",
                              "arrays": [{"shape": list(a.shape), "dtype": str(a.dtype)} for a in inputs]},
                      notes=source.notes)
        _publish(report, tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def run_source(origin: Origin, inputs_path: str | None, seed: int, tmp: str):
    """Load, run and export the source in its own offline process (source_worker), writing
    model.onnx into `tmp`: (Source described, inputs, the source's outputs, the exporter's
    info, network attempts)."""
    from . import sources

    arrays = os.path.join(tmp, ".arrays.npz")
    request = {"spec": origin.spec, "weights": origin.weights, "input_shape": origin.input_shape,
               "exporter": origin.exporter, "inputs_path": inputs_path, "seed": seed, "arrays": arrays,
               "onnx": os.path.join(tmp, "model.onnx"), "external_data_bytes": sources.EXTERNAL_DATA_BYTES}
    # run where the user is: the spec, --weights and --inputs may be relative paths
    result = _worker("portmodel.convert.source_worker", request, tmp, "the source's process (load, run, export)",
                     cwd=os.getcwd())
    if result["network_attempts"]:
        raise PortmodelError(f"the source tried to reach the network: {result['network_attempts'][0]}")
    if not result["ok"]:
        err = result["error"]
        raise PortmodelError(err["message"], err["path"], err["line"])
    with np.load(arrays, allow_pickle=False) as saved:
        inputs = [saved[f"input_{i}"] for i in range(len(result["source"]["input_specs"]))]
        ref = [saved[k] for k in sorted((k for k in saved.files if k.startswith("output_")), key=_index)]
    os.remove(arrays)
    return Source.described(result["source"], origin), inputs, ref, result["export"], result["network_attempts"]


def _index(key: str) -> int:
    return int(key.rsplit("_", 1)[1])


@dataclass
class Job:
    """What every stage of one conversion shares."""

    source: Source
    exported: dict  # the source worker's export: {"exporter", "seconds", "fallback_from"?, "notes"?}
    tmp: str  # the temporary output folder
    inputs: list[np.ndarray]
    ref: list[np.ndarray]  # the source's outputs on `inputs`
    quantize: list[str]
    keep_nchw: bool
    atol: float
    rtol: float
    names: list[str] = field(default_factory=list)  # the ONNX graph's inputs and outputs
    outputs: list[str] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    network_attempts: list[str] = field(default_factory=list)
    port: object = None  # the Keras port of a PyTorch source, once translated

    def keras_port(self):
        """portmodel's own translation of the PyTorch source (model_keras.py), with its weights."""
        if self.port is None:
            self.port = keras_port(self.source, os.path.join(self.tmp, "model_keras.py"))
        return self.port

    @property
    def onnx_path(self) -> str:
        return os.path.join(self.tmp, "model.onnx")

    def check(self, stage: Stage, got: list[np.ndarray]) -> bool:
        """Compare `stage`'s outputs with the source's, record it; True when it passed."""
        self.stages.append(compare(stage, self.ref, got))
        return stage.passed

    def stage(self, name: str, tool: str, seconds: float, files: list[str], notes=(), rtol=None) -> Stage:
        return Stage(name, tool, seconds, files, atol=self.atol, rtol=self.rtol if rtol is None else rtol,
                     notes=list(notes))


def _run(source, exported, targets, tmp, inputs, ref, quantize, keep_nchw, atol, rtol) -> dict:
    job = Job(source, exported, tmp, inputs, ref, quantize, keep_nchw, atol, rtol)
    ok = _onnx_stage(job)
    tf_targets = [t for t in targets if t in ("saved_model", "tflite")]
    if ok and tf_targets:
        ok = _tensorflow_stages(job, tf_targets)
    if ok and "keras" in targets:
        ok = _keras_stage(job)
    if ok and any(t in ("torch", "safetensors") for t in targets):
        ok = _torch_stage(job, "torch" in targets)
    report = {"atol": atol, "rtol": rtol, "network_attempts": job.network_attempts, "passed": ok,
              "stages": [{**asdict(s), "passed": s.passed} for s in job.stages]}
    if not ok:
        report["stopped_at"] = job.stages[-1].name
    return report


def _onnx_stage(job: Job) -> bool:
    """Check the graph the source's process exported with ONNX Runtime."""
    info = job.exported
    try:
        session = ort_session(job.onnx_path)
    except PortmodelError as exc:
        raise PortmodelError(f"stage onnx ({info['exporter']}) wrote a model ONNX Runtime refuses: {exc.args[0]}") from None
    job.names = [i.name for i in session.get_inputs()]
    job.outputs = [o.name for o in session.get_outputs()]
    notes = [f"fell back: {t}" for t in info.get("fallback_from", [])] + info.get("notes", [])
    stage = job.stage("onnx", info["exporter"], info["seconds"], ["model.onnx", *_external_data(job.tmp)], notes)
    shapes = {i.name: tuple(d if isinstance(d, int) else None for d in i.shape) for i in session.get_inputs()}
    feeds = assign(job.inputs, job.source.input_names, shapes)
    got = session.run(None, feeds)
    del session  # ONNX Runtime holds its own copy of the weights
    return job.check(stage, got)


def _tensorflow_stages(job: Job, targets: list[str]) -> bool:
    """SavedModel and TFLite files, each checked; the SavedModel moved into place last."""
    work = os.path.join(job.tmp, ".tensorflow")
    dynamic_int8 = os.path.join(job.tmp, "model_dynamic_int8.tflite") if "dynamic-int8" in job.quantize else None
    start = time.perf_counter()
    tool, notes, request = _tensorflow_files(job, work, "tflite" in targets, dynamic_int8)
    seconds = time.perf_counter() - start
    if "tflite" in targets:
        notes += _builtin_tflite(work, job.tmp, request)
    if "saved_model" in targets:
        got = run_saved_model(work, job.inputs, job.names, job.outputs)
        if not job.check(job.stage("saved_model", tool, seconds, ["saved_model/"], notes), got):
            return False
    if "tflite" in targets:
        variants = [("float32", os.path.join(work, "model_float32.tflite"))]
        if "float16" in job.quantize:
            variants.append(("float16", os.path.join(work, "model_float16.tflite")))
        if dynamic_int8:
            variants.append(("dynamic-int8", dynamic_int8))
        for kind, path in variants:
            name = os.path.join(job.tmp, f"model_{kind.replace('-', '_')}.tflite")
            if os.path.abspath(path) != name:
                os.replace(path, name)
            lite_tool = tool if tool.startswith(("onnx2tf", "portmodel")) else f"{tool} + TFLiteConverter"
            if kind == "dynamic-int8":
                lite_tool = "TFLiteConverter (dynamic range)"
            lossy = LOSSY_RTOL.get(kind)
            stage = job.stage(f"tflite ({kind})", lite_tool, 0.0, [os.path.basename(name)], notes, rtol=lossy)
            if lossy:
                stage.notes.append(f"{kind} weights by request: tolerance {lossy:g} of the output's scale")
            got = run_tflite(name, job.inputs, job.names, job.outputs)
            if not job.check(stage, got):
                return False
    if "saved_model" in targets:
        for name in os.listdir(work):
            if name.endswith(".tflite"):
                os.remove(os.path.join(work, name))
        os.replace(work, os.path.join(job.tmp, "saved_model"))
    return True


def _tensorflow_files(job: Job, work: str, tflite: bool, dynamic_int8) -> tuple[str, list[str], dict | None]:
    """Write the SavedModel (and TFLite files) into `work` by the route the source allows:
    (tool, notes, the onnx2tf request that worked or None)."""
    source, batch = job.source, job.inputs[0].shape[0]
    if source.kind in ("keras", "saved_model"):  # already TensorFlow: no ONNX detour
        tool = "Keras export" if source.kind == "keras" else "SavedModel as given"
        notes = [f"{tool} + TensorFlow's TFLite converter (no ONNX detour for a TensorFlow source)"]
        notes += tensorflow_files(work, job.quantize, dynamic_int8, tflite, batch, saved_model=source.path,
                                  keras_model=source.live_model() if source.kind == "keras" else None)
        return tool, notes, None
    notes = [] if job.keep_nchw else ["inputs are channels-last (onnx2tf); --keep-nchw keeps the source layout"]
    try:
        more, request = _onnx2tf(job, work, dynamic_int8)
        return "onnx2tf", notes + more, request
    except PortmodelError as exc:
        if not source.translatable:
            raise
        shutil.rmtree(work, ignore_errors=True)
        try:
            port = job.keras_port()
        except PortmodelError as closed:
            raise PortmodelError(f"{exc.args[0]}; portmodel's own translation cannot take over: {closed}") from None
        notes = [(f"{exc.args[0]}; converted through portmodel's own translation of the source instead "
                  "(Keras port with the source's weights, exported; TFLite by TensorFlow's converter)"),
                 "inputs are channels-last, as the Keras port takes them"]
        notes += tensorflow_files(work, job.quantize, dynamic_int8, tflite, batch, keras_model=port)
        return "portmodel translation + Keras export", notes, None


def _keras_stage(job: Job) -> bool:
    """Keras 3: the Keras source saved (model.keras), the Keras port of PyTorch code (its
    classes in model_keras.py, model.keras), or for every other source (and PyTorch code the
    translation cannot take) the ONNX graph written as Keras source (onnx_keras); reloaded
    and checked."""
    from ..loading import import_file, keras_custom_objects, load_keras_file
    from ..verify import run_keras, run_keras_port

    source, path = job.source, os.path.join(job.tmp, "model.keras")
    start = time.perf_counter()
    if source.kind == "keras":
        model, code, run, files = source.live_model(), source.path, run_keras, ["model.keras"]
        notes = []
    elif source.translatable:
        try:
            model = job.keras_port()
        except PortmodelError as exc:
            return _keras_from_onnx(job, [f"portmodel's translation of the source failed ({exc.args[0][:200]}); "
                                          + "written from the ONNX graph instead"])
        code, run = os.path.join(job.tmp, "model_keras.py"), run_keras_port
        files = ["model_keras.py", "model.keras"]
        notes = [("portmodel's translation of the source (channels-last); model.keras loads with the classes "
                 "of model_keras.py as custom_objects")]
    else:
        return _keras_from_onnx(job, [])
    try:
        model.save(path)
        custom = keras_custom_objects(import_file(code)) if code.endswith(".py") else {}
        again = load_keras_file(path, custom)
    except PortmodelError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras' own reason (an unserialisable constructor argument...)
        reason = str(exc).splitlines()[0][:200] if str(exc).strip() else "a layer has no get_config()"
        if source.kind != "keras":  # the translation's classes do not serialise: the ONNX route's model does
            if os.path.exists(path):
                os.remove(path)
            return _keras_from_onnx(job, [(f"portmodel's translation cannot be saved as .keras ({type(exc).__name__}: "
                                          f"{reason}); written from the ONNX graph instead")])
        raise PortmodelError(
            f"stage keras: the model cannot be saved as .keras ({type(exc).__name__}: {reason}); constructor "
            "arguments must be serialisable (numbers, strings, tuples): `portmodel port --to keras` writes its "
            "weights as model.weights.h5 instead"
        ) from None
    stage = job.stage("keras", "portmodel translation + Keras save" if files[0] != "model.keras" else "Keras save",
                      time.perf_counter() - start, files, notes)
    return job.check(stage, run(again, job.inputs))


def _keras_from_onnx(job: Job, notes: list[str]) -> bool:
    """ONNX -> Keras 3 source (portmodel.onnx_keras): model_keras.py (a keras.Model subclass),
    model.weights.h5 and, where Keras can save it, model.keras; checked as reloaded."""
    from ..loading import load_keras_file
    from ..onnx_keras import UnsupportedOp, onnx_to_keras, save

    start = time.perf_counter()
    doc = f"Keras 3 model converted by portmodel from {Path(job.source.path).name} (through ONNX)."
    try:
        result = onnx_to_keras(job.onnx_path, doc=doc, keep_nchw=job.keep_nchw)
    except UnsupportedOp as exc:
        raise PortmodelError(f"stage keras (ONNX -> Keras) stopped: {exc}") from None
    model, files, more = save(result, job.tmp, code_name="model_keras.py")
    notes = [*notes, *more]
    if "model.keras" in files:  # the file a user gets, as Keras reloads it
        model = load_keras_file(os.path.join(job.tmp, "model.keras"), {result.class_name: type(model)})
        notes.append("model.keras loads once model_keras.py is imported (it registers the class)")
    cl = [n for n, lay in zip(result.inputs, result.input_layouts) if lay == "cl"]
    if cl:
        notes.append(f"channels-last: {', '.join(cl)} taken NHWC; --keep-nchw keeps the source layout")
    stage = job.stage("keras", "portmodel.onnx_keras", time.perf_counter() - start, files, notes)
    shapes = dict(zip(result.onnx_inputs, result.onnx_shapes))
    feeds = assign(job.inputs, job.source.input_names, shapes)
    arrays = result.to_keras([feeds[name] for name in result.onnx_inputs])
    outputs = model(arrays[0] if len(arrays) == 1 else arrays)
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    passed = job.check(stage, result.from_keras([np.asarray(o) for o in outputs]))
    shutil.rmtree(os.path.join(job.tmp, "__pycache__"), ignore_errors=True)
    return passed


def _onnx2tf(job: Job, work: str, dynamic_int8) -> tuple[list[str], dict]:
    """onnx2tf in its worker; onnx2tf often needs static shapes, so a failure is retried
    once with the batch fixed to the verification batch. Returns (notes, the request that worked)."""
    from .onnx_fixes import reduce_l2_as_sum

    fixed = os.path.join(job.tmp, ".for_onnx2tf", "model.onnx")  # the model.onnx artifact stays as exported
    os.makedirs(os.path.dirname(fixed), exist_ok=True)
    shutil.copyfile(job.onnx_path, fixed)
    for name in _external_data(job.tmp):  # weights over 2 GB live beside the graph: link them, not copy
        os.link(os.path.join(job.tmp, name), os.path.join(os.path.dirname(fixed), name))
    notes = reduce_l2_as_sum(fixed)
    request = {"onnx": fixed, "out": work, "keep_nchw": job.names if job.keep_nchw else [],
               "dynamic_int8": dynamic_int8}
    try:
        job.network_attempts = run_worker(request, job.tmp)["network_attempts"]
        return notes, request
    except PortmodelError as exc:
        shutil.rmtree(work, ignore_errors=True)
        request["batch_size"] = batch = job.inputs[0].shape[0]
        try:
            job.network_attempts = run_worker(request, job.tmp)["network_attempts"]
        except PortmodelError:
            raise exc from None
        return [*notes, f"fixed batch of {batch}: onnx2tf could not convert the dynamic batch ({exc.args[0][-160:]})"], request


def _builtin_tflite(work, tmp, request: dict | None) -> list[str]:
    """TFLite files that need TensorFlow Select ops (Flex: Erf for exact GELU...) run only
    with the Flex delegate, which LiteRT's Python interpreter lacks: onnx2tf rewrites those
    ops with builtin ones (its pseudo operators) for the TFLite files."""
    from .runtimes import flex_ops

    needed = flex_ops(os.path.join(work, "model_float32.tflite"))
    if not needed:
        return []
    if request is None or not set(needed) <= PSEUDO_OPS:
        raise PortmodelError(f"stage tflite: the model needs TensorFlow Select ops {', '.join(needed)} "
                             "(Flex delegate), which have no builtin replacement here")
    again = os.path.join(tmp, ".tensorflow-builtin")
    run_worker({**request, "out": again, "dynamic_int8": None, "pseudo_ops": needed}, tmp)
    for name in os.listdir(again):
        if name.endswith(".tflite"):
            os.replace(os.path.join(again, name), os.path.join(work, name))
    shutil.rmtree(again, ignore_errors=True)
    return [(f"TFLite only: {', '.join(needed)} written with builtin ops (onnx2tf pseudo operators; the "
             "SavedModel keeps the TensorFlow op)")]


# Ops onnx2tf can write with builtin TFLite ops instead of Select TF ops (replace_to_pseudo_operators)
PSEUDO_OPS = {"Erf", "Asin", "Acos", "Atan", "Abs", "Neg", "HardSwish", "GeLU", "PReLU", "LeakyReLU", "Power",
              "GatherND", "MatMulInteger"}


def _external_data(folder: str) -> list[str]:
    """The files holding model.onnx's external tensors (written for models over 2 GB)."""
    return sorted(n for n in os.listdir(folder) if n.startswith("model.onnx") and n != "model.onnx")


def run_worker(request: dict, tmp: str) -> dict:
    """Run onnx2tf in its own offline process (see onnx2tf_worker); raise naming the stage."""
    result = _worker("portmodel.convert.onnx2tf_worker", request, tmp, "stage saved_model (onnx2tf)")
    if result["network_attempts"]:
        raise PortmodelError(f"stage saved_model (onnx2tf) tried to reach the network: {result['network_attempts'][0]}")
    if not result["ok"]:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", result["stdout"])
        ops = re.findall(r"onnx_op_(?:type|name): (\S+)", plain)
        detail = f"at ONNX op {' '.join(ops[-2:])}" if ops else ""
        raise PortmodelError(f"stage saved_model (onnx2tf) failed: {result['error']}" + (f" ({detail})" if detail else ""))
    return result


def _worker(module: str, request: dict, tmp: str, what: str, cwd: str | None = None) -> dict:
    """`python -m module REQUEST RESULT` in `cwd` (default `tmp`): its result, with its stdout;
    a crash (no result written: killed for memory, a segfault...) raises naming `what`."""
    req, res = os.path.join(tmp, ".request.json"), os.path.join(tmp, ".result.json")
    Path(req).write_text(json.dumps(request))
    proc = subprocess.run(
        [sys.executable, "-m", module, req, res],
        check=False, capture_output=True, text=True, cwd=cwd or tmp, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    os.remove(req)
    if not os.path.exists(res):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise PortmodelError(f"{what} crashed (exit status {proc.returncode}): {' | '.join(tail)[:600]}")
    result = json.loads(Path(res).read_text())
    os.remove(res)
    return {**result, "stdout": proc.stdout}


def _torch_stage(job: Job, export_pt2: bool) -> bool:
    """ONNX -> PyTorch source + state_dict (portmodel.onnx_torch), checked; model.pt2 where
    torch.export takes the module."""
    import torch

    from ..loading import import_file
    from ..onnx_torch import UnsupportedOp, onnx_to_torch
    from ..streaming import write_arrays
    from ..verify import run_torch_source

    start = time.perf_counter()
    doc = f"PyTorch module converted by portmodel from {Path(job.source.path).name} (through ONNX)."
    try:
        result = onnx_to_torch(job.onnx_path, doc=doc)
    except UnsupportedOp as exc:
        raise PortmodelError(f"stage torch (ONNX -> PyTorch) stopped: {exc}") from None
    model_py = os.path.join(job.tmp, "model.py")
    write_text(model_py, result.code)
    write_arrays(result.state, os.path.join(job.tmp, "model.safetensors"))
    state = {k: torch.from_numpy(v) for k, v in result.state.items()}  # no copy: the arrays are ours
    module = import_file(model_py)
    with torch.device("meta"):  # no second copy of the weights: the state_dict's tensors are assigned
        model = getattr(module, result.class_name)().eval()
    model.load_state_dict(state, strict=True, assign=True)
    notes = [f"forward({', '.join(result.inputs)}) takes inputs in the ONNX graph's layout"]
    stage = job.stage("torch", "portmodel.onnx_torch", time.perf_counter() - start,
                      ["model.py", "model.safetensors"], notes)
    passed = job.check(stage, run_torch_source(model, job.inputs))
    if export_pt2 and passed:
        stage.notes.append(_export_pt2(model, job.inputs, os.path.join(job.tmp, "model.pt2"), stage))
    shutil.rmtree(os.path.join(job.tmp, "__pycache__"), ignore_errors=True)
    return passed


def _export_pt2(model, inputs, path: str, stage: Stage) -> str:
    """model.pt2 (torch.export, dynamic batch) where torch can export the module."""
    import torch

    args = tuple(torch.from_numpy(a) for a in inputs)
    batch = torch.export.Dim("batch")
    try:
        program = torch.export.export(model, args, dynamic_shapes=tuple({0: batch} for _ in args))
        torch.export.save(program, path)
    except Exception as exc:  # noqa: BLE001 - report why, keep the module
        return f"no model.pt2: torch.export failed ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
    stage.files.append("model.pt2")
    return "model.pt2: torch.export ExportedProgram with a dynamic batch"


def _publish(report: dict, tmp: str, out: Path) -> None:
    from ..report import write_reports
    from .report import render_markdown

    files = [f.rstrip("/") for s in report["stages"] for f in s["files"]] if report["passed"] else []
    if "onnx" not in report["targets"]:
        files = [f for f in files if not f.startswith("model.onnx")]
    write_reports(report, os.path.join(tmp, "report.json"), os.path.join(tmp, "report.md"), render_markdown)
    out.mkdir(parents=True, exist_ok=True)
    for name in [*files, "report.json", "report.md"]:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(os.path.join(tmp, name), target)
