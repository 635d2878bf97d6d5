"""report.json (for machines) and report.md (for people)."""

from __future__ import annotations

import json

from .core.fsutil import write_text


def render_markdown(report: dict) -> str:
    lines = [f"# portmodel report: {report['source']}", ""]
    if report.get("direction"):
        lines += [f"Direction: {report['direction']}", ""]
    verdict = "PASS" if report["passed"] else "FAIL"
    lines += [f"**Verdict: {verdict}** (tolerance: max abs <= {report['atol']:g} + {report['rtol']:g} x scale)", ""]
    if report.get("translation"):
        t = report["translation"]
        lines += ["## Translation", "", f"- source: `{t['source']}` -> `{t['output']}`"]
        for m in t["models"]:
            lines.append(f"- `{m['source']}` ({m['style']}) -> class `{m['target']}`")
        if t["todos"]:
            lines.append(f"- {len(t['todos'])} TODO(s):")
            lines += [f"  - `{d}`" for d in t["todos"]]
        else:
            lines.append("- no TODO")
        lines.append("")
    if report.get("weights"):
        w = report["weights"]
        lines += ["## Weights", "", f"- {w['tensors']} tensors written to `{w['output']}`"]
        if w.get("dtype"):
            lines.append(f"- dtype {w['dtype']}" + (f" (cast {w['cast']}, as asked)" if w.get("cast") else " (as in the checkpoint)"))
        k = report.get("keras_file")
        if k:
            lines.append(f"- `.keras` model: `{k['output']}`" if k["written"] else f"- no `.keras` file: {k['reason']}")
        lines.append("")
    if report.get("inputs"):
        lines += [f"Inputs: {report['inputs']['from']}", ""]
    lines += ["## Equivalence", "", "| device | output | shape | max abs | max rel | result |", "|---|---|---|---|---|---|"]
    for res in report["verify"]:
        for o in res["outputs"]:
            lines.append(
                f"| {res['device']} | {o['name']} | {tuple(o['shape'])} | {o['max_abs']:.3e} | "
                f"{o['max_rel']:.3e} | {'PASS' if o['passed'] else 'FAIL'} |"
            )
        if res.get("first_divergence"):
            d = res["first_divergence"]
            where = f" (PyTorch: `{d['torch']}`)" if d.get("torch") and d["torch"] != d["layer"] else ""
            lines += ["", f"First diverging layer: `{d['layer']}`{where} (max abs {d['max_abs']:.3e})"]
    if report.get("accuracy"):
        lines += ["", "## Accuracy", ""]
        lines += [f"- {k}: {v:.4f}" for k, v in report["accuracy"].items()]
    lines.append("")
    return "\n".join(lines)


def write_reports(report: dict, json_path: str, md_path: str, render=render_markdown) -> None:
    write_text(json_path, json.dumps(report, indent=2) + "\n")
    write_text(md_path, render(report))
