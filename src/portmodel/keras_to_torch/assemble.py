"""The translated file put together: pieces joined, the Keras imports nothing uses any more
pruned, the torch imports added once and sorted, support functions added where called."""

from __future__ import annotations

import ast
import re

import libcst as cst

from ..core.imports import sort_block
from .hooks import SUPPORT
from .names import KERAS_ROOTS
from .values import code
from .writer import import_block


def add_support_functions(pieces: list[str], source: str) -> None:
    """Functions the generated code calls (`tf_same_pad`), each once, before its first use."""
    added: set[str] = set()
    while True:  # a support function may call another (keras_same_pad: tf_same_pad)
        for name, text in SUPPORT.items():
            call = re.compile(rf"(?<![\w.]){name}\(")
            first = next((k for k, p in enumerate(pieces) if call.search(p)), None)
            if name not in added and first is not None and not re.search(rf"^def {name}\(", source, re.MULTILINE):
                pieces.insert(first, "\n\n" + text)
                added.add(name)
                break
        else:
            return


def assemble(header: str, pieces: list[str], import_slot) -> str:
    """Join the pieces, prune unused Keras imports, add the torch imports once."""
    draft = "".join(p if p.endswith("\n") else p + "\n" for p in pieces)
    used = used_names(draft)
    kept: list[str] = []
    for idx, piece in enumerate(pieces):
        stmt = cst.parse_statement(piece) if idx == import_slot or _looks_import(piece) else None
        if stmt is not None and isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(s, cst.Import | cst.ImportFrom) and is_keras_import(s) for s in stmt.body
        ):
            piece = prune_import(stmt, used)
        kept.append(piece)
    if import_slot is None:
        import_slot = _first_code_index(pieces)
    kept[import_slot:import_slot] = [line + "\n" for line in import_block(used)]
    kept = _sort_import_run(kept, import_slot)
    text = "".join(p if p.endswith("\n") or p == "" else p + "\n" for p in kept)
    return (header + "\n" if header else "") + text


def _sort_import_run(pieces: list[str], slot: int) -> list[str]:
    """isort the contiguous import statements around `slot` (a no-op when any is unusual)."""
    def is_import(p: str) -> bool:
        return p.strip() == "" or _looks_import(p) and len(p.strip().splitlines()) == 1

    start = slot
    while start > 0 and is_import(pieces[start - 1]):
        start -= 1
    end = slot
    while end < len(pieces) and is_import(pieces[end]):
        end += 1
    run = [p for p in pieces[start:end] if p.strip()]
    if not run:
        return pieces
    first = next(p for p in pieces[start:end] if p.strip())
    leading = first[: len(first) - len(first.lstrip("\n"))]
    ordered = sort_block(run)
    if ordered is None:
        return pieces
    tail = pieces[end:]
    if tail and tail[0].strip() and not tail[0].startswith("\n"):
        tail = ["\n" + tail[0]] + tail[1:]
    return pieces[:start] + [leading + "\n".join(ordered) + "\n"] + tail


def _looks_import(piece: str) -> bool:
    first = piece.lstrip().split("\n", 1)[0]
    return first.startswith(("import ", "from "))


def _first_code_index(pieces: list[str]) -> int:
    for i, p in enumerate(pieces):
        s = p.strip()
        if s.startswith(("from __future__",)) or (s.startswith(('"""', "'''", '"', "'")) and i == 0):
            continue
        return i
    return len(pieces)


def used_names(text: str) -> set[str]:
    """Identifiers anywhere outside import statements: names, attributes, parameters,
    keywords, definitions (what libcst reads as a Name). Read with Python's own parser,
    which is many times faster than walking a libcst tree on files of thousands of lines."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            used.add(node.name)
        elif isinstance(node, ast.arg):
            used.add(node.arg)
        elif isinstance(node, ast.keyword | ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and _ast_name(node):
            used.add(_ast_name(node))
        elif isinstance(node, ast.Global | ast.Nonlocal):
            used.update(node.names)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            used.add(node.rest)
        elif isinstance(node, ast.MatchClass):
            used.update(node.kwd_attrs)
    return used


def _ast_name(node: ast.AST) -> str | None:
    return node.arg if isinstance(node, ast.keyword) else node.name


def prune_import(stmt: cst.SimpleStatementLine, used: set[str], is_source=None) -> str:
    """The import without the source framework's names nothing uses any more."""
    is_source = is_source or is_keras_import
    keep_small = []
    for small in stmt.body:
        if not (isinstance(small, cst.Import | cst.ImportFrom) and is_source(small)):
            keep_small.append(small)
            continue
        if isinstance(small.names, cst.ImportStar):
            continue
        aliases = [
            a
            for a in small.names
            if (code(a.asname.name) if a.asname else code(a.name).split(".")[0]) in used
        ]
        if aliases:
            aliases[-1] = aliases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            keep_small.append(small.with_changes(names=aliases))
    if not keep_small:
        # keep comments that sat above the import
        return "".join(code(line) for line in stmt.leading_lines)
    return code(stmt.with_changes(body=keep_small))


def is_keras_import(node) -> bool:
    if isinstance(node, cst.Import):
        return any(code(a.name).split(".")[0] in KERAS_ROOTS for a in node.names)
    if node.module is None:
        return False
    return code(node.module).split(".")[0] in KERAS_ROOTS

