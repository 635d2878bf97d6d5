"""`torch.nn.init` calls -> the Keras initializer of the layer's variable.

Keras layers create their variables when first called, from `kernel_initializer`,
`gamma_initializer`... So `nn.init.kaiming_normal_(m.weight, mode="fan_out")` on a layer of
the model becomes `m.kernel_initializer = keras.initializers.VarianceScaling(2.0, "fan_out",
"untruncated_normal")`, set in `__init__` before the layer is built (a loop over
`self.modules()` becomes one over `self._flatten_layers()`). Fan-in and fan-out are
counted the same way in both frameworks (receptive field x channels).
"""

from __future__ import annotations

import libcst as cst

from .interpret import R, Run, Todo, _expr
from .kinds import Layer
from .values import Module, Tensor, Weight

_GAINS = {"relu": "2.0", "leaky_relu": "2.0", "linear": "1.0", "sigmoid": "1.0", "tanh": "25 / 9",
          "conv1d": "1.0", "conv2d": "1.0", "conv3d": "1.0", "selu": "0.5625"}


def _kaiming(distribution: str):
    def write(args: dict[str, str]) -> str:
        a = args.get("a")
        nonlinearity = (args.get("nonlinearity") or '"leaky_relu"').strip("'\"")
        if a not in (None, "0", "0.0") and nonlinearity == "leaky_relu":
            scale = f"2.0 / (1 + {a} ** 2)"
        else:
            scale = _GAINS.get(nonlinearity)
            if scale is None:
                raise Todo(f"kaiming initialisation for nonlinearity={nonlinearity!r}")
        mode = args.get("mode") or '"fan_in"'
        return f'keras.initializers.VarianceScaling({scale}, {mode}, "{distribution}")'

    return write


def _xavier(distribution: str):
    def write(args: dict[str, str]) -> str:
        gain = args.get("gain")
        scale = "1.0" if gain in (None, "1", "1.0") else f"{gain} ** 2"
        return f'keras.initializers.VarianceScaling({scale}, "fan_avg", "{distribution}")'

    return write


INITS = {  # torch.nn.init function -> (its parameters after the tensor, writer)
    "kaiming_normal_": (("a", "mode", "nonlinearity", "generator"), _kaiming("untruncated_normal")),
    "kaiming_uniform_": (("a", "mode", "nonlinearity", "generator"), _kaiming("uniform")),
    "xavier_uniform_": (("gain", "generator"), _xavier("uniform")),
    "xavier_normal_": (("gain", "generator"), _xavier("untruncated_normal")),
    "normal_": (("mean", "std", "generator"),
                lambda a: f"keras.initializers.RandomNormal(mean={a.get('mean', '0.0')}, stddev={a.get('std', '1.0')})"),
    "uniform_": (("a", "b", "generator"),
                 lambda a: f"keras.initializers.RandomUniform({a.get('a', '0.0')}, {a.get('b', '1.0')})"),
    "trunc_normal_": (("mean", "std", "a", "b", "generator"),
                      lambda a: f"keras.initializers.TruncatedNormal(mean={a.get('mean', '0.0')}, stddev={a.get('std', '1.0')})"),
    "constant_": (("val",), lambda a: f"keras.initializers.Constant({a['val']})"),
    "zeros_": ((), lambda a: "keras.initializers.Zeros()"),
    "ones_": ((), lambda a: "keras.initializers.Ones()"),
}
_NOTES = {
    "trunc_normal_": "trunc_normal_ -> TruncatedNormal: Keras cuts at 2 standard deviations, torch at [a, b]",
}


def initializer_statement(ft, run: Run, small, node: cst.Call, qual: str):
    name = qual.rsplit(".", 1)[1]
    spec = INITS.get(name)
    if spec is None:
        raise Todo(f"nn.init.{name} has no Keras initializer in the rules")
    params, write = spec
    if not node.args:
        raise Todo(f"nn.init.{name}() without a tensor")
    target = run.ev(node.args[0].value)
    texts: dict[str, str] = {}
    for i, arg in enumerate(node.args[1:]):
        key = arg.keyword.value if arg.keyword is not None else params[i]
        texts[key] = run.ev(arg.value).code
    init = write(texts)
    if name in _NOTES:
        run.notes.append((small, _NOTES[name]))
    w = target.v
    if isinstance(w, Tensor) and isinstance(node.args[0].value, cst.Attribute):  # a parameter of the layer
        return cst.Expr(_expr(f"{target.code}.assign({init}({target.code}.shape))"))
    if isinstance(w, Weight):
        owner = w.owner
        attr = variable_initializer(ft, w.layer, w.name)
        return cst.Assign([cst.AssignTarget(_expr(f"{owner}.{attr}"))], _expr(init))
    loop_var = _loop_layer(node.args[0].value)
    if loop_var is not None:
        return _by_layer_type(ft, run, loop_var, node.args[0].value.attr.value, init)
    raise Todo(f"nn.init.{name} on a tensor that is not a layer's weight")


def variable_initializer(ft, kind, torch_name: str) -> str:
    """`kernel_initializer` for Conv2d's `weight`, `gamma_initializer` for BatchNorm's..."""
    cls = kind.cls if isinstance(kind, Layer) else None
    rule = ft.tr.rules.torch_layer(cls) if cls else None
    if rule is not None:
        for w in rule.weights:
            if torch_name in w.to:
                return f"{w.keras.split('/')[-1]}_initializer"
    return {"weight": "kernel_initializer", "bias": "bias_initializer"}[torch_name]


def _loop_layer(node) -> str | None:
    """`m` in `nn.init.x_(m.weight)` where `m` runs over the model's layers."""
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.attr.value in ("weight", "bias"):
        return node.value.value
    return None


def _by_layer_type(ft, run: Run, var: str, torch_name: str, init: str):
    """Inside `if isinstance(m, nn.Conv2d):` the variable's Keras name follows the class the
    enclosing test names; the translator rewrote that test to the Keras classes, so the
    initializer is set on whichever of them `m` is."""
    kinds = run.env.get(f"<isinstance {var}>")
    if not kinds:
        raise Todo(f"nn.init on {var}.{torch_name} outside an isinstance test")
    names = sorted({variable_initializer(ft, Layer(cls), torch_name) for cls in kinds})
    if len(names) == 1:
        return cst.Assign([cst.AssignTarget(_expr(f"{var}.{names[0]}"))], _expr(init))
    return cst.Expr(_expr(f"[setattr({var}, a, {init}) for a in {tuple(names)!r} if hasattr({var}, a)]"))


__all__ = ["INITS", "Module", "R", "Tensor", "initializer_statement", "variable_initializer"]
