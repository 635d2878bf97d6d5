"""Rule files: one declarative YAML file per layer pair, validated at load time.

A rule describes a Keras layer and its PyTorch counterpart once: names, the Keras call
signature (so positional arguments become keywords), argument renames, defaults that
differ and must be written out, the weight mapping, and examples that run as tests.
What data cannot say (output shapes, padding arithmetic) lives in a small lowering
function registered under the name the rule gives in `lower:` (see `portmodel.hooks`).
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
                },
            },
        },
    },
}

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

    def layer(self, keras_name: str) -> LayerRule | None:
        return self.layers.get(keras_name)


def rules_dir() -> Path:
    """The `rules/` folder: $PORTMODEL_RULES, the checkout's, or the copy inside a wheel."""
    env = os.environ.get("PORTMODEL_RULES")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    checkout = here.parents[1] / "rules"
    return checkout if checkout.is_dir() else here / "_rules"


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
    from .hooks import INVERSES, LOWERINGS, TRANSFORMS

    _validate(data, LAYER_SCHEMA, path)
    if data["lower"] not in LOWERINGS:
        raise RuleError(f"key 'lower': no lowering named '{data['lower']}'", str(path))
    weights = []
    for name, spec in (data.get("weights") or {}).items():
        to = spec["to"]
        transform = spec.get("transform")
        if transform and (transform not in TRANSFORMS or transform not in INVERSES):
            raise RuleError(f"key 'weights/{name}/transform': unknown '{transform}' (or it has no inverse)", str(path))
        weights.append(
            WeightMap(
                keras=name,
                to=tuple(to) if isinstance(to, list) else (to,),
                permute=tuple(spec["permute"]) if "permute" in spec else None,
                transform=transform,
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
            )
            for e in data["examples"]
        ),
        doc=data.get("doc", ""),
    )


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
def load_rules(directory: str | None = None) -> RuleSet:
    """Load and validate every rule file; duplicate names are an error naming both files."""
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
    activations: dict[str, Activation] = {}
    for path in sorted((root / "activations").glob("*.yaml")):
        for name, act in parse_activation_rules(_load_yaml(path), path).items():
            if name in activations:
                raise RuleError(f"key 'activations/{name}': defined twice", str(path))
            activations[name] = act
    return RuleSet(layers=layers, by_id=by_id, activations=activations)
