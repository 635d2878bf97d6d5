"""Jupyter notebooks: their code cells become one Python source and back.

Cells are joined with marker comments (so imports in one cell resolve names in another);
IPython magics (`%...`, `!...`) are hidden in comments while the source is parsed.
"""

from __future__ import annotations

import json
import re

from .core.errors import PortmodelError

MARK = "# portmodel-cell {}"
_MARK_RE = re.compile(r"^# portmodel-cell (\d+)\n", re.MULTILINE)
_MAGIC = "# portmodel-magic: "


def load(path: str, text: str) -> dict:
    try:
        nb = json.loads(text)
    except ValueError as exc:
        raise PortmodelError(f"not a valid notebook: {exc}", path) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise PortmodelError("not a valid notebook: no list of cells", path)
    return nb


def to_source(nb: dict) -> str:
    parts = []
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        src = "".join(cell.get("source", []))
        lines = [(_MAGIC + line) if line.lstrip().startswith(("%", "!")) else line for line in src.split("\n")]
        parts.append(MARK.format(i) + "\n" + "\n".join(lines).rstrip("\n") + "\n")
    return "\n\n".join(parts)


def from_source(nb: dict, source: str) -> dict:
    """A copy of `nb` whose code cells hold the matching parts of `source`."""
    pieces = _MARK_RE.split(source)
    head, rest = pieces[0], pieces[1:]
    texts = {}
    for index, body in zip(rest[0::2], rest[1::2]):
        texts[int(index)] = body
    if head.strip() and texts:  # code placed before the first marker (added imports) joins it
        first = min(texts)
        texts[first] = head.rstrip("\n") + "\n" + texts[first]
    out = json.loads(json.dumps(nb))
    for i, cell in enumerate(out["cells"]):
        if i in texts:
            text = texts[i].strip("\n").replace(_MAGIC, "")
            lines = text.split("\n")
            cell["source"] = [line + "\n" for line in lines[:-1]] + [lines[-1]] if text else []
    return out


def dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
