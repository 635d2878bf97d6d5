"""Generate docs/support.md from the rules (checked in CI: `tests/test_docs.py`).

Run `python -m portmodel.support > docs/support.md` after changing a rule.
"""

from __future__ import annotations

from .rules import RuleSet, load_rules


def render(rules: RuleSet) -> str:
    lines = [
        "# Support table",
        "",
        "Generated from `rules/` by `python -m portmodel.support`; do not edit by hand.",
        "Every example of a rule runs as a numeric test (Keras vs the PyTorch port, max abs 1e-5).",
        "",
        "| Keras | PyTorch | Keras → PyTorch source | weights | verified examples |",
        "|---|---|---|---|---|",
    ]
    for rule in sorted(rules.by_id.values(), key=lambda r: r.keras[0]):
        weights = ", ".join(w.keras for w in rule.weights) or ("see wrapped layer" if rule.id == "bidirectional" else "none")
        lines.append(
            f"| {', '.join(rule.keras)} | `{rule.torch}` | yes | {weights} | {len(rule.examples)} |"
        )
    lines += ["", "## Activations (`activation=` and `Activation(...)`)", "", "| Keras | PyTorch |", "|---|---|"]
    seen = set()
    for name, act in sorted(rules.activations.items()):
        if id(act) in seen and name != act.name:
            continue
        seen.add(id(act))
        aliases = [n for n, a in rules.activations.items() if a is act and n != act.name]
        label = act.name + (f" ({', '.join(aliases)})" if aliases else "")
        lines.append(f"| {label} | `{act.torch.format(x='x', dim='dim')}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(load_rules()), end="")
