"""What a lint check is and the context it runs in (the package docstring says how checks are
written); `register` fills `CHECKS`, in the order the check modules are imported."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from ..core.config import Config
from ..core.parsing import parse_python
from ..keras_to_torch.names import KerasNames

CHECKS: dict[str, type[Check]] = {}
_SUPPRESS = re.compile(r"#\s*portmodel:\s*ignore(?:\[([A-Z0-9,\s]+)\])?")


def register(cls: type[Check]) -> type[Check]:
    if cls.code in CHECKS:
        raise RuntimeError(f"lint code {cls.code} registered twice")
    if cls.fix not in ("safe", "unsafe", "manual"):
        raise RuntimeError(f"{cls.code}: fix must be safe, unsafe or manual")
    CHECKS[cls.code] = cls
    return cls


@dataclass
class Finding:
    path: str
    line: int
    col: int
    code: str
    message: str
    fix: str  # safe | unsafe | manual
    level: str = "warning"
    replace: tuple | None = field(default=None, repr=False)  # (original node, new node)

    def format(self) -> str:
        mark = " [*]" if self.replace is not None else ""
        return f"{self.path}:{self.line}:{self.col}: {self.code}{mark} {self.message}"

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("path", "line", "col", "code", "message", "fix", "level")}


class Check:
    code: ClassVar[str]
    name: ClassVar[str]
    fix: ClassVar[str] = "manual"
    level: ClassVar[str] = "warning"
    source: ClassVar[tuple[str, ...]] = ("keras", "torch")  # applies when migrating from these
    only_migrated: ClassVar[bool] = False  # runs only on files marked `migrated`
    VALID: ClassVar[tuple[str, ...]] = ()
    INVALID: ClassVar[tuple[str, ...]] = ()
    FIXED: ClassVar[tuple[str, ...]] = ()  # INVALID after --fix (safe checks)

    def run(self, ctx: LintContext) -> Iterator[Finding]:
        raise NotImplementedError


class LintContext:
    """One parsed file with name resolution, positions and the calls it makes."""

    def __init__(self, path: str, source: str, config: Config):
        self.path = path
        self.source = source
        self.config = config
        module = parse_python(source, path)
        self._wrapper = wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        self.module = wrapper.module
        self.keras = KerasNames.for_module(wrapper)
        self.calls: list[cst.Call] = []
        self.imports: list[cst.Import | cst.ImportFrom] = []
        ctx = self

        class Collect(cst.CSTVisitor):
            def visit_Call(self, node: cst.Call) -> None:
                ctx.calls.append(node)

            def visit_Import(self, node: cst.Import) -> None:
                ctx.imports.append(node)

            def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
                ctx.imports.append(node)

        self.module.visit(Collect())

    @functools.cached_property
    def pos(self):
        """Node positions, resolved when a finding first needs one (a whole-tree pass)."""
        return self._wrapper.resolve(PositionProvider)

    def qualified(self, node: cst.CSTNode) -> set[str]:
        return self.keras.all_of(node)

    def torch_name(self, node: cst.CSTNode) -> str | None:
        for name in self.qualified(node):
            if name.startswith("torch."):
                return name
        return None

    def finding(self, check: Check, node: cst.CSTNode, message: str, replace=None) -> Finding:
        p = self.pos[node]
        fix = check.fix if replace is not None or check.fix != "safe" else "manual"
        return Finding(self.path, p.start.line, p.start.column + 1, check.code, message, fix, check.level, replace)


def kwargs_of(call: cst.Call, signature: tuple[str, ...]) -> dict[str, cst.Arg]:
    """Arguments by name, positional ones named from `signature`."""
    out = {}
    for i, arg in enumerate(call.args):
        if arg.star:
            continue
        if arg.keyword is not None:
            out[arg.keyword.value] = arg
        elif i < len(signature):
            out[signature[i]] = arg
    return out


def with_keywords(call: cst.Call, extra: dict[str, str]) -> cst.Call:
    """`call` with keyword arguments appended (values are source text)."""
    args = list(call.args)
    if args:
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    for i, (key, value) in enumerate(extra.items()):
        last = i == len(extra) - 1
        args.append(
            cst.Arg(
                keyword=cst.Name(key),
                value=cst.parse_expression(value),
                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
                comma=cst.MaybeSentinel.DEFAULT if last else cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
            )
        )
    return call.with_changes(args=args)


def unwritten_defaults(check: Check, ctx: LintContext, keras_class: str, torch_classes: dict, message: str, aliases=None):
    """Findings (with the safe fix) for calls leaving a default that differs between the
    frameworks implicit. The defaults come from the layer's rule (`defaults_differ`), so they
    are known in one place; `torch_classes` maps qualified torch names to their signature."""
    from ..rulebook import load_rules

    rule = load_rules().layer(keras_class)
    for call in ctx.calls:
        if ctx.keras.layer_class(call.func) == keras_class:
            given = set(kwargs_of(call, rule.signature))
            given |= {aliases[k] for k in given if k in (aliases or {})}
            missing = {d.keras: repr(d.keras_default) for d in rule.defaults_differ if d.keras not in given}
        elif ctx.torch_name(call.func) in torch_classes:
            given = set(kwargs_of(call, torch_classes[ctx.torch_name(call.func)]))
            missing = {d.torch: repr(d.torch_default) for d in rule.defaults_differ if d.torch not in given}
        else:
            continue
        if missing:
            text = message.format(names=" and ".join(missing))
            yield ctx.finding(check, call, text, (call, with_keywords(call, missing)))


def suppressed(finding: Finding, lines: list[str]) -> bool:
    if not 0 < finding.line <= len(lines):
        return False
    m = _SUPPRESS.search(lines[finding.line - 1])
    if m is None:
        return False
    codes = m.group(1)
    return codes is None or any(finding.code.startswith(c.strip()) for c in codes.split(","))
