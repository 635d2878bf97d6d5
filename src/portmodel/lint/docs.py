"""Generate docs/lint.md from the checks' docstrings (checked in CI: tests/test_docs.py).

Run `python -m portmodel.lint.docs > docs/lint.md` after changing a check.
"""

from __future__ import annotations

import inspect

from . import CHECKS


def render() -> str:
    lines = [
        "# Lint checks",
        "",
        "Generated from `src/portmodel/lint/checks/` by `python -m portmodel.lint.docs`; do not edit by hand.",
        "",
        "`portmodel lint PATHS [--fix] [--unsafe-fixes] [--format text|json|sarif|github]`;",
        "suppress one line with `# portmodel: ignore[CODE]` (or `# portmodel: ignore`).",
        "Exit codes: 0 no findings, 1 findings, 2 usage error, a file that cannot be read/parsed, or an",
        "internal error on a file (`path: internal error: ... (please report)`; the other files are still",
        "linted; `--verbose` prints the traceback).",
        "",
        "| code | name | fix | applies when migrating from | where |",
        "|---|---|---|---|---|",
    ]
    for code, check in sorted(CHECKS.items()):
        where = "files marked `migrated`" if check.only_migrated else "all files"
        lines.append(f"| [{code}](#{code.lower()}-{check.name}) | {check.name} | {check.fix} | {', '.join(check.source)} | {where} |")
    for code, check in sorted(CHECKS.items()):
        doc = inspect.cleandoc(check.__doc__ or "")
        summary, _, body = doc.partition("\n\n")
        lines += ["", f"## {code} {check.name}", "", f"{summary}", "", f"Fix safety: **{check.fix}**.", ""]
        for para in body.split("\n\n"):
            head, sep, rest = para.partition(":")
            if sep and head in ("What", "Why", "Example", "Fix"):
                lines += [f"**{head}.** {' '.join(rest.split())}", ""]
        if check.INVALID:
            lines += ["Flagged:", "", "```python", check.INVALID[0].rstrip(), "```", ""]
        if check.FIXED:
            lines += ["After `--fix`:", "", "```python", check.FIXED[0].rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
