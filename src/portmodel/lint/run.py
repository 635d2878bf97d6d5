"""Run the checks on files, apply fixes, and collect the results."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from ..config import Config
from ..errors import PortmodelError
from ..fsutil import write_text
from . import CHECKS, Finding, LintContext, suppressed


@dataclass
class FileLint:
    path: str
    findings: list[Finding] = field(default_factory=list)
    fixed: int = 0
    error: str | None = None


class _Apply(cst.CSTTransformer):
    def __init__(self, replacements: dict[int, cst.CSTNode]):
        self.replacements = replacements

    def leave_Call(self, original, updated):
        return self.replacements.get(id(original), updated)


def lint_source(source: str, path: str, config: Config, *, fix: bool = False, unsafe: bool = False):
    """(findings still present, fixed source or None)."""
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
        return findings, None
    safe = {id(f.replace[0]): f.replace[1] for f in findings if f.replace is not None and f.fix == "safe"}
    new = ctx.module.visit(_Apply(safe)).code if safe else None
    if unsafe and any(f.fix == "unsafe" for f in findings):
        from ..translate import translate_source

        new = translate_source(new or source, path).code
    if new is None or new == source:
        return findings, None
    remaining, _ = lint_source(new, path, config)
    return remaining, new


def lint_file(path: str, config: Config, *, fix: bool = False, unsafe: bool = False) -> FileLint:
    result = FileLint(path)
    try:
        from ..port import read_source

        source = read_source(path)
        before = None
        if fix:
            before, _ = lint_source(source, path, config)
        result.findings, new = lint_source(source, path, config, fix=fix, unsafe=unsafe)
        if new is not None:
            write_text(path, new)
            result.fixed = len(before) - len(result.findings)
    except PortmodelError as exc:
        result.error = str(exc)
    return result
