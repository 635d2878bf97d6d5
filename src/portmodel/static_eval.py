"""Evaluate small constant expressions in source code without running it."""

from __future__ import annotations

import ast
import operator

import libcst as cst


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN = _Unknown()


class SymInt(int):
    """An int that remembers the source it came from (`filters`, `in_channels`, `4 * filters`).

    Python arithmetic on it gives plain ints; arithmetic written in the source and read by
    `static_eval` keeps the expression, so generated constructors can say
    `nn.Conv2d(filters, 4 * filters, ...)` instead of baked numbers.
    """

    code: str

    def __new__(cls, value: int, code: str):
        obj = super().__new__(cls, value)
        obj.code = code
        return obj


def symbolic(value, name: str):
    """Wrap a plain int (not a bool) as a SymInt named `name`."""
    if is_int(value):
        return SymInt(int(value), name)
    return value


def sym_code(value) -> str:
    """Source for a size: its name when it has one, else the number."""
    return value.code if isinstance(value, SymInt) else str(value)


def plain(value):
    """Drop names (for values crossing into another namespace)."""
    if isinstance(value, SymInt):
        return int(value)
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value

_BINOPS = {
    cst.Add: operator.add,
    cst.Subtract: operator.sub,
    cst.Multiply: operator.mul,
    cst.Divide: operator.truediv,
    cst.FloorDivide: operator.floordiv,
    cst.Modulo: operator.mod,
    cst.Power: operator.pow,
}


# builtins with no side effects, folded when every argument is a constant (str(i), int(x * 0.5))
_PURE = {"str": str, "int": int, "abs": abs, "min": min, "max": max, "len": len, "round": round}


def static_eval(node: cst.BaseExpression, env: dict):
    """Value of `node` if it is a constant expression over `env`, else UNKNOWN."""
    if isinstance(node, cst.Integer | cst.Float | cst.SimpleString | cst.ConcatenatedString):
        try:
            return ast.literal_eval(cst.Module([]).code_for_node(node))
        except (ValueError, SyntaxError):
            return UNKNOWN
    if isinstance(node, cst.Name):
        if node.value in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.value]
        return env.get(node.value, UNKNOWN)
    if isinstance(node, cst.Tuple | cst.List):
        vals = [static_eval(el.value, env) for el in node.elements]
        if any(v is UNKNOWN for v in vals) or any(
            isinstance(el, cst.StarredElement) for el in node.elements
        ):
            return UNKNOWN
        return tuple(vals) if isinstance(node, cst.Tuple) else list(vals)
    if isinstance(node, cst.UnaryOperation):
        val = static_eval(node.expression, env)
        if val is UNKNOWN:
            return UNKNOWN
        if isinstance(node.operator, cst.Minus):
            return -val
        if isinstance(node.operator, cst.Plus):
            return +val
        if isinstance(node.operator, cst.Not):
            return not val
        return UNKNOWN
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        base = static_eval(node.value, env)
        index = node.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(base, tuple | list):
            i = static_eval(index.value, env)
            if isinstance(i, int) and -len(base) <= i < len(base):
                return base[i]
        return UNKNOWN
    if isinstance(node, cst.FormattedString):  # f"stage{i + 1}": layer names built in loops
        parts = []
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                parts.append(part.value)
                continue
            value = static_eval(part.expression, env)
            if value is UNKNOWN or part.format_spec or part.conversion or isinstance(value, float):
                return UNKNOWN
            parts.append(str(plain(value)))
        return "".join(parts)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in _PURE:
        if node.func.value in env or any(a.keyword or a.star for a in node.args):
            return UNKNOWN  # rebound in the file, or keywords: not the builtin we know
        args = [static_eval(a.value, env) for a in node.args]
        if any(a is UNKNOWN for a in args):
            return UNKNOWN
        try:
            return _PURE[node.func.value](*(plain(a) for a in args))
        except Exception:  # noqa: BLE001 - a call we cannot fold is just unknown
            return UNKNOWN
    if isinstance(node, cst.BinaryOperation):
        op = _BINOPS.get(type(node.operator))
        left, right = static_eval(node.left, env), static_eval(node.right, env)
        if op is None or left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        try:
            value = op(left, right)
        except Exception:  # noqa: BLE001 - a constant we cannot fold is just unknown
            return UNKNOWN
        if (isinstance(left, SymInt) or isinstance(right, SymInt)) and is_int(left) and is_int(right) and is_int(value):
            symbol = cst.Module([]).code_for_node(node.operator).strip()
            return SymInt(value, f"{_operand(left)} {symbol} {_operand(right)}")
        return value
    return UNKNOWN


def is_int(value) -> bool:
    """An int that is not a bool (True is an int to Python, not a size)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _operand(value) -> str:
    text = sym_code(value)
    return f"({text})" if " " in text else text
