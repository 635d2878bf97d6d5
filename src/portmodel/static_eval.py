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

_BINOPS = {
    cst.Add: operator.add,
    cst.Subtract: operator.sub,
    cst.Multiply: operator.mul,
    cst.Divide: operator.truediv,
    cst.FloorDivide: operator.floordiv,
    cst.Modulo: operator.mod,
    cst.Power: operator.pow,
}


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
    if isinstance(node, cst.BinaryOperation):
        op = _BINOPS.get(type(node.operator))
        left, right = static_eval(node.left, env), static_eval(node.right, env)
        if op is None or left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        try:
            return op(left, right)
        except Exception:  # noqa: BLE001 - a constant we cannot fold is just unknown
            return UNKNOWN
    return UNKNOWN
