"""The statements the code engine writes into `__init__` and `forward`, before they are text.

One Keras function becomes two bodies with the same control flow: `__init__` builds the
layers (and keeps the validation and bookkeeping), `forward` applies them. Both start as
copies of every statement; what a body does not need is removed afterwards (`prune`), so
`forward` keeps only the branches, loops and values its tensors depend on.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field


@dataclass
class Line:
    """A statement (maybe several lines). `pure`: it only defines names, and may go where
    nothing reads them."""

    text: str
    pure: bool = False
    comments: list[str] = field(default_factory=list)

    def names(self) -> tuple[frozenset[str], frozenset[str]]:
        return _names(self.text)


@dataclass
class Block:
    """`if`/`elif`/`else` or `for`/`while`: (header, body) per branch."""

    branches: list[tuple[str, list]]
    comments: list[str] = field(default_factory=list)

    def header_names(self) -> tuple[set[str], set[str]]:
        stores: set[str] = set()
        loads: set[str] = set()
        for header, _ in self.branches:
            head = header.strip()
            if head.startswith("elif "):
                head = head[2:]
            if head == "else:":
                continue
            s, lo = _names(head + " pass")
            stores |= s
            loads |= lo
        return stores, loads


@functools.lru_cache(maxsize=4096)
def _names(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """Names a statement binds and names it reads (a def's body counts as reads); cached, as
    the liveness passes read each statement many times."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return frozenset(), frozenset()
    stores, loads, own = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (stores if isinstance(node.ctx, ast.Store) else loads).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            stores.add(node.name)
        elif isinstance(node, ast.arg):
            stores.add(node.arg)
        elif isinstance(node, ast.comprehension):  # `[float(x) for x in rates]`: its own `x`
            own |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    return frozenset(stores - own), frozenset(loads - own)


def loads(nodes: list) -> set[str]:
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, Line):
            out |= node.names()[1]
        else:
            out |= node.header_names()[1]
            for _, body in node.branches:
                out |= loads(body)
    return out



def stores(nodes: list) -> set[str]:
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, Line):
            out |= node.names()[0]
        else:
            out |= node.header_names()[0]
            for _, body in node.branches:
                out |= stores(body)
    return out


def prune(nodes: list, keep: set[str] = frozenset()) -> list:
    """Remove pure lines whose names nothing reads afterwards (a backward liveness pass over
    the branches and loops), and blocks left empty; `keep`: names read after the body."""
    while True:
        pruned, _ = _live(nodes, set(keep))
        if _size(pruned) == _size(nodes):
            return pruned
        nodes = pruned


def live_in(nodes: list) -> set[str]:
    """Names the body reads before it sets them."""
    return _live(nodes, set())[1]


def _live(nodes: list, live: set[str]) -> tuple[list, set[str]]:
    out: list = []
    for node in reversed(nodes):
        if isinstance(node, Line):
            defined, used = node.names()
            if node.pure and defined and not (defined & live):
                continue
            live = (live - defined) | used
            out.append(node)
            continue
        head_stores, head_loads = node.header_names()
        if node.branches[0][0].startswith(("for ", "while ")):
            header, body = node.branches[0]
            inner = set(live)
            while True:
                new_body, body_live = _live(body, inner | live)
                grown = inner | body_live | head_loads
                if grown == inner:
                    break
                inner = grown
            if not _effective(new_body):
                continue
            live = live | (body_live - head_stores) | head_loads
            out.append(Block([(header, new_body)], node.comments))
            continue
        branches, lives = [], []
        for header, body in node.branches:
            new_body, body_live = _live(body, live)
            branches.append((header, new_body))
            lives.append(body_live)
        if all(not _effective(b) for _, b in branches):
            continue
        while branches and branches[-1][0].strip() == "else:" and not _effective(branches[-1][1]):
            branches.pop()
            lives.pop()
        falls_through = branches[-1][0].strip() != "else:"
        live = set().union(*lives) | head_loads | (live if falls_through else set())
        out.append(Block(branches, node.comments))
    out.reverse()
    return out, live


def _effective(body: list) -> bool:
    return any(not (isinstance(n, Line) and n.text.strip() == "pass") for n in body)


def _size(nodes: list) -> int:
    return sum(1 + sum(_size(b) for _, b in n.branches) if isinstance(n, Block) else 1 for n in nodes)


def has_code(text: str) -> bool:
    """A body that is more than blank lines and comments (else it needs `pass`)."""
    return any(t.strip() and not t.strip().startswith("#") for t in text.splitlines())


def merge_branches(nodes: list) -> list:
    """`if a: X` `elif b: X` (the same body, as pruning may leave them) as `if a or b: X`."""
    out = []
    for node in nodes:
        if isinstance(node, Line):
            out.append(node)
            continue
        branches = [(h, merge_branches(b)) for h, b in node.branches]
        merged: list = []
        for header, body in branches:
            prev = merged[-1] if merged else None
            if prev and header.startswith("elif ") and prev[0].startswith(("if ", "elif ")) \
                    and render(prev[1], "") == render(body, ""):
                word = "if " if prev[0].startswith("if ") else "elif "
                merged[-1] = (f"{word}{_test(prev[0])} or {_test(header)}:", prev[1])
                continue
            merged.append((header, body))
        out.append(Block(merged, node.comments))
    return out


def _test(header: str) -> str:
    """An if/elif header's test, parenthesised where `or` would bind into it."""
    test = header.split(" ", 1)[1].rstrip()[:-1].strip()
    wrapped = test.startswith("(") and test.endswith(")") and test.count("(") == 1
    return f"({test})" if not wrapped and any(w in test for w in (" if ", "lambda", ":=")) else test


def render(nodes: list, indent: str) -> str:
    lines: list[str] = []
    for node in nodes:
        lines += [indent + c for c in node.comments]
        if isinstance(node, Line):
            lines += [indent + t if t.strip() else "" for t in node.text.splitlines()]
            continue
        for header, body in node.branches:
            lines.append(indent + header)
            text = render(body, indent + "    ")
            if not has_code(text):
                text = (text + "\n" if text.strip() else "") + indent + "    pass"
            lines.append(text)
    return "\n".join(lines)


def inline_counts(nodes: list, is_simple) -> list:
    """`x_channels = 64` written into the statements after it where it reads the same
    (`nn.Conv2d(64, ...)`), in one body and the blocks inside it that do not set it again;
    `is_simple(name, value)` says which bookkeeping lines may be inlined."""
    out = list(nodes)
    for i, node in enumerate(out):
        if isinstance(node, Block):
            out[i] = Block([(h, inline_counts(b, is_simple)) for h, b in node.branches], node.comments)
    i = 0
    while i < len(out):
        node = out[i]
        target = _simple_assign(node, is_simple)
        if target is None:
            i += 1
            continue
        name, value = target
        # a read of the name: not an attribute (`self.out_channels`) nor a keyword (`f(out_channels=...)`)
        pattern = re.compile(rf"(?<![.\w]){re.escape(name)}\b(?!\s*=(?!=))")
        j = i + 1
        while j < len(out):
            nxt = out[j]
            if name in (nxt.names()[0] if isinstance(nxt, Line) else stores([nxt])):
                if isinstance(nxt, Line) and name not in nxt.names()[1]:
                    break  # set again: what follows reads the new value
                if isinstance(nxt, Line):
                    out[j] = Line(_sub_reads(nxt.text, pattern, value), nxt.pure, nxt.comments)
                break
            out[j] = _substitute(nxt, pattern, value)
            j += 1
        i += 1
    return out


def _sub_reads(text: str, pattern, value: str) -> str:
    """`x = f(x)`: only the right-hand side reads the old value."""
    target, sep, rhs = text.partition(" = ")
    return target + sep + pattern.sub(value, rhs) if sep else text


def _substitute(node, pattern, value: str):
    if isinstance(node, Line):
        return Line(pattern.sub(value, node.text), node.pure, node.comments)
    return Block([(pattern.sub(value, h), [_substitute(n, pattern, value) for n in b]) for h, b in node.branches],
                 node.comments)


def _simple_assign(node, is_simple):
    if not isinstance(node, Line) or " = " not in node.text or "\n" in node.text:
        return None
    name, value = (part.strip() for part in node.text.split(" = ", 1))
    return (name, value) if name.isidentifier() and is_simple(name, value) else None
