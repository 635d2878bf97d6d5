"""Lint output: text (path:line:col: CODE message), JSON, SARIF 2.1.0, GitHub annotations."""

from __future__ import annotations

import json

from . import CHECKS


def render(results, fmt: str) -> str:
    findings = [f for r in results for f in r.findings]
    if fmt == "json":
        return json.dumps([f.to_dict() for f in findings], indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(_sarif(findings), indent=2) + "\n"
    if fmt == "github":
        level = {"error": "error", "warning": "warning", "note": "notice"}
        return "".join(
            f"::{level[f.level]} file={f.path},line={f.line},col={f.col},title={f.code}::{f.message}\n"
            for f in findings
        )
    return "".join(f.format() + "\n" for f in findings)


def _sarif(findings) -> dict:
    rules = [
        {
            "id": code,
            "name": check.name,
            "shortDescription": {"text": (check.__doc__ or "").strip().splitlines()[0]},
            "helpUri": f"docs/lint.md#{code.lower()}-{check.name}",
            "properties": {"fix": check.fix},
        }
        for code, check in sorted(CHECKS.items())
    ]
    results = [
        {
            "ruleId": f.code,
            "level": f.level,
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path},
                        "region": {"startLine": f.line, "startColumn": f.col},
                    }
                }
            ],
        }
        for f in findings
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "portmodel", "rules": rules}}, "results": results}],
    }
