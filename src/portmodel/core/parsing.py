"""Parse user source safely, with errors that name the file and line.

CPython's own compiler runs first (to bytecode only; nothing is executed): it bounds nesting
("too many nested parentheses") where libcst's native parser would overflow its stack and
crash the process on hostile input, it rejects what Python rejects (`return` outside a
function), and its messages name the line a person would look at.
"""

from __future__ import annotations

import libcst as cst

from .errors import PortmodelError

TOO_DEEP = "expressions nested too deeply to parse safely; simplify them or exclude the file"
# Model source is kilobytes; a multi-megabyte file is generated data or an accident, and
# parsing it would take minutes and gigabytes (libcst keeps every token).
MAX_SOURCE_CHARS = 4_000_000


def parse_python(source: str, path: str) -> cst.Module:
    if len(source) > MAX_SOURCE_CHARS:
        raise PortmodelError(
            f"file too large to translate ({len(source) / 1e6:.1f} MB, the limit is {MAX_SOURCE_CHARS / 1e6:.0f} MB); "
            "split it or exclude it",
            path,
        )
    try:
        compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as err:
        raise PortmodelError(f"syntax error: {err.msg}; fix the file or exclude it", path, err.lineno) from None
    except (RecursionError, MemoryError):
        raise PortmodelError(TOO_DEEP, path) from None
    except ValueError as err:  # e.g. a NUL byte in the source
        raise PortmodelError(f"not Python source: {err}", path) from None
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise PortmodelError(f"syntax error: {exc.message}; fix the file or exclude it", path, exc.raw_line) from None
    except RecursionError:
        raise PortmodelError(TOO_DEEP, path) from None


def walk(node: cst.CSTNode):
    """Every node under `node` (itself first), in source order."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))
