"""Write PyTorch source: module classes, the builder shim, and the import block."""

from __future__ import annotations

import re
import textwrap

import libcst as cst

from .values import LayerSite


def class_name(raw: str) -> str:
    """'build_digits_cnn' -> 'DigitsCnn'; 'mlp' -> 'Mlp'."""
    raw = re.sub(r"^(build|make|create|get|define)_", "", raw)
    parts = [p for p in re.split(r"[^0-9a-zA-Z]+", raw) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    return name if name[0].isalpha() else f"Model{name}"


def indent(text: str, n: int) -> str:
    return textwrap.indent(text, " " * n, lambda line: line.strip() != "")


def module_class(
    name: str,
    doc: str | None,
    params: str,
    sites: list[LayerSite],
    forward_params: list[str],
    forward_body: list[str],
    returns: list[str],
    leading: str = "",
    prelude: list[str] = (),
) -> str:
    """An `nn.Module` subclass with __init__ (`prelude`, then modules in `sites` order) and
    forward."""
    init = ["super().__init__()", *(text.strip("\n") for text in prelude)]
    for site in sites:
        if site.lowered is not None and site.lowered.module:
            init.append(f"self.{site.attr} = {site.lowered.module}")
    body = "\n".join(forward_body).lstrip("\n")  # a dropped first statement leaves no blank line
    ret = ", ".join(returns)
    # PEP 8: two blank lines before a top-level class (comments above it are kept)
    out = ["\n\n" + leading.lstrip("\n") + f"class {name}(nn.Module):"]
    if doc:
        out.append(indent(doc, 4))
        out.append("")
    out.append(f"    def __init__(self{', ' + params if params else ''}):")
    out.append(indent("\n".join(init), 8))
    out.append("")
    out.append(f"    def forward(self, {', '.join(forward_params)}):")
    if body.strip():
        out.append(indent(body, 8).rstrip("\n"))
    out.append(f"        return {ret}")
    return "\n".join(out) + "\n"


def statement_text(stmt: cst.CSTNode) -> str:
    """Source of one statement, comments included, dedented to column 0."""
    return textwrap.dedent(cst.Module([]).code_for_node(stmt)).rstrip("\n")


def import_block(used: set[str]) -> list[str]:
    """The torch imports the generated code needs (by the names it uses)."""
    lines = []
    if "torch" in used:
        lines.append("import torch")
    if "F" in used:
        lines.append("import torch.nn.functional as F")
    if "nn" in used:
        lines.append("from torch import nn")
    return lines
