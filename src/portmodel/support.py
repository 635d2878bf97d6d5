"""Generate docs/support.md from the rules (checked in CI: `tests/test_docs.py`).

Run `python -m portmodel.support > docs/support.md` after changing a rule.
"""

from __future__ import annotations

from .core.rules import RuleSet
from .rulebook import load_rules


def render(rules: RuleSet) -> str:
    lines = [
        "# Support table",
        "",
        "Generated from `rules/` by `python -m portmodel.support`; do not edit by hand.",
        "Every example of a rule runs as a numeric test in its direction (source vs port, max abs 1e-5).",
        "Weights move both ways through the same mapping (each transform has a registered inverse).",
        "",
        "| Keras | PyTorch | Keras → PyTorch | PyTorch → Keras (torch.nn) | weights | verified examples (→ torch / → keras) |",
        "|---|---|---|---|---|---|",
    ]
    for rule in sorted(rules.by_id.values(), key=lambda r: r.keras[0]):
        weights = ", ".join(w.keras for w in rule.weights) or ("see wrapped layer" if rule.id == "bidirectional" else "none")
        back = ", ".join(f"`{c}`" for c in rule.from_torch.torch) if rule.from_torch else "—"
        n_back = len(rule.from_torch.examples) if rule.from_torch else 0
        lines.append(
            f"| {', '.join(rule.keras)} | `{rule.torch}` | yes | {back} | {weights} | {len(rule.examples)} / {n_back} |"
        )
    lines += [
        "",
        "## PyTorch functions and tensor methods ⇄ `keras.ops` (`rules/ops/`)",
        "",
        "PyTorch → Keras for every entry; Keras → PyTorch where the Keras form is one `ops.NAME(...)`",
        "call (the rule read backwards, `keras_to_torch/ops.py`; each such op is checked on an image tensor",
        "held channels-first in `tests/test_keras_ops.py`).",
        "",
        "| PyTorch | Keras | Keras → PyTorch | dims rewritten for the layout | verified examples |",
        "|---|---|---|---|---|",
    ]
    from .keras_to_torch.ops import keras_ops

    backward = {id(k.rule): k for k in keras_ops(rules).values()}
    for op in sorted({id(o): o for o in rules.ops.values()}.values(), key=lambda o: o.torch[0]):
        keras = f"`{op.keras}`" if op.keras else f"hook `{op.hook}`"
        back = f"`ops.{backward[id(op)].name}` → `{backward[id(op)].torch}`" if id(op) in backward else "—"
        axes = ", ".join(op.axes) or ("torch order" if op.layout == "torch" else "—")
        lines.append(f"| {', '.join(f'`{t}`' for t in op.torch)} | {keras} | {back} | {axes} | {len(op.examples)} |")
    lines += ["", "## Activations (`activation=` and `Activation(...)`)", "", "| Keras | PyTorch |", "|---|---|"]
    seen = set()
    for name, act in sorted(rules.activations.items()):
        if id(act) in seen and name != act.name:
            continue
        seen.add(id(act))
        aliases = [n for n, a in rules.activations.items() if a is act and n != act.name]
        label = act.name + (f" ({', '.join(aliases)})" if aliases else "")
        lines.append(f"| {label} | `{act.torch.format(x='x', dim='dim')}` |")
    return "\n".join(lines + _training(rules) + _onnx_ops()) + "\n"


def _training(rules: RuleSet) -> list[str]:
    """Optimizers and losses `model.compile(...)` takes (`rules/training/`)."""
    lines = ["", "## Training code: optimizers and losses (`rules/training/`, Keras → PyTorch)", "",
             "`compile`/`fit`/`evaluate`/`predict` on a translated model become these and a plain training",
             "loop (`keras_to_torch/training.py`). Each optimizer is stepped against Keras and each loss compared with",
             "Keras' own in `tests/test_training.py`.", "",
             "| Keras optimizer | PyTorch | how the updates differ |", "|---|---|---|"]
    for rule in {id(r): r for r in rules.optimizers.values()}.values():
        lines.append(f"| {', '.join(rule.keras)} | `{rule.torch}` | {' '.join((rule.exact or 'the same').split())} |")
    lines += ["", "| Keras loss | PyTorch (probabilities / logits) |", "|---|---|"]
    for rule in {id(r): r for r in rules.losses.values()}.values():
        torch = f"`{rule.torch}`" if rule.torch else f"`{rule.from_probabilities}` / `{rule.from_logits}`"
        lines.append(f"| {', '.join(rule.keras)} | {torch} |")
    return lines


def _onnx_ops() -> list[str]:
    """ONNX ops `convert` writes as source: PyTorch (onnx_torch/ops.py) and Keras 3 (onnx_keras/ops.py)."""
    from .onnx_keras import CONVERTERS as KERAS
    from .onnx_torch import CONVERTERS as TORCH

    torch = _registry(TORCH, "PyTorch source (`portmodel convert --to torch`, `onnx_torch/ops.py`)",
                      "`tests/test_onnx_torch.py`")
    keras = _registry(KERAS, "Keras 3 source (`portmodel convert --to keras`, `onnx_keras/ops.py`)",
                      "`tests/test_onnx_keras.py`", "Channels-last: layers that need it take NHWC tensors and "
                      "axis arguments move with the layout (`onnx_keras/emitter.py`). ")
    return torch + keras


def _registry(converters: dict, title: str, tests: str, intro: str = "") -> list[str]:
    groups: dict = {}
    for name, fn in converters.items():
        groups.setdefault(fn, []).append(name)
    lines = [
        "", f"## ONNX ops → {title}", "",
        (f"{intro}Verified against ONNX Runtime in {tests} and through whole models in "
         "`tests/test_convert.py`; any other op stops the conversion naming the op and the node."), "",
        "| ONNX ops | converter | what it writes |", "|---|---|---|",
    ]
    for fn, names in sorted(groups.items(), key=lambda kv: min(kv[1])):
        doc = " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())  # the first paragraph
        lines.append(f"| {', '.join(sorted(names))} | `{fn.__name__}` | {doc} |")
    return lines


if __name__ == "__main__":
    print(render(load_rules()), end="")
