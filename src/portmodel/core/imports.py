"""Keep the import block isort-clean after Keras imports are removed and torch ones added.

Only the contiguous run of plain top-level import statements around the edit is
re-ordered (sections: __future__, standard library, third party; `import x` before
`from x import y`, each sorted by module), the rest of the file is untouched.
"""

from __future__ import annotations

import sys

import libcst as cst


def _module_of(stmt: cst.SimpleStatementLine) -> tuple[int, int, str] | None:
    if len(stmt.body) != 1 or stmt.leading_lines and any(line.comment for line in stmt.leading_lines):
        return None
    small = stmt.body[0]
    if stmt.trailing_whitespace.comment is not None:
        return None
    if isinstance(small, cst.Import):
        if len(small.names) != 1:
            return None
        name, style = cst.Module([]).code_for_node(small.names[0].name), 0
    elif isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
        name, style = cst.Module([]).code_for_node(small.module), 1
    else:
        return None
    top = name.split(".")[0]
    section = 0 if top == "__future__" else 1 if top in sys.stdlib_module_names else 2
    return section, style, name.lower()


def sort_block(lines: list[str]) -> list[str] | None:
    """Sorted lines with one blank line between sections, or None if a line is not simple."""
    keyed = []
    for line in lines:
        try:
            stmt = cst.parse_statement(line.strip("\n") + "\n")
        except cst.ParserSyntaxError:
            return None
        key = _module_of(stmt) if isinstance(stmt, cst.SimpleStatementLine) else None
        if key is None:
            return None
        keyed.append((key, line.strip("\n")))
    keyed.sort()
    out: list[str] = []
    previous = None
    for (section, _, _), text in keyed:
        if previous is not None and section != previous:
            out.append("")
        out.append(text)
        previous = section
    return out


def dotted(node: cst.CSTNode) -> str:
    """The text of a dotted name (`keras.layers`)."""
    return cst.Module([]).code_for_node(node)


def bindings(node: cst.Import | cst.ImportFrom, base: str | None = None) -> list[tuple[str, str]]:
    """(local name, qualified name) for each name an import binds: `import a.b` binds `a`,
    `import a.b as c` binds `c` to `a.b`, `from m import x as y` binds `y` to `m.x`. `base`:
    the module an `ImportFrom` reads from, where the caller resolved it (a relative import);
    by default the module as written. A star import binds nothing known."""
    if isinstance(node, cst.Import):
        out = []
        for a in node.names:
            full = dotted(a.name)
            out.append((a.asname.name.value, full) if a.asname else (full.split(".")[0], full.split(".")[0]))
        return out
    if isinstance(node.names, cst.ImportStar):
        return []
    base = base if base is not None else (dotted(node.module) if node.module is not None else "")
    return [(a.asname.name.value if a.asname else dotted(a.name), f"{base}.{dotted(a.name)}" if base else dotted(a.name))
            for a in node.names]
