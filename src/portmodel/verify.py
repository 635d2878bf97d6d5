"""Run a Keras model and its PyTorch port on the same seeded inputs and compare them.

Layout-aware: rank-4/5 inputs go to the port channels-first and its rank-4/5 outputs come
back channels-last (docs/layout.md). Both models run in inference mode. Error is reported
as max abs and max rel, where rel is relative to the output's largest magnitude (element-
wise relative error explodes near zero). PASS means max_abs <= atol + rtol * scale.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from .core.errors import PortmodelError
from .core.rules import RuleSet
from .rulebook import load_rules
from .weights import keras_units, pair_units, torch_leaves


@dataclass
class OutputError:
    name: str
    shape: list
    max_abs: float
    max_rel: float
    passed: bool


@dataclass
class VerifyResult:
    device: str
    atol: float
    rtol: float
    outputs: list[OutputError]
    first_divergence: dict | None = None
    layers: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["passed"] = self.passed
        return d


def input_specs(keras_model, input_shape=None) -> list[tuple[tuple, str]]:
    """(shape without batch, dtype) of each model input."""
    try:
        inputs = keras_model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        specs = [(tuple(t.shape[1:]), str(t.dtype)) for t in inputs]
        if all(None not in s for s, _ in specs):
            return specs
    if not input_shape:
        raise PortmodelError("the model's input shape is unknown; pass --input-shape")
    return [(tuple(input_shape), "float32")]


def make_inputs(keras_model, input_shape=None, *, seed: int = 0, batch: int = 4, rules: RuleSet | None = None):
    """Seeded inputs the model accepts: integer tokens below the vocabulary for Embedding."""
    rules = rules or load_rules()
    rng = np.random.default_rng(seed)
    units = keras_units(keras_model, rules)
    vocab = min((u.layer.input_dim for u in units if u.rule.id == "embedding"), default=None)
    first_is_embedding = bool(units) and units[0].rule.id == "embedding"
    arrays = []
    for shape, dtype in input_specs(keras_model, input_shape):
        if vocab is not None and ("int" in dtype or first_is_embedding):
            arrays.append(rng.integers(0, vocab, size=(batch, *shape)).astype("int64"))
        else:
            arrays.append(rng.standard_normal((batch, *shape)).astype("float32"))
    return arrays


def load_inputs(path: str, keras_model, input_shape=None) -> list[np.ndarray]:
    """User-given inputs: one array in .npy, or .npz arrays in input order (batch first)."""
    return load_array_inputs(path, None, input_specs(keras_model, input_shape))


def load_array_inputs(path: str, input_shape, specs=None) -> list[np.ndarray]:
    """Arrays from .npy/.npz checked against `specs` ((shape, dtype) per input) or one shape."""
    from pathlib import Path

    specs = specs if specs is not None else [(tuple(input_shape), "float32")]
    if not Path(path).is_file():
        raise PortmodelError("file not found", path)
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise PortmodelError(f"cannot read the inputs: {exc}", path) from None
    arrays = [data] if isinstance(data, np.ndarray) else [data[k] for k in data.files]
    if len(arrays) != len(specs):
        raise PortmodelError(f"the model takes {len(specs)} input(s), the file has {len(arrays)}", path)
    for arr, (shape, _) in zip(arrays, specs):
        if tuple(arr.shape[1:]) != tuple(shape):
            raise PortmodelError(f"input of shape {arr.shape} does not fit (batch, {', '.join(map(str, shape))})", path)
    return [a.astype("float32") if a.dtype.kind == "f" else a.astype("int64") for a in arrays]


def _to_port(arr: np.ndarray):
    import torch

    t = torch.from_numpy(arr)
    if arr.ndim in (4, 5):
        t = t.permute(0, arr.ndim - 1, *range(1, arr.ndim - 1)).contiguous()
    return t


def _from_port(t) -> np.ndarray:
    arr = t.detach().cpu().double().numpy()
    if arr.ndim in (4, 5):
        arr = arr.transpose(0, *range(2, arr.ndim), 1)
    return arr


def _flat(x) -> list:
    if isinstance(x, dict):
        return [v for _, v in sorted(x.items())]
    if isinstance(x, list | tuple):
        return list(x)
    return [x]


@contextlib.contextmanager
def exact_float32():
    """Full float32 matmuls and convolutions while verifying.

    GPUs round float32 matmul/conv inputs to TF32 (10-bit mantissa) where allowed: torch's
    cuDNN convolutions do by default, and so does XLA (Keras on JAX) for every matmul. That
    costs ~1e-3 on outputs of order 1 and would hide the translation's own error.
    """
    import torch

    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    jax_ctx = contextlib.nullcontext()
    if os.environ.get("KERAS_BACKEND") == "jax":
        import jax

        jax_ctx = jax.default_matmul_precision("highest")
    try:
        with jax_ctx:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def run_keras(keras_model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    with exact_float32():
        out = keras_model(inputs if len(inputs) > 1 else inputs[0], training=False)
        return [np.asarray(o) for o in _flat(out)]


def run_torch(torch_model, inputs: list[np.ndarray], device: str = "cpu") -> list[np.ndarray]:
    import torch

    torch_model.eval().to(device)
    dtype = _param_dtype(torch_model)
    with torch.no_grad(), exact_float32():
        out = torch_model(*[_to_port(a).to(device, dtype=dtype if a.dtype.kind == "f" else None) for a in inputs])
    return [_from_port(o) for o in _flat(out)]


def _param_dtype(torch_model):
    """The model's floating dtype: inputs are given to it in that dtype."""
    import torch

    return next((p.dtype for p in torch_model.parameters() if p.is_floating_point()), torch.float32)


def errors(ref: np.ndarray, got: np.ndarray) -> tuple[float, float, float]:
    """(max abs, max rel to the reference's scale, that scale)."""
    if ref.shape != got.shape:
        raise PortmodelError(f"output shapes differ: Keras {ref.shape} vs port {got.shape}")
    a, b = ref.astype("float64"), got.astype("float64")
    with np.errstate(invalid="ignore"):
        diff = np.where(a == b, 0.0, np.abs(a - b))  # equal infinities agree; a NaN never does
    diff = np.where(np.isnan(diff), np.inf, diff)
    finite = np.abs(a[np.isfinite(a)])
    scale = float(finite.max()) if finite.size else 0.0
    max_abs = float(diff.max()) if diff.size else 0.0
    return max_abs, max_abs / scale if scale > 0 else max_abs, scale


def compare(keras_model, torch_model, inputs, *, device="cpu", atol=1e-5, rtol=0.0, ref=None) -> VerifyResult:
    """Max abs/rel error per output of the port against the Keras model."""
    ref = ref if ref is not None else run_keras(keras_model, inputs)
    got = run_torch(torch_model, inputs, device)
    if len(ref) != len(got):
        raise PortmodelError(f"Keras gives {len(ref)} outputs, the port {len(got)}")
    outs = []
    for i, (r, g) in enumerate(zip(ref, got)):
        max_abs, max_rel, scale = errors(r, g)
        outs.append(OutputError(f"output_{i}", list(r.shape), max_abs, max_rel, max_abs <= atol + rtol * scale))
    return VerifyResult(device, atol, rtol, outs)


def per_layer(keras_model, torch_model, inputs, *, atol=1e-5, rtol=0.0, rules=None) -> list[dict]:
    """Compare each paired layer's output; the first failing row is the divergence."""

    rules = rules or load_rules()
    units = keras_units(keras_model, rules)
    leaves = torch_leaves(torch_model)
    captured_k: dict[int, np.ndarray] = {}
    captured_t: dict[int, object] = {}
    modules: dict[int, str] = {}  # unit -> the torch module path(s) it pairs with
    restore, handles = [], []
    for i, (unit, group, level, _) in enumerate(pair_units(units, leaves)):
        if not group:
            break
        modules[i] = ", ".join(name for name, _ in group)
        if level + 1 < getattr(group[0][1], "num_layers", 1):
            continue  # an inner level of a multi-layer torch RNN: torch only shows the last one
        layer = unit.layer
        act = getattr(layer, "activation", None) if unit.rule.activation else None
        if act is not None and getattr(act, "__name__", "") != "linear":  # the port applies it after the module
            def grab(x, _i=i, _act=act):
                captured_k[_i] = np.asarray(x)
                return _act(x)

            object.__setattr__(layer, "activation", grab)
            restore.append((layer, "activation", act))
        else:
            orig = layer.call

            def call(*a, _i=i, _orig=orig, **kw):
                out = _orig(*a, **kw)
                captured_k[_i] = np.asarray(_flat(out)[0])
                return out

            object.__setattr__(layer, "call", call)
            restore.append((layer, "call", None))

        def hook(_m, _inp, out, _i=i):  # a copy: a later in-place op (ReLU(inplace=True)) must not change it
            captured_t[_i] = (out[0] if isinstance(out, tuple) else out).detach().clone()

        handles.append(group[-1][1].register_forward_hook(hook))
    try:
        run_keras(keras_model, inputs)
        run_torch(torch_model, inputs)
    finally:
        for layer, attr, value in restore:
            if value is None:
                object.__delattr__(layer, attr)
            else:
                object.__setattr__(layer, attr, value)
        for h in handles:
            h.remove()
    rows = []
    for i, unit in enumerate(units):
        if i not in captured_k or i not in captured_t:
            continue
        k = captured_k[i]
        t = captured_t[i].detach().cpu().double().numpy()
        # channels-first back to Keras order: by the rule's layout (shapes alone are ambiguous
        # when channels == height == width), else when only the transpose makes them agree
        if t.ndim >= 3 and (unit.rule.layout == "channels_first" or t.shape != k.shape):
            t = t.transpose(0, *range(2, t.ndim), 1)
        if t.shape != k.shape:
            rows.append({"layer": unit.name, "torch": modules[i], "compared": False})
            continue
        max_abs, max_rel, scale = errors(k, t)
        rows.append(
            {"layer": unit.name, "torch": modules[i], "compared": True, "max_abs": max_abs, "max_rel": max_rel,
             "passed": max_abs <= atol + rtol * scale}
        )
    return rows


def verify(keras_model, torch_model, inputs, *, devices=("cpu",), atol=1e-5, rtol=0.0, layers=False):
    """Compare on each device; with `layers`, also name the first diverging layer."""
    ref = run_keras(keras_model, inputs)
    results = []
    for device in devices:
        res = compare(keras_model, torch_model, inputs, device=device, atol=atol, rtol=rtol, ref=ref)
        if layers and device == "cpu":
            res.layers = per_layer(keras_model, torch_model, inputs, atol=atol, rtol=rtol)
            res.first_divergence = next((r for r in res.layers if r.get("compared") and not r["passed"]), None)
        results.append(res)
    torch_model.to("cpu")
    return results


def resolve_devices(choice: str) -> list[str]:
    import torch

    if choice == "cpu":
        return ["cpu"]
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise PortmodelError("--device cuda: no CUDA device is available")
        return ["cuda"]
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# -- PyTorch source, Keras port ---------------------------------------------------------------


def to_keras_layout(arr: np.ndarray) -> np.ndarray:
    """A torch-layout array as the Keras port takes it (rank 4/5: channels last)."""
    return arr.transpose(0, *range(2, arr.ndim), 1) if arr.ndim in (4, 5) else arr


def from_keras_layout(arr: np.ndarray) -> np.ndarray:
    return arr.transpose(0, arr.ndim - 1, *range(1, arr.ndim - 1)) if arr.ndim in (4, 5) else arr


def make_torch_inputs(torch_model, input_shape, *, seed: int = 0, batch: int = 4) -> list[np.ndarray]:
    """Seeded inputs for a PyTorch model: token ids when its first layer is an Embedding."""
    import torch

    if not input_shape:
        raise PortmodelError("the model's input shape is unknown; pass --input-shape")
    rng = np.random.default_rng(seed)
    first = next((m for m in torch_model.modules() if not list(m.children())), None)
    if isinstance(first, torch.nn.Embedding):
        return [rng.integers(0, first.num_embeddings, size=(batch, *input_shape)).astype("int64")]
    return [rng.standard_normal((batch, *input_shape)).astype("float32")]


def run_torch_source(torch_model, inputs: list[np.ndarray], device: str = "cpu") -> list[np.ndarray]:
    import torch

    torch_model.eval().to(device)
    dtype = _param_dtype(torch_model)
    tensors = [torch.from_numpy(a).to(device, dtype=dtype if a.dtype.kind == "f" else None) for a in inputs]
    with torch.no_grad(), exact_float32():
        out = torch_model(*tensors)
    return [o.detach().cpu().double().numpy() for o in _flat(out)]


def run_keras_port(keras_model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run the Keras port of a PyTorch model: its call() takes the inputs as forward() does."""
    with exact_float32():
        out = keras_model(*[to_keras_layout(a) for a in inputs], training=False)
        return [from_keras_layout(np.asarray(o)) for o in _flat(out)]


def verify_torch_source(torch_model, keras_model, inputs, *, devices=("cpu",), atol=1e-5, rtol=0.0, layers=False):
    """The Keras port against its PyTorch source, the source run on each device; with
    `layers`, each paired layer's output too (the pairing and boundary layouts are the same
    as in the other direction, so `per_layer` serves both)."""
    got = run_keras_port(keras_model, inputs)
    results = []
    for device in devices:
        ref = run_torch_source(torch_model, inputs, device)
        if len(ref) != len(got):
            raise PortmodelError(f"PyTorch gives {len(ref)} outputs, the port {len(got)}")
        outs = []
        for i, (r, g) in enumerate(zip(ref, got)):
            max_abs, max_rel, scale = errors(r, g)
            outs.append(OutputError(f"output_{i}", list(r.shape), max_abs, max_rel, max_abs <= atol + rtol * scale))
        res = VerifyResult(device, atol, rtol, outs)
        if layers and device == "cpu":
            res.layers = per_layer(keras_model, torch_model, [to_keras_layout(a) for a in inputs], atol=atol, rtol=rtol)
            res.first_divergence = next((r for r in res.layers if r.get("compared") and not r["passed"]), None)
        results.append(res)
    torch_model.to("cpu")
    return results
