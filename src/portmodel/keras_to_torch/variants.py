"""One piece of code for several uses: the iterations of a loop that builds layers, and
the uses of a Keras class (or helper) that need different constructors.

A loop `[Block(...) for i in range(n)]` gives one constructor text per iteration; they
become one element: the same text, or arguments written in the loop variable (the first
iteration's own input `in_channels if i == 0 else filters`, a fixed step `in_channels + 8 * i`).

A component is translated once per use, with that use's arguments and input; uses that
differ where sizes or padding depend on an argument (`padding="same" if stride == 1 else
"valid"`, a first block without its expansion layer) give texts that differ in a few
constructor arguments. Those become conditions on the class's own arguments, chosen from
the values each use passed:

    nn.Conv2d(in_channels, in_channels, padding=1)          # stride=1, block_id=0
    nn.Conv2d(6 * in_channels, 6 * in_channels)             # stride=2, block_id=1
 -> nn.Conv2d(expansion * in_channels if block_id else in_channels, ...,
              padding=1 if stride == 1 else 0)

Only two versions of one argument are merged (one condition, readable); anything else
stays a TODO at the use that does not fit.
"""

from __future__ import annotations

import functools
import re

import libcst as cst

from ..core.parsing import walk as _walk
from ..core.static_eval import is_int
from ..loading import quiet_import
from .hooks import Untranslatable
from .values import code


def loop_element(modules: list[str], loop: cst.CompFor, items: list) -> str:
    """`<module> for v in <iterable>` for a comprehension building `modules`: one text when
    every iteration builds the same. Otherwise the iterations must call one constructor
    with arguments that differ in two ways only: the first iteration's (the first layer of a
    stage takes the stage's input) -> `a if v == <first> else b`; or by a fixed step each
    iteration (a dense block's inputs grow by its growth rate) -> `in_channels + 8 * v`."""
    target, iterable = code(loop.target), code(loop.iter)
    if len(set(modules)) == 1:
        return f"{modules[0]} for {target} in {iterable}"
    if target == "_":
        target = "i"
        if not all(is_int(v) for v in items) or any(re.search(r"\bi\b", m) for m in modules):
            raise Untranslatable("the layers this loop builds differ and the loop has no variable")
    merged = _merge_iterations([cst.parse_expression(m) for m in modules], target, items)
    if merged is None:
        raise Untranslatable(f"the layers this loop builds need different code ({modules[0]} / {modules[1]})")
    return f"{merged} for {target} in {iterable}"


def _merge_iterations(nodes: list, target: str, items: list) -> str | None:
    """One expression for what each iteration builds: calls of one constructor are merged
    argument by argument (nested calls too), differing arguments by `_varying`."""
    texts = [code(n) for n in nodes]
    if len(set(texts)) == 1:
        return texts[0]
    calls = all(isinstance(n, cst.Call) for n in nodes)
    shape = {(code(n.func), tuple(code(a.keyword) if a.keyword else "*" * len(a.star) for a in n.args))
             for n in nodes} if calls else set()
    if len(shape) != 1:
        return _varying(texts, target, items)
    args = []
    for k, arg in enumerate(nodes[0].args):
        value = _merge_iterations([n.args[k].value for n in nodes], target, items)
        if value is None:
            return None
        args.append(arg.with_changes(value=cst.parse_expression(value)))
    return code(nodes[0].with_changes(args=args))


def _varying(texts: list[str], target: str, items: list) -> str | None:
    """One expression in the loop variable for an argument that differs per iteration."""
    first_only = len(set(texts[1:])) == 1
    if first_only and len(texts) > 2:
        return f"{texts[0]} if {target} == {items[0]!r} else {texts[1]}"
    step = _stepped(texts, target, items)
    if step is None and first_only:
        return f"{texts[0]} if {target} == {items[0]!r} else {texts[1]}"
    return step


def _stepped(texts: list[str], target: str, items: list) -> str | None:
    """`a * name + b * target + c` when every text is that at its iteration's item (integer
    sizes in at most one name), else None."""
    lines = [_linear(t) for t in texts]
    if None in lines or len({(n, a) for n, a, _ in lines}) != 1 or not all(is_int(v) for v in items):
        return None
    name, a, _ = lines[0]
    (c0, c1), (i0, i1) = (lines[0][2], lines[1][2]), (items[0], items[1])
    if i1 == i0 or (c1 - c0) % (i1 - i0):
        return None
    b = (c1 - c0) // (i1 - i0)
    c = c0 - b * i0
    if any(line[2] != c + b * item for line, item in zip(lines, items)):
        return None
    terms = [(a, name), (b, target), (c, None)]
    text = ""
    for coef, var in terms:
        if coef == 0:
            continue
        part = var if var and abs(coef) == 1 else (f"{abs(coef)} * {var}" if var else str(abs(coef)))
        text += (f" - {part}" if coef < 0 else f" + {part}") if text else (f"-{part}" if coef < 0 else part)
    return text or "0"


def _linear(text: str):
    """`text` as (name, a, c) for `a * name + c` (integer arithmetic in at most one name)."""
    import ast

    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    if len(names) > 1:
        return None
    name = next(iter(names), None)
    try:
        c = _int_value(tree, name, 0)
        a = _int_value(tree, name, 1) - c
        return (name, a, c) if _int_value(tree, name, 7) == 7 * a + c else None
    except ValueError:
        return None


def _int_value(node, name: str | None, value: int) -> int:
    """An integer expression of + - * over `name` (= value) and integer constants."""
    import ast

    if isinstance(node, ast.Constant) and is_int(node.value):
        return node.value
    if isinstance(node, ast.Name) and node.id == name:
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_int_value(node.operand, name, value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult):
        left, right = _int_value(node.left, name, value), _int_value(node.right, name, value)
        return left + right if isinstance(node.op, ast.Add) else left - right if isinstance(node.op, ast.Sub) else left * right
    raise ValueError("not an integer expression of one name")


def merge(texts: list[str], values: list[dict], source: cst.ClassDef) -> str | None:
    """The class text covering every use (`texts[i]` translated with constructor arguments
    `values[i]`), or None. `source`: the class as written; a condition is sought first
    among the arguments the differing layer's construction reads, then those its `if`s test."""
    reads, inputs = _dependencies(source)
    tests = _tested_names(source)
    lines = [t.splitlines() for t in texts]
    if len({len(ls) for ls in lines}) != 1:
        return None
    out, merged_rows = [], []
    for row in zip(*lines):
        if len(set(row)) == 1:
            out.append(row[0])
            continue
        merged = _merge_line(list(row), values, (reads, inputs), tests)
        if merged is None:
            return None
        merged_rows.append(len(out))
        out.append(merged)
    return "\n".join(_named_conditions(out, merged_rows)) + ("\n" if texts[0].endswith("\n") else "")


def _named_conditions(lines: list[str], rows: list[int]) -> list[str]:
    """A condition written in several constructors (`expansion * in_channels if block_id
    else in_channels`: the block's inner width) is computed once at the top of __init__,
    as `channels`, and read by name."""
    found: list[str] = []
    for i in rows:
        found += [code(n) for n in _walk(cst.parse_statement(lines[i].strip())) if isinstance(n, cst.IfExp)]
    repeated = [c for c in dict.fromkeys(found) if found.count(c) > 1]
    if not repeated:
        return lines
    start = next((i for i, line in enumerate(lines) if line.strip() == "super().__init__()"), None)
    if start is None:
        return lines
    indent = re.match(r"\s*", lines[start]).group(0)
    taken = set(re.findall(r"[A-Za-z_]\w*", "\n".join(lines)))
    names, out = {}, list(lines)
    for text in repeated:
        base = "channels" if re.search(r"\bin_channels\b", text) else "value"
        name, k = base, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        names[text] = name
    for i in rows:
        for text, name in names.items():
            out[i] = out[i].replace(text, name)
    at = start + 1
    while at < len(out) and re.match(r"\s*self\.\w+ = \w+$", out[at]):  # after `self.stride = stride`
        at += 1
    return out[:at] + [f"{indent}{name} = {text}" for text, name in names.items()] + out[at:]


def _merge_line(row: list[str], values: list[dict], deps: tuple[dict, dict], tests: list[str]) -> str | None:
    indent = re.match(r"\s*", row[0]).group(0)
    try:
        stmts = [cst.parse_statement(line.strip()) for line in row]
    except cst.ParserSyntaxError:
        return None
    smalls = [s.body[0] if isinstance(s, cst.SimpleStatementLine) and len(s.body) == 1 else None for s in stmts]
    if not all(isinstance(s, cst.Assign) and isinstance(s.value, cst.Call) for s in smalls):
        return None
    if len({code(s.targets[0].target) for s in smalls}) != 1 or len({code(s.value.func) for s in smalls}) != 1:
        return None
    target = smalls[0].targets[0].target
    attr = target.attr.value if isinstance(target, cst.Attribute) else code(target)
    reads, inputs = deps
    by_args = list(dict.fromkeys([*reads.get(attr, []), *inputs.get(attr, []), *tests]))
    by_input = list(dict.fromkeys([*inputs.get(attr, []), *reads.get(attr, []), *tests]))
    call = _merge_call([s.value for s in smalls], values, (by_args, by_input))
    return None if call is None else indent + code(smalls[0].with_changes(value=call))


def merge_calls(calls: list[cst.Call], values: list[dict], prefer: list[str]) -> str | None:
    """One constructor call for uses that each wrote `calls[i]` with the constants
    `values[i]` in scope (the PyTorch -> Keras direction: names `prefer`red first)."""
    if len({code(c.func) for c in calls}) != 1:
        return None
    merged = _merge_call(calls, values, (prefer, prefer))
    return None if merged is None else code(merged)


def _merge_call(calls: list[cst.Call], values: list[dict], tests: tuple[list, list]) -> cst.Call | None:
    positional = [[a for a in c.args if a.keyword is None] for c in calls]
    if len({len(p) for p in positional}) != 1 or any(a.star for c in calls for a in c.args):
        return None
    keywords = [{a.keyword.value: a for a in c.args if a.keyword is not None} for c in calls]
    names = list(max(keywords, key=len))
    names += [k for kw in keywords for k in kw if k not in names]
    func = code(calls[0].func)
    parts = []
    for i in range(len(positional[0])):
        parts.append(_choose([code(p[i].value) for p in positional], values, tests))
    for name in names:
        texts = [code(kw[name].value) if name in kw else _default(func, name) for kw in keywords]
        value = None if None in texts else _choose(texts, values, tests)
        parts.append(None if value is None else f"{name}={value}")
    if None in parts:
        return None
    return cst.parse_expression(f"{func}({', '.join(parts)})")


def _choose(texts: list[str], values: list[dict], prefer: tuple[list, list]) -> str | None:
    """One expression giving texts[i] for the use with constructor arguments values[i].
    A size that follows the input (`in_channels`) is explained first by what decides the
    input (`if expand_ratio != 1: x = expand(x)`), any other by what the layer reads."""
    variants = list(dict.fromkeys(texts))
    if len(variants) == 1:
        return variants[0]
    if len(variants) != 2:
        return None
    tests = prefer[1] if any(re.search(r"\bin_channels\b", t) for t in variants) else prefer[0]
    params = [p for p in values[0] if p != "in_channels"]
    for param in sorted(params, key=lambda p: tests.index(p) if p in tests else len(tests)):
        seen = [v.get(param) for v in values]
        by_variant = [{repr(s) for s, t in zip(seen, texts) if t == variant} for variant in variants]
        if by_variant[0] & by_variant[1]:
            continue  # the same value of this argument gives both texts
        a, b = variants
        truth = [{bool(s) for s, t in zip(seen, texts) if t == variant} for variant in variants]
        if truth[0] == {True} and truth[1] == {False}:
            return f"{_arm(a)} if {param} else {_arm(b)}"
        if truth[0] == {False} and truth[1] == {True}:
            return f"{_arm(b)} if {param} else {_arm(a)}"
        for mine, other, keys in ((a, b, by_variant[0]), (b, a, by_variant[1])):
            if len(keys) == 1:
                return f"{_arm(mine)} if {param} == {next(iter(keys))} else {_arm(other)}"
    return None


def _names(node) -> list[str]:
    """Names `node` reads, `self.x` read as `x` (an argument kept as an attribute)."""
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, cst.Attribute):
            if isinstance(n.value, cst.Name) and n.value.value == "self":
                out.append(n.attr.value)
            else:
                stack.append(n.value)
            continue
        if isinstance(n, cst.Arg):
            stack.append(n.value)
            continue
        if isinstance(n, cst.Name):
            out.append(n.value)
        stack.extend(reversed(n.children))
    return out


def _dependencies(cls: cst.ClassDef) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(attribute -> the names its construction depends on, attribute -> the names its
    input depends on), through local variables and the conditions they are assigned under,
    nearest first (`self.dwconv = DepthwiseConv2D(kernel_size, padding=conv_pad)`, `conv_pad`
    set under `if strides == 2`; `x = self.dwconv(x)`, `x` set under `if expand_ratio != 1`)."""
    direct: dict[str, list[str]] = {}
    applied: dict[str, list[str]] = {}

    def note_calls(stmt, tests: list[str]) -> None:
        for n in _walk(stmt):
            func = n.func if isinstance(n, cst.Call) else None
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
                applied.setdefault(func.attr.value, []).extend([*(x for a in n.args for x in _names(a)), *tests])

    def visit(stmts, tests: list[str]) -> None:
        for stmt in stmts:
            if isinstance(stmt, cst.If):
                inner = [*tests, *_names(stmt.test)]
                visit(stmt.body.body, inner)
                orelse = stmt.orelse
                visit([orelse] if isinstance(orelse, cst.If) else (orelse.body.body if orelse else []), inner)
            elif isinstance(stmt, cst.For | cst.While | cst.With | cst.FunctionDef):
                visit(stmt.body.body, tests)
            elif isinstance(stmt, cst.SimpleStatementLine):
                note_calls(stmt, tests)
                for small in stmt.body:
                    if isinstance(small, cst.Assign):
                        for t in small.targets:
                            key = t.target.attr.value if isinstance(t.target, cst.Attribute) else code(t.target)
                            direct.setdefault(key, []).extend([*_names(small.value), *tests])

    visit(cls.body.body, [])

    def closure(start: list[str]) -> list[str]:
        seen, queue = [], list(start)
        while queue:
            name = queue.pop(0)
            if name not in seen and name != "self":
                seen.append(name)
                queue += direct.get(name, [])
        return seen

    return {k: closure(v) for k, v in direct.items()}, {k: closure(v) for k, v in applied.items()}


def _tested_names(cls: cst.ClassDef) -> list[str]:
    """Names the class's conditions read (`if block_id:`, `if self.stride == 2:`), in order."""
    found: list[str] = []

    class V(cst.CSTVisitor):
        def visit_If(self, node) -> None:
            found.extend(_names(node.test))

        def visit_IfExp(self, node) -> None:
            found.extend(_names(node.test))

    cls.visit(V())
    return [n for n in dict.fromkeys(found) if n != "self"]


def _arm(text: str) -> str:
    node = cst.parse_expression(text)
    return f"({text})" if isinstance(node, cst.IfExp | cst.Lambda) else text


@functools.lru_cache(maxsize=256)
def _default(func: str, keyword: str) -> str | None:
    """Source for the default of a constructor's keyword as generated code names it
    (`nn.Conv2d`, `padding` -> `0`; `layers.Conv2D`, `padding` -> `'valid'`)."""
    import importlib
    import inspect

    roots = {"nn": "torch.nn", "torch": "torch", "layers": "keras.layers", "keras": "keras"}
    root = roots.get(func.split(".")[0])
    if root is None:
        return None
    try:
        obj = quiet_import(root) if root.startswith("keras") else importlib.import_module(root)
    except ImportError:  # `pip install portmodel` alone translates: the default is then unknown
        return None
    for part in func.split(".")[1:]:
        obj = getattr(obj, part, None)
    if obj is None:
        return None
    try:
        param = inspect.signature(obj).parameters.get(keyword)
    except (TypeError, ValueError):
        return None
    if param is None or param.default is inspect.Parameter.empty:
        return None
    return repr(param.default)
