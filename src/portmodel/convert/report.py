"""report.md for `convert`: one row per stage and output, then what each stage noted."""

from __future__ import annotations


def render_markdown(report: dict) -> str:
    verdict = "PASS" if report["passed"] else f"FAIL (stopped at stage {report.get('stopped_at')})"
    lines = [f"# portmodel convert: {report['source']}", ""]
    lines += [f"Source: {report['source_kind']} ({report['source_layout']}); targets: {', '.join(report['targets'])}", ""]
    lines += [f"**Verdict: {verdict}**", ""]
    lines += [f"Inputs: {report['inputs']['from']}; "
              + ", ".join(f"{tuple(a['shape'])} {a['dtype']}" for a in report["inputs"]["arrays"]), ""]
    lines += ["| stage | tool | seconds | output | shape | max abs | max rel | tolerance | result |",
              "|---|---|---|---|---|---|---|---|---|"]
    for s in report["stages"]:
        tol = f"{s['atol']:g} + {s['rtol']:g} x scale"
        for o in s["outputs"]:
            lines.append(
                f"| {s['name']} | {s['tool']} | {s['seconds']:.1f} | {o['name']} | {tuple(o['shape'])} | "
                f"{o['max_abs']:.3e} | {o['max_rel']:.3e} | {tol} | {'PASS' if o['passed'] else 'FAIL'} |"
            )
    lines.append("")
    for s in report["stages"]:
        if s["files"] or s["notes"]:
            lines.append(f"- **{s['name']}**: " + ", ".join(f"`{f}`" for f in s["files"]))
            lines += [f"  - {n}" for n in s["notes"]]
    lines += [f"- {n}" for n in report.get("notes", [])]
    attempts = report.get("network_attempts", [])
    lines += ["", f"Network: {len(attempts)} connection attempt(s) during conversion (all refused).", ""]
    return "\n".join(lines)
