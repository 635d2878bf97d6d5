"""Run the checks on files, apply fixes, and collect the results."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from ..core.config import Config
from ..core.errors import PortmodelError, run_safely
from ..core.fsutil import write_text
from ..core.parsing import TOO_DEEP
from . import CHECKS, Finding, LintContext, suppressed


@dataclass
class FileLint:
    path: str
    findings: list[Finding] = field(default_factory=list)
    fixed: int = 0
    error: str | None = None
    traceback: str | None = None  # an internal error's traceback (a bug of ours)


class _Apply(cst.CSTTransformer):
    def __init__(self, replacements: dict[int, cst.CSTNode]):
        self.replacements = replacements

    def leave_Call(self, original, updated):
        return self.replacements.get(id(original), updated)


def lint_source(source: str, path: str, config: Config, *, fix: bool = False, unsafe: bool = False):
    """(findings still present, fixed source or None)."""
    _, remaining, new = _lint(source, path, config, fix=fix, unsafe=unsafe)
    return remaining, new


def _lint(source: str, path: str, config: Config, *, fix: bool, unsafe: bool):
    """(findings before fixing, findings still present, fixed source or None)."""
    ctx = LintContext(path, source, config)
    migrated = config.is_migrated(path)
    findings: list[Finding] = []
    for code, check in sorted(CHECKS.items()):
        if config.source not in check.source or (check.only_migrated and not migrated):
            continue
        if config.enabled(code, path):
            findings += list(check().run(ctx))
    lines = source.splitlines()
    findings = sorted((f for f in findings if not suppressed(f, lines)), key=lambda f: (f.line, f.col, f.code))
    if not fix:
        return findings, findings, None
    safe = {id(f.replace[0]): f.replace[1] for f in findings if f.replace is not None and f.fix == "safe"}
    new = ctx.module.visit(_Apply(safe)).code if safe else None
    if unsafe and any(f.fix == "unsafe" for f in findings):
        from ..translate import translate_source

        new = translate_source(new or source, path).code
    if new is None or new == source:
        return findings, findings, None
    remaining, _ = lint_source(new, path, config)
    return findings, remaining, new


def lint_file(path: str, config: Config, *, fix: bool = False, unsafe: bool = False) -> FileLint:
    """Lint (and fix) one .py file or notebook; never raises: a failure is the result's
    `error` (and `traceback` for an internal error)."""
    result, error, tb = run_safely(path, lambda: _lint_file(path, config, fix, unsafe))
    return result if error is None else FileLint(path, error=error, traceback=tb)


def _lint_file(path: str, config: Config, fix: bool, unsafe: bool) -> FileLint:
    from .. import notebook
    from ..port import read_source

    result = FileLint(path)
    text = read_source(path)
    nb = notebook.load(path, text) if path.endswith(".ipynb") else None
    source = notebook.to_source(nb) if nb is not None else text
    try:
        before, result.findings, new = _lint(source, path, config, fix=fix, unsafe=unsafe)
    except RecursionError:
        raise PortmodelError(TOO_DEEP, path) from None
    if nb is not None:
        _to_cells(result.findings, source)
    if new is not None:
        write_text(path, notebook.dump(notebook.from_source(nb, new)) if nb is not None else new)
        result.fixed = len(before) - len(result.findings)
    return result


def _to_cells(findings: list[Finding], source: str) -> None:
    """Notebook findings name the cell: `nb.ipynb[cell 3]:line:col`, line within the cell."""
    import re

    marks = [(source.count("\n", 0, m.start()) + 1, int(m.group(1))) for m in re.finditer(r"^# portmodel-cell (\d+)$", source, re.MULTILINE)]
    for f in findings:
        start, cell = max(((line, c) for line, c in marks if line < f.line), default=(0, 0))
        f.path, f.line = f"{f.path}[cell {cell}]", f.line - start
