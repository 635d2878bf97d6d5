"""Rule files: one declarative YAML file per layer pair, validated at load time.

A rule describes a Keras layer and its PyTorch counterpart once: names, the Keras call
signature (so positional arguments become keywords), argument renames, defaults that
differ and must be written out, the weight mapping, and examples that run as tests.
What data cannot say (output shapes, padding arithmetic) lives in a small lowering
function registered under the name the rule gives in `lower:` (see `portmodel.keras_to_torch.hooks`).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import RuleError

_WEIGHT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["to"],
    "properties": {
        "to": {"type": ["string", "array"], "items": {"type": "string"}},
        "permute": {"type": "array", "items": {"type": "integer"}},
        "transform": {"type": "string"},
        "chunk": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
    },
}

# a PyTorch -> Keras example: a module constructor (layer rules) or an expression over `x0`
# (op rules), the torch-order input shape without the batch, and optionally the Keras text
_TORCH_EXAMPLE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["torch", "input"],
    "properties": {
        "torch": {"type": "string"},
        "input": {"type": "array", "items": {"type": "integer"}},
        "dtype": {"enum": ["float32", "int64"]},
        "keras": {"type": "string"},
    },
}

LAYER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "keras", "torch", "lower", "signature", "layout", "examples"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "doc": {"type": "string"},
        "keras": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "torch": {"type": "string"},
        "lower": {"type": "string"},
        "signature": {"type": "array", "items": {"type": "string"}},
        "layout": {"enum": ["channels_first", "keras", "any"]},
        "args": {"type": "object", "additionalProperties": {"type": "string"}},
        "ignore": {"type": "array", "items": {"type": "string"}},
        "activation": {"type": "boolean"},
        "defaults_differ": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["keras", "torch", "keras_default", "torch_default"],
                "properties": {
                    "keras": {"type": "string"},
                    "torch": {"type": "string"},
                    "keras_default": {},
                    "torch_default": {},
                    "convert": {"enum": ["same", "one_minus"]},
                },
            },
        },
        "weights": {"type": "object", "additionalProperties": _WEIGHT},
        "torch_units": {"type": "integer", "minimum": 0},
        "from_torch": {
            "type": "object",
            "additionalProperties": False,
            "required": ["torch", "write", "signature", "examples"],
            "properties": {
                "torch": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                # portmodel.torch_to_keras: the writer of the Keras layer and the torch signature
                # the constructor's arguments bind to (a Python parameter list)
                "write": {"type": "string"},
                "signature": {"type": "string"},
                "signatures": {"type": "object", "additionalProperties": {"type": "string"}},
                "examples": {"type": "array", "minItems": 1, "items": _TORCH_EXAMPLE},
            },
        },
        "examples": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["keras", "input"],
                "properties": {
                    "keras": {"type": "string"},
                    "input": {"type": "array", "items": {"type": ["integer", "array"]}},
                    "dtype": {"enum": ["float32", "int32"]},
                    "torch": {"type": "string"},
                    "exact": {"type": "boolean"},
                    "spread": {"type": "boolean"},
                },
            },
        },
    },
}

def _family_schema(key: str, required: list[str], properties: dict) -> dict[str, Any]:
    """A rule family file: an id, a doc and a list of entries under `key`."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", key],
        "properties": {
            "id": {"type": "string"},
            "doc": {"type": "string"},
            key: {
                "type": "array",
                "items": {"type": "object", "additionalProperties": False, "required": required,
                          "properties": properties},
            },
        },
    }


_NAMES = {"type": "array", "minItems": 1, "items": {"type": "string"}}

OPS_SCHEMA = _family_schema("ops", ["torch", "signature"], {
    "torch": _NAMES,
    "signature": {"type": "array", "items": {"type": "string"}},
    "defaults": {"type": "object"},
    "keras": {"type": "string"},
    "hook": {"type": "string"},
    "axes": {"type": "array", "items": {"type": "string"}},
    "layout": {"enum": ["any", "torch"]},
    "returns": {"enum": ["tensor", "python"]},  # python: a plain value (`.tolist()`, `.numel()`)
    "values": {"type": "object", "additionalProperties": {"type": "object"}},
    "keras_defaults": {"type": "object"},
    "examples": {"type": "array", "items": _TORCH_EXAMPLE},
})

OPTIMIZERS_SCHEMA = _family_schema("optimizers", ["keras", "signature", "torch"], {
    "keras": _NAMES,
    "signature": {"type": "array", "items": {"type": "string"}},
    "keras_defaults": {"type": "object"},
    "torch": {"type": "string"},
    "when_given": {"type": "object", "additionalProperties": {"type": "string"}},
    "exact": {"type": "string"},
    "examples": {"type": "array", "items": {
        "type": "object", "additionalProperties": False, "required": ["keras"],
        "properties": {"keras": {"type": "string"}, "torch": {"type": "string"}},
    }},
})

LOSSES_SCHEMA = _family_schema("losses", ["keras", "target"], {
    "keras": _NAMES,
    "target": {"enum": ["int64", "float32"]},
    "torch": {"type": "string"},
    "from_logits": {"type": "string"},
    "from_probabilities": {"type": "string"},
    "accuracy": {"type": "string"},
})

ACTIVATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "activations"],
    "properties": {
        "id": {"type": "string"},
        "doc": {"type": "string"},
        "activations": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["torch"],
                "properties": {
                    "torch": {"type": "string"},
                    "module": {"type": "string"},
                    "axis": {"type": "boolean"},
                    "aliases": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class WeightMap:
    keras: str  # Keras variable name (last path component), optionally "forward/kernel"
    to: tuple[str, ...]  # torch parameter or buffer path(s) relative to the unit
    permute: tuple[int, ...] | None = None
    transform: str | None = None
    chunk: tuple[int, int] | None = None  # (i, n): block i of n along dim 0 of the torch tensor


@dataclass(frozen=True)
class DefaultDiffers:
    keras: str
    torch: str
    keras_default: Any
    torch_default: Any
    convert: str = "same"


@dataclass(frozen=True)
class Example:
    keras: str
    input: tuple
    dtype: str = "float32"
    torch: str | None = None
    exact: bool = True
    spread: bool = False  # several inputs passed as separate arguments, not one list


@dataclass(frozen=True)
class TorchExample:
    torch: str  # source of the PyTorch side (a module constructor, or an op call over x0, x1...)
    input: tuple  # torch-order input shape, batch excluded
    dtype: str = "float32"
    keras: str | None = None  # the expected Keras source, when the example pins it


@dataclass(frozen=True)
class FromTorch:
    """PyTorch -> Keras side of a layer rule."""

    torch: tuple[str, ...]  # torch.nn class names
    write: str  # `portmodel.torch_to_keras.nn_layers.WRITERS`
    examples: tuple[TorchExample, ...] = ()
    # torch class -> its constructor's parameters, in order, with their defaults
    signatures: dict[str, tuple[tuple[str, Any], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class OpRule:
    """A torch function / tensor method and its Keras form (`rules/ops/*.yaml`)."""

    id: str
    path: Path
    torch: tuple[str, ...]  # qualified names; `Tensor.x` for tensor methods
    signature: tuple[str, ...]
    defaults: dict = field(default_factory=dict)  # source text of defaults written out
    keras: str | None = None  # template over the signature's names
    hook: str | None = None  # registered function when a template cannot say it
    axes: tuple[str, ...] = ()  # arguments that are dims: rewritten for the Keras layout
    layout: str = "any"  # 'torch': the op needs the tensor in torch's element order
    returns: str = "tensor"  # "python": the op gives a plain Python value
    values: dict = field(default_factory=dict)  # argument -> {torch source: Keras source}
    examples: tuple[TorchExample, ...] = ()
    # Keras' defaults for template arguments Keras code may leave out (read backwards: keras_ops)
    keras_defaults: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OptimizerRule:
    """A keras.optimizers class and the torch.optim constructor it becomes (`rules/training/`)."""

    keras: tuple[str, ...]  # class names and the string ids compile() takes
    path: Path
    signature: tuple[str, ...]  # the Keras constructor's positional order
    torch: str  # template over the signature's names and {params}
    keras_defaults: dict = field(default_factory=dict)
    when_given: dict = field(default_factory=dict)  # argument -> the template used when it is given
    exact: str = ""  # how the two updates differ, for the report
    examples: tuple[dict, ...] = ()


@dataclass(frozen=True)
class LossRule:
    """A Keras loss and its torch expression over {output} and {target} (`rules/training/`)."""

    keras: tuple[str, ...]
    path: Path
    target: str  # the dtype torch wants the targets in
    torch: str | None = None  # the same whether the model gives logits or probabilities
    from_logits: str | None = None
    from_probabilities: str | None = None
    accuracy: str | None = None  # a boolean tensor per sample: Keras' "accuracy" for this loss


@dataclass(frozen=True)
class LayerRule:
    id: str
    path: Path
    keras: tuple[str, ...]
    torch: str
    lower: str
    signature: tuple[str, ...]
    layout: str
    args: dict[str, str] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()
    activation: bool = False
    defaults_differ: tuple[DefaultDiffers, ...] = ()
    weights: tuple[WeightMap, ...] = ()
    torch_units: int = 1
    examples: tuple[Example, ...] = ()
    doc: str = ""
    from_torch: FromTorch | None = None


@dataclass(frozen=True)
class Activation:
    name: str
    torch: str  # expression template over {x} (and {dim} when axis=True)
    module: str | None = None  # nn.Module constructor, when one exists
    axis: bool = False


@dataclass
class RuleSet:
    layers: dict[str, LayerRule]  # keyed by Keras class name
    by_id: dict[str, LayerRule]
    activations: dict[str, Activation]
    torch_layers: dict[str, LayerRule] = field(default_factory=dict)  # keyed by torch.nn class name
    ops: dict[str, OpRule] = field(default_factory=dict)  # keyed by qualified torch name
    optimizers: dict[str, OptimizerRule] = field(default_factory=dict)  # keyed by Keras class name / id
    losses: dict[str, LossRule] = field(default_factory=dict)  # keyed by Keras id / class name

    def layer(self, keras_name: str) -> LayerRule | None:
        return self.layers.get(keras_name)

    def torch_layer(self, torch_name: str) -> LayerRule | None:
        return self.torch_layers.get(torch_name)


def rules_dir() -> Path:
    """The `rules/` folder: $PORTMODEL_RULES, the checkout's, or the copy inside a wheel."""
    env = os.environ.get("PORTMODEL_RULES")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]  # src/portmodel (or site-packages/portmodel)
    checkout = package.parents[1] / "rules"
    return checkout if checkout.is_dir() else package / "_rules"


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleError(f"invalid YAML: {exc}", str(path)) from None


def _validate(data: Any, schema: dict, path: Path) -> None:
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=str)
    if errors:
        err = errors[0]
        key = "/".join(str(p) for p in err.absolute_path) or "<top>"
        raise RuleError(f"key '{key}': {err.message}", str(path))


def parse_layer_rule(data: Any, path: Path) -> LayerRule:
    """Validate one layer rule document and build the typed rule."""
    _validate(data, LAYER_SCHEMA, path)
    from_torch = None
    if "from_torch" in data:
        ft = data["from_torch"]
        signatures = {name: ft.get("signature", "") for name in ft["torch"]}
        signatures.update(ft.get("signatures", {}))
        from_torch = FromTorch(
            tuple(ft["torch"]), ft["write"], _torch_examples(ft["examples"]),
            {name: parse_signature(text, path) for name, text in signatures.items()},
        )
    weights = []
    for name, spec in (data.get("weights") or {}).items():
        to = spec["to"]
        transform = spec.get("transform")
        weights.append(
            WeightMap(
                keras=name,
                to=tuple(to) if isinstance(to, list) else (to,),
                permute=tuple(spec["permute"]) if "permute" in spec else None,
                transform=transform,
                chunk=tuple(spec["chunk"]) if "chunk" in spec else None,
            )
        )
    signature = tuple(data["signature"])
    for key in data.get("args", {}):
        if key not in signature:
            raise RuleError(f"key 'args/{key}': not in the signature", str(path))
    return LayerRule(
        id=data["id"],
        path=path,
        keras=tuple(data["keras"]),
        torch=data["torch"],
        lower=data["lower"],
        signature=signature,
        layout=data["layout"],
        args=dict(data.get("args", {})),
        ignore=frozenset(data.get("ignore", [])),
        activation=bool(data.get("activation", False)),
        defaults_differ=tuple(DefaultDiffers(**d) for d in data.get("defaults_differ", [])),
        weights=tuple(weights),
        torch_units=int(data.get("torch_units", 1 if weights else 0)),
        examples=tuple(
            Example(
                keras=e["keras"],
                input=tuple(e["input"]),
                dtype=e.get("dtype", "float32"),
                torch=e.get("torch"),
                exact=e.get("exact", True),
                spread=e.get("spread", False),
            )
            for e in data["examples"]
        ),
        doc=data.get("doc", ""),
        from_torch=from_torch,
    )


_REQUIRED = object()


def parse_signature(text: str, path: Path) -> tuple[tuple[str, Any], ...]:
    """`"in_features, out_features, bias=True"` -> ((name, default or REQUIRED), ...);
    keyword-only parameters after `*` are kept in order (bound by keyword only)."""
    import ast

    try:
        fn = ast.parse(f"def f({text}): pass").body[0]
    except SyntaxError as exc:
        raise RuleError(f"key 'from_torch/signature': not a parameter list ({exc.msg})", str(path)) from None
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults = [_REQUIRED] * (len(positional) - len(a.defaults)) + [ast.literal_eval(d) for d in a.defaults]
    out = [(p.arg, d) for p, d in zip(positional, defaults)]
    out += [(p.arg, _REQUIRED if d is None else ast.literal_eval(d)) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    return tuple(out)


REQUIRED = _REQUIRED


def _torch_examples(items: list) -> tuple[TorchExample, ...]:
    return tuple(TorchExample(e["torch"], tuple(e["input"]), e.get("dtype", "float32"), e.get("keras")) for e in items)


def parse_op_rules(data: Any, path: Path) -> list[OpRule]:
    """Validate one ops rule document (a family of torch functions and their Keras forms)."""
    _validate(data, OPS_SCHEMA, path)
    out = []
    for i, spec in enumerate(data["ops"]):
        where = f"ops/{i}"
        if ("keras" in spec) == ("hook" in spec):
            raise RuleError(f"key '{where}': give exactly one of 'keras' (a template) or 'hook'", str(path))
        for name in [*spec.get("axes", []), *spec.get("defaults", {}), *spec.get("values", {}),
                     *spec.get("keras_defaults", {})]:
            if name not in spec["signature"]:
                raise RuleError(f"key '{where}': '{name}' is not in the signature", str(path))
        out.append(
            OpRule(
                id=f"{data['id']}.{spec['torch'][0].rsplit('.', 1)[-1]}",
                path=path,
                torch=tuple(spec["torch"]),
                signature=tuple(spec["signature"]),
                defaults={k: str(v) for k, v in spec.get("defaults", {}).items()},
                keras=spec.get("keras"),
                hook=spec.get("hook"),
                axes=tuple(spec.get("axes", [])),
                layout=spec.get("layout", "any"),
                returns=spec.get("returns", "tensor"),
                values={k: {str(a): str(b) for a, b in v.items()} for k, v in spec.get("values", {}).items()},
                examples=_torch_examples(spec.get("examples", [])),
                keras_defaults={k: str(v) for k, v in spec.get("keras_defaults", {}).items()},
            )
        )
    return out


def parse_activation_rules(data: Any, path: Path) -> dict[str, Activation]:
    _validate(data, ACTIVATION_SCHEMA, path)
    out: dict[str, Activation] = {}
    for name, spec in data["activations"].items():
        act = Activation(name, spec["torch"], spec.get("module"), bool(spec.get("axis", False)))
        for alias in [name, *spec.get("aliases", [])]:
            if alias in out:
                raise RuleError(f"key 'activations/{name}': '{alias}' defined twice", str(path))
            out[alias] = act
    return out


@functools.cache
def read_rules(directory: str | None = None) -> RuleSet:
    """Read and validate every rule file against its schema; duplicate names are an error
    naming both files. The names of the code a rule calls (lowerings, writers, hooks) are
    checked by `portmodel.rulebook.load_rules`, which knows that code."""
    root = Path(directory) if directory else rules_dir()
    if not root.is_dir():
        raise RuleError("rules folder not found (set PORTMODEL_RULES)", str(root))
    layers: dict[str, LayerRule] = {}
    by_id: dict[str, LayerRule] = {}
    for path in sorted((root / "layers").glob("*.yaml")):
        rule = parse_layer_rule(_load_yaml(path), path)
        if rule.id in by_id:
            raise RuleError(f"key 'id': '{rule.id}' also defined in {by_id[rule.id].path}", str(path))
        by_id[rule.id] = rule
        for name in rule.keras:
            if name in layers:
                raise RuleError(
                    f"key 'keras': '{name}' also claimed by {layers[name].path}", str(path)
                )
            layers[name] = rule
    torch_layers: dict[str, LayerRule] = {}
    for rule in by_id.values():
        for name in rule.from_torch.torch if rule.from_torch else ():
            if name in torch_layers:
                raise RuleError(f"key 'from_torch/torch': '{name}' also claimed by {torch_layers[name].path}", str(rule.path))
            torch_layers[name] = rule
    ops: dict[str, OpRule] = {}
    for path in sorted((root / "ops").glob("*.yaml")):
        for op in parse_op_rules(_load_yaml(path), path):
            for name in op.torch:
                if name in ops:
                    raise RuleError(f"key 'ops': '{name}' also defined in {ops[name].path}", str(path))
                ops[name] = op
    activations: dict[str, Activation] = {}
    for path in sorted((root / "activations").glob("*.yaml")):
        for name, act in parse_activation_rules(_load_yaml(path), path).items():
            if name in activations:
                raise RuleError(f"key 'activations/{name}': defined twice", str(path))
            activations[name] = act
    optimizers, losses = _training_rules(root)
    return RuleSet(layers=layers, by_id=by_id, activations=activations, torch_layers=torch_layers, ops=ops,
                   optimizers=optimizers, losses=losses)


def _training_rules(root: Path) -> tuple[dict[str, OptimizerRule], dict[str, LossRule]]:
    """`rules/training/*.yaml`: optimizers and losses, each Keras name claimed once."""
    optimizers: dict[str, OptimizerRule] = {}
    losses: dict[str, LossRule] = {}
    for path in sorted((root / "training").glob("*.yaml")):
        data = _load_yaml(path)
        kind = "optimizers" if isinstance(data, dict) and "optimizers" in data else "losses"
        _validate(data, OPTIMIZERS_SCHEMA if kind == "optimizers" else LOSSES_SCHEMA, path)
        table = optimizers if kind == "optimizers" else losses
        for i, spec in enumerate(data[kind]):
            where = f"{kind}/{i}"
            if kind == "optimizers":
                names = [*spec.get("keras_defaults", {}), *spec.get("when_given", {})]
                if any(n not in spec["signature"] for n in names):
                    raise RuleError(f"key '{where}': an argument is not in the signature", str(path))
                rule = OptimizerRule(
                    keras=tuple(spec["keras"]), path=path, signature=tuple(spec["signature"]), torch=spec["torch"],
                    keras_defaults={k: str(v) for k, v in spec.get("keras_defaults", {}).items()},
                    when_given=dict(spec.get("when_given", {})), exact=spec.get("exact", ""),
                    examples=tuple(spec.get("examples", [])),
                )
            else:
                if ("torch" in spec) == ("from_logits" in spec or "from_probabilities" in spec):
                    raise RuleError(f"key '{where}': give 'torch', or 'from_logits' and 'from_probabilities'", str(path))
                rule = LossRule(keras=tuple(spec["keras"]), path=path, target=spec["target"], torch=spec.get("torch"),
                                from_logits=spec.get("from_logits"), from_probabilities=spec.get("from_probabilities"),
                                accuracy=spec.get("accuracy"))
            for name in rule.keras:
                if name in table:
                    raise RuleError(f"key '{where}/keras': '{name}' also defined in {table[name].path}", str(path))
                table[name] = rule
    return optimizers, losses
