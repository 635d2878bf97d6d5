"""Carry trained Keras weights into the PyTorch port.

Layers are paired without names: Keras layers that own weights are listed in a canonical
order (Sequential: list order; functional: first visit in a depth-first walk from the
outputs, inputs in argument order; subclassed: attribute tracking order), and the port's
modules that own parameters in registration order — the translator registers them in
that same order. Each pair is converted by its rule's weight mapping (transposes, gate
reorders, bias splits) and checked: every tensor of the port filled exactly once, with
the right shape.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .core.errors import PortmodelError
from .core.identifiers import keras_snake
from .core.rules import RuleSet, WeightMap
from .keras_to_torch.hooks import AXIS_ORDERS, INVERSES, TRANSFORMS
from .keras_to_torch.hooks.rnn import bidirectional_weights
from .rulebook import load_rules


@dataclass
class Unit:
    name: str  # Keras layer path
    layer: object
    rule: object


@dataclass(frozen=True)
class OwnVariables:
    """The variables a custom Keras layer holds itself (a port's `nn.Parameter`s and buffers):
    paired in order, unchanged, with the torch module's own parameters and buffers."""

    id: str = "own variables"
    torch_units: int = 1
    weights: tuple = ()
    activation: bool = False  # no activation argument the port applies after the module
    layout: str = "channels_first"  # its port takes and gives the port's tensors (code/layer_class.py)


OWN = OwnVariables()


def own_variables(layer) -> list:
    """Variables `layer` tracks itself, not through a sublayer (trainable first, as torch's
    parameters come before its buffers)."""
    import keras

    if isinstance(layer, keras.Sequential) or _is_functional(layer):
        return []
    return list(getattr(layer, "_trainable_variables", [])) + list(getattr(layer, "_non_trainable_variables", []))


def torch_own(module) -> list[str]:
    """A module's own parameters, then its checkpointed buffers, by name."""
    names = [n for n, _ in module.named_parameters(recurse=False)]
    return names + [n for n, _ in module.named_buffers(recurse=False) if n not in module._non_persistent_buffers_set]


def _is_functional(model) -> bool:
    import keras

    return isinstance(model, keras.Model) and not isinstance(model, keras.Sequential) and hasattr(
        model, "_operations"
    ) and type(model).__name__ == "Functional"


def _refs(obj, out: list) -> list:
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            out.append(tuple(obj["config"]["keras_history"][:2]))
        else:
            for v in obj.values():
                _refs(v, out)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _refs(v, out)
    return out


def functional_order(model) -> list:
    """Layers of a functional model in canonical (depth-first from outputs) order."""
    config = model.get_config()
    by_name = {cfg["name"]: cfg for cfg in config["layers"]}
    seen, order = set(), []

    def visit(name: str, node_index: int) -> None:
        if (name, node_index) in seen:
            return
        seen.add((name, node_index))
        nodes = by_name[name].get("inbound_nodes", [])
        if node_index < len(nodes):
            for ref in _refs(nodes[node_index], []):
                visit(ref[0], ref[1])
        if name not in order:
            order.append(name)

    outputs = config["output_layers"]
    if outputs and isinstance(outputs[0], str):  # a single output: [name, node, tensor]
        outputs = [outputs]
    for out in outputs:
        visit(out[0], out[1])
    ops = {op.name: op for op in model.operations}  # layers and ops such as `a - b`
    return [ops[n] for n in order]


def _sublayers(layer) -> list:
    import keras

    if isinstance(layer, keras.Sequential):
        return list(layer.layers)
    if _is_functional(layer):
        return functional_order(layer)
    return list(getattr(layer, "_layers", []))


def keras_units(model, rules: RuleSet) -> list[Unit]:
    """Keras layers that own weights, in canonical order (rules decide what is a unit)."""
    units: list[Unit] = []

    def walk(layer, path: str) -> None:
        if not hasattr(layer, "weights"):  # a bare operation (x + y) in a functional graph
            return
        # a subclass of a Keras layer (a port of `class LayerNorm2d(nn.LayerNorm)`) is that layer
        rule = next((r for r in map(rules.layer, (c.__name__ for c in type(layer).__mro__)) if r), None)
        if rule is not None:
            if layer.weights:
                units.append(Unit(path or layer.name, layer, rule))
            return
        if own_variables(layer):
            units.append(Unit(path or layer.name, layer, OWN))
        children = _sublayers(layer)
        if not children and not own_variables(layer) and layer.weights:
            raise PortmodelError(
                f"layer '{layer.name}' ({type(layer).__name__}) has weights but no rule translates it"
            )
        for child in children:
            walk(child, f"{path}/{child.name}" if path else child.name)

    walk(model, "")
    return units


def torch_leaves(module) -> list[tuple[str, object]]:
    """Modules owning parameters or checkpointed buffers directly, in registration order (a
    `persistent=False` buffer, such as BERT's position ids, is not in the checkpoint)."""
    return [
        (name, m)
        for name, m in module.named_modules()
        if any(True for _ in m.parameters(recurse=False))
        or any(b not in m._non_persistent_buffers_set for b, _ in m.named_buffers(recurse=False))
    ]


def pair_units(units: list[Unit], leaves: list):
    """(unit, its torch modules, RNN level, leaves used so far) for each Keras unit, in order.

    A unit takes `torch_units` modules; the levels of a multi-layer torch RNN
    (nn.LSTM(num_layers=2) is one module) are consecutive Keras layers of one module.
    """
    leaves = by_name(units, leaves)
    li, level = 0, 0
    for unit in units:
        n = max(unit.rule.torch_units, 1)
        group = leaves[li : li + n]
        depth = getattr(group[0][1], "num_layers", 1) if len(group) == 1 else 1
        this = level
        level = (level + 1) % depth
        if level == 0:
            li += n
        yield unit, group, this, li


def by_name(units: list[Unit], leaves: list) -> list:
    """The port's modules in the Keras layers' order where the port keeps each layer's name
    as its own (the code engine builds `self.block1_conv1`, `self.layers["conv2_block1_1_conv"]`
    in the code's order, not the graph's): layers found by name take their modules, the
    others take what is left, in order. As they are where no name pairs a layer."""
    named: dict[str, list] = {}
    for leaf in leaves:  # `block1_conv1`, or a unit of several modules: `sep_conv.0`, `sep_conv.1`
        named.setdefault(_owner(leaf[0]).rsplit(".", 1)[-1], []).append(leaf)
    unit_names = [u.name.rsplit("/", 1)[-1] for u in units]
    counts = Counter(unit_names)
    picked = []
    for u, name in zip(units, unit_names):  # a name both sides use once (a helper's `conv2d` in each block is none)
        if re.fullmatch(rf"{keras_snake(type(u.layer).__name__)}(_\d+)?", name):
            picked.append(None)  # a name Keras made up (`conv2d_3`): its number counts layers the port may
            continue             # hold elsewhere (built in a loop, in a list), so it pairs nothing
        group = named.get(name, [])
        once = counts[name] == 1 and len({_owner(path) for path, _ in group}) == 1
        picked.append(group if once and len(group) == max(u.rule.torch_units, 1) else None)
    if not any(picked):
        return leaves
    taken = {leaf[0] for group in picked if group for leaf in group}
    rest = iter([leaf for leaf in leaves if leaf[0] not in taken])
    ordered = []
    for u, group in zip(units, picked):
        ordered += group or [leaf for _, leaf in zip(range(max(u.rule.torch_units, 1)), rest)]
    ordered += list(rest)
    return ordered if sorted(n for n, _ in ordered) == sorted(n for n, _ in leaves) else leaves


def _owner(path: str) -> str:
    """The module a parameter-owning module path belongs to: itself, or for a unit of several
    modules (`sep_conv.0`) the container."""
    head, _, last = path.rpartition(".")
    return head if head and last.isdigit() else path


def _match(key: str, rel: str) -> bool:
    parts = rel.split("/")
    if "/" not in key:
        return parts[-1] == key and not any(p.startswith(("forward_", "backward_")) for p in parts[:-1])
    owner, leaf = key.split("/", 1)  # Bidirectional's forward_*/backward_*, or a sublayer name
    return parts[-1] == leaf and any(p == owner or p.startswith(owner + "_") for p in parts[:-1])


def _weight_maps(unit: Unit, rules: RuleSet) -> tuple[WeightMap, ...]:
    if unit.rule.id == "bidirectional":
        inner = rules.layer(type(unit.layer.forward_layer).__name__)
        if inner is None:
            raise PortmodelError(f"no rule for the layer wrapped by '{unit.name}'")
        return bidirectional_weights(inner)
    return unit.rule.weights


def to_torch(w: WeightMap, value: np.ndarray, contiguous: bool = True) -> tuple[np.ndarray, ...]:
    """One Keras variable's value -> the port tensors of its rule's mapping (chunks: their rows)."""
    if w.permute:
        value = value.transpose(w.permute)
    if w.transform:
        value = TRANSFORMS[w.transform](value)
    values = value if isinstance(value, tuple) else (value,)
    return tuple(np.ascontiguousarray(v) for v in values) if contiguous else values


def to_keras(w: WeightMap, values: list[np.ndarray], shape: tuple) -> np.ndarray:
    """The port tensors of one mapping (whole, chunks included) -> the Keras variable's value."""
    if w.chunk:
        values = [np.split(v, w.chunk[1])[w.chunk[0]] for v in values]
    if w.transform:
        value = INVERSES[w.transform](*values, shape)
    else:
        (value,) = values
    if w.permute:
        value = value.transpose(np.argsort(w.permute))
    return np.ascontiguousarray(value)


def axis_order(w: WeightMap, ndim: int) -> tuple[int, ...] | None:
    """The mapping as a pure reordering of axes (Keras -> torch), or None where it moves
    values otherwise (gate reorders, bias splits, chunks): such tensors can be copied in blocks."""
    if w.chunk or (w.transform and w.permute):
        return None
    if w.transform:
        order = AXIS_ORDERS.get(w.transform)
        return order(ndim) if order else None
    return tuple(w.permute) if w.permute else tuple(range(ndim))


@dataclass
class Binding:
    """One Keras variable and the port tensors its rule maps it to."""

    unit: Unit
    variable: object  # keras.Variable
    weight: WeightMap
    keys: tuple[str, ...]  # state_dict keys, in the order of `weight.to`


def bind(keras_model, torch_model, rules: RuleSet | None = None) -> list[Binding]:
    """Pair every Keras weight with its port tensors; all problems raised as one error."""
    rules = rules or load_rules()
    units = keras_units(keras_model, rules)
    leaves = torch_leaves(torch_model)
    expected = torch_model.state_dict()
    problems: list[str] = []
    bindings: list[Binding] = []
    filled: set[str] = set()
    li = len(leaves)
    for unit, group, level, li in pair_units(units, leaves):
        n = max(unit.rule.torch_units, 1)
        suffix = f"_l{level}"
        if len(group) < n:
            problems.append(f"Keras layer '{unit.name}' has no counterpart module in the port")
            continue
        if unit.rule is OWN:
            prefix, module = group[0]
            names = torch_own(module)
            variables = own_variables(unit.layer)
            if len(names) != len(variables):
                problems.append(f"'{unit.name}': {len(variables)} variables of its own, the port's module "
                                f"'{prefix}' {len(names)} parameters and buffers")
                continue
            for v, name in zip(variables, names):
                key = f"{prefix}.{name}" if prefix else name
                if tuple(expected[key].shape) != tuple(v.shape):
                    problems.append(f"'{unit.name}' -> '{key}': shape {tuple(v.shape)} does not fit "
                                    f"{tuple(expected[key].shape)}")
                filled.add(key)
                bindings.append(Binding(unit, v, WeightMap(keras=v.name, to=(name,)), (key,)))
            continue
        used = set()
        for w in _weight_maps(unit, rules):
            found = [v for v in unit.layer.weights if _match(w.keras, v.path.split("/", 1)[-1])]
            if not found:
                continue  # optional weight (use_bias=False, center=False)
            if len(found) > 1:
                problems.append(f"'{unit.name}': several Keras weights match '{w.keras}'")
                continue
            used.add(id(found[0]))
            keys = []
            for target in w.to:
                if n > 1:
                    index, param = target.split(".", 1)
                    prefix = group[int(index)][0]
                else:
                    prefix, param = group[0][0], target
                param = param.replace("_l0", suffix)
                keys.append(f"{prefix}.{param}" if prefix else param)
            missing = [k for k in keys if k not in expected]
            if missing:
                problems.append(f"'{unit.name}': the port has no tensor '{missing[0]}'")
                continue
            # shapes only: a zero-strided view costs no memory (models may hold no weights, see streaming)
            shapes = to_torch(w, np.broadcast_to(np.float32(0), tuple(found[0].shape)), contiguous=False)
            for key, value in zip(keys, shapes):
                want = tuple(expected[key].shape)
                if w.chunk:
                    want = (want[0] // w.chunk[1], *want[1:])
                if want != value.shape:
                    problems.append(
                        f"'{unit.name}' -> '{key}': shape {value.shape} does not fit {tuple(expected[key].shape)}"
                    )
            filled.update(keys)
            bindings.append(Binding(unit, found[0], w, tuple(keys)))
        for v in unit.layer.weights:
            if id(v) not in used:
                problems.append(f"'{unit.name}': Keras weight '{v.path}' has no place in the port")
    for name, _ in leaves[li:]:
        problems.append(f"module '{name}' of the port has no Keras layer to take weights from")
    if not any(p.startswith("module '") for p in problems):
        problems += [
            f"tensor '{k}' of the port gets no weights"
            for k in expected
            if k not in filled and not k.endswith("num_batches_tracked")
        ]
    if problems:
        listing = "; ".join(problems[:20]) + (f"; ... {len(problems) - 20} more" if len(problems) > 20 else "")
        raise PortmodelError(f"the checkpoint does not fit the port: {listing}")
    return bindings


def transfer(keras_model, torch_model, rules: RuleSet | None = None) -> dict:
    """A state_dict for `torch_model` holding `keras_model`'s weights (Keras -> PyTorch)."""
    import torch

    out: dict[str, torch.Tensor] = {}
    chunks: dict[str, dict[int, np.ndarray]] = {}
    for b in bind(keras_model, torch_model, rules):
        for key, value in zip(b.keys, to_torch(b.weight, np.asarray(b.variable.numpy()))):
            if b.weight.chunk:
                chunks.setdefault(key, {})[b.weight.chunk[0]] = value
            else:
                out[key] = _tensor(value)
    for key, parts in chunks.items():
        out[key] = _tensor(np.concatenate([parts[i] for i in sorted(parts)]))
    for key, value in torch_model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in out:
            out[key] = torch.zeros_like(value)
    return out


def transfer_to_keras(torch_model, keras_model, rules: RuleSet | None = None) -> None:
    """Assign `torch_model`'s weights to `keras_model` (PyTorch -> Keras), through the same
    pairing and the inverse of each rule transform."""
    state = {k: _numpy(v) for k, v in torch_model.state_dict().items()}
    bindings = bind(keras_model, torch_model, rules)
    mismatched = sorted(
        {f"{k}: {_dtype_name(torch_model.state_dict()[k])} vs Keras {b.variable.dtype}"
         for b in bindings for k in b.keys if _dtype_name(torch_model.state_dict()[k]) != str(b.variable.dtype)
         and not _integers_fit(state[k], str(b.variable.dtype))}
    )
    if mismatched:  # never cast silently: the port is built in the checkpoint's dtype, or --dtype asks
        raise PortmodelError("weight dtypes differ (pass --dtype to cast): " + "; ".join(mismatched[:5]))
    for b in bindings:
        b.variable.assign(to_keras(b.weight, [state[k] for k in b.keys], tuple(b.variable.shape)))


def _integers_fit(value: np.ndarray, dtype: str) -> bool:
    """An integer buffer (torch's int64 indices) held in another integer dtype (Keras' int32)
    loses nothing when every value fits: that copy is exact, so it is not a cast to refuse."""
    if value.dtype.kind not in "iu" or not dtype.startswith(("int", "uint")):
        return False
    info = np.iinfo(dtype)
    return value.size == 0 or (int(value.min()) >= info.min and int(value.max()) <= info.max)


def _tensor(value: np.ndarray):
    """numpy -> torch keeping the dtype (Keras' bfloat16 arrays are ml_dtypes, torch's own)."""
    import torch

    if value.dtype.name == "bfloat16":
        return torch.from_numpy(value.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(value)


def _dtype_name(t) -> str:
    return str(t.dtype).removeprefix("torch.")


def _numpy(t) -> np.ndarray:
    """A tensor's values as numpy; bfloat16 (which numpy lacks) widens exactly to float32."""
    import torch

    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def float_dtype(state: dict, path: str | None = None) -> str | None:
    """The one floating dtype of a state_dict's tensors ('float32', 'bfloat16'...), or None."""
    found = sorted({_dtype_name(t) for t in state.values() if t.is_floating_point()})
    if len(found) > 1:
        raise PortmodelError(f"the checkpoint mixes float dtypes ({', '.join(found)}); pass --dtype to cast", path)
    return found[0] if found else None


def save_state_dict(state: dict, path: str, force: bool = True) -> None:
    """Write a state_dict atomically as .safetensors or .pt."""
    import torch

    from .core.fsutil import atomic_path

    if not path.endswith((".safetensors", ".pt", ".pth")):
        raise PortmodelError("output must end in .safetensors, .pt or .pth", path)
    with atomic_path(path, force=force) as tmp:
        if path.endswith(".safetensors"):
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
        else:
            torch.save(state, tmp)


def fit_problems(expected: dict[str, tuple], given: dict[str, tuple]) -> list[str]:
    """What keeps a checkpoint's tensors (name -> shape) from filling a model's: missing,
    unexpected and mis-shaped names."""
    missing = sorted(set(expected) - set(given))
    extra = sorted(set(given) - set(expected))
    shapes = [f"{k}: {given[k]} vs {v}" for k, v in expected.items() if k in given and given[k] != v]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing[:10]))
    if extra:
        parts.append("unexpected " + ", ".join(extra[:10]))
    if shapes:
        parts.append("mis-shaped " + ", ".join(shapes[:10]))
    return parts


def check_fits(torch_model, state: dict, path: str) -> None:
    """Load `state` strictly, turning torch's error into one line naming the file."""
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    parts = fit_problems({k: tuple(v.shape) for k, v in torch_model.state_dict().items()}, shapes)
    if parts:
        raise PortmodelError("checkpoint does not fit the model: " + "; ".join(parts), path)
    torch_model.load_state_dict(state, strict=True)
