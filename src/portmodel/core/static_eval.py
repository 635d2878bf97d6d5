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


class SymFloat(float):
    """A float that remembers its source (`reduction`, `in_channels * reduction`): sizes
    computed from it (`int(in_channels * reduction)`) stay expressions too."""

    code: str

    def __new__(cls, value: float, code: str):
        obj = super().__new__(cls, value)
        obj.code = code
        return obj


def symbolic(value, name: str):
    """Wrap a plain int or float (not a bool) as a SymInt / SymFloat named `name`."""
    if is_int(value):
        return SymInt(int(value), name)
    if isinstance(value, float):
        return SymFloat(float(value), name)
    return value


def is_symbolic(value) -> bool:
    return isinstance(value, SymInt | SymFloat)


def sym_code(value) -> str:
    """Source for a size: its name when it has one, else the number."""
    return value.code if is_symbolic(value) else str(value)


def scaled(value, k: int):
    """`value * k`, an expression when `value` has a name."""
    if k == 1 or not isinstance(value, SymInt):
        return value if k == 1 else value * k
    return SymInt(int(value) * k, f"{_operand(value)} * {k}")


def sym_sum(values):
    """Sum of sizes; an expression (`in_channels + growth_rate`) when some have names."""
    total = sum(int(v) for v in values)
    if not any(isinstance(v, SymInt) for v in values):
        return total
    return SymInt(total, " + ".join(_operand(v) for v in values))


def plain(value):
    """Drop names (for values crossing into another namespace)."""
    if isinstance(value, SymInt):
        return int(value)
    if isinstance(value, SymFloat):
        return float(value)
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


_AUGOPS = {
    cst.AddAssign: operator.add,
    cst.SubtractAssign: operator.sub,
    cst.MultiplyAssign: operator.mul,
    cst.DivideAssign: operator.truediv,
    cst.FloorDivideAssign: operator.floordiv,
}

_TYPES = {"int": int, "float": float, "tuple": tuple, "list": list, "str": str, "bool": bool}

_COMPARE = {
    cst.Equal: operator.eq,
    cst.NotEqual: operator.ne,
    cst.LessThan: operator.lt,
    cst.LessThanEqual: operator.le,
    cst.GreaterThan: operator.gt,
    cst.GreaterThanEqual: operator.ge,
    cst.In: lambda a, b: a in b,
    cst.NotIn: lambda a, b: a not in b,
    cst.Is: operator.is_,
    cst.IsNot: operator.is_not,
}

# builtins with no side effects, folded when every argument is a constant (str(i), int(x * 0.5))
_PURE = {
    "str": str, "int": int, "float": float, "abs": abs, "min": min, "max": max, "len": len, "round": round,
    "sum": sum, "chr": chr, "ord": ord, "tuple": tuple, "list": list, "range": lambda *a: list(range(*a)),
}


def static_eval(node: cst.BaseExpression, env: dict, calls=None):
    """Value of `node` if it is a constant expression over `env`, else UNKNOWN.

    `calls(node)` may give the value of a call this module does not know (a framework
    function whose result the translation assumes, e.g. Keras' image data format)."""
    if isinstance(node, cst.Integer | cst.Float | cst.SimpleString | cst.ConcatenatedString):
        try:
            return ast.literal_eval(cst.Module([]).code_for_node(node))
        except (ValueError, SyntaxError):
            return UNKNOWN
    if isinstance(node, cst.Name):
        if node.value in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.value]
        return env.get(node.value, UNKNOWN)
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):  # `x.shape` where env knows it
        return env.get(f"{node.value.value}.{node.attr.value}", UNKNOWN)
    if isinstance(node, cst.Tuple | cst.List):
        vals = [static_eval(el.value, env, calls) for el in node.elements]
        if any(v is UNKNOWN for v in vals) or any(
            isinstance(el, cst.StarredElement) for el in node.elements
        ):
            return UNKNOWN
        return tuple(vals) if isinstance(node, cst.Tuple) else list(vals)
    if isinstance(node, cst.UnaryOperation):
        val = static_eval(node.expression, env, calls)
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
        base = static_eval(node.value, env, calls)
        index = node.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(base, tuple | list):
            i = static_eval(index.value, env, calls)
            if isinstance(i, int) and -len(base) <= i < len(base):
                return base[i]
        if isinstance(index, cst.Slice) and isinstance(base, tuple | list):  # shape[1:3]
            bounds = [None if b is None else static_eval(b, env, calls) for b in (index.lower, index.upper, index.step)]
            if all(b is None or is_int(b) for b in bounds):
                return base[slice(*bounds)]
        return UNKNOWN
    if isinstance(node, cst.Call) and code_of(node.func) == "isinstance" and len(node.args) == 2:
        kinds = static_eval(node.args[1].value, _TYPES, None)
        value = static_eval(node.args[0].value, env, calls)
        if kinds is UNKNOWN or value is UNKNOWN:
            return UNKNOWN
        return isinstance(plain(value), kinds)
    if isinstance(node, cst.BooleanOperation):
        left = static_eval(node.left, env, calls)
        if left is UNKNOWN:
            return UNKNOWN
        if isinstance(node.operator, cst.And) and not left or isinstance(node.operator, cst.Or) and left:
            return left
        return static_eval(node.right, env, calls)
    if isinstance(node, cst.FormattedString):  # f"stage{i + 1}": layer names built in loops
        parts = []
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                parts.append(part.value)
                continue
            value = static_eval(part.expression, env, calls)
            if value is UNKNOWN or part.format_spec or part.conversion or isinstance(value, float):
                return UNKNOWN
            parts.append(str(plain(value)))
        return "".join(parts)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in _PURE:
        if node.func.value in env or any(a.keyword or a.star for a in node.args):
            return UNKNOWN  # rebound in the file, or keywords: not the builtin we know
        args = [static_eval(a.value, env, calls) for a in node.args]
        if any(a is UNKNOWN for a in args):
            return UNKNOWN
        try:
            value = _PURE[node.func.value](*(plain(a) for a in args))
        except Exception:  # noqa: BLE001 - a call we cannot fold is just unknown
            return UNKNOWN
        if node.func.value == "int" and isinstance(args[0], SymInt):
            return args[0]
        if is_number(value) and any(is_symbolic(a) for a in args):  # int(in_channels * reduction), max(1, ...)
            text = f"{node.func.value}({', '.join(sym_code(a) if is_symbolic(a) else repr(a) for a in args)})"
            return SymInt(value, text) if is_int(value) else SymFloat(value, text)
        return value
    if isinstance(node, cst.Call) and calls is not None:
        return calls(node)
    if isinstance(node, cst.GeneratorExp | cst.ListComp):  # sum(stage[0] for stage in STAGES)
        return _comprehension(node, env, calls)
    if isinstance(node, cst.IfExp):  # `3 if image_data_format() == "channels_last" else 1`
        test = static_eval(node.test, env, calls)
        if test is UNKNOWN:
            return UNKNOWN
        return static_eval(node.body if test else node.orelse, env, calls)
    if isinstance(node, cst.Comparison):
        left = static_eval(node.left, env, calls)
        for target in node.comparisons:
            right = static_eval(target.comparator, env, calls)
            op = _COMPARE.get(type(target.operator))
            if left is UNKNOWN or right is UNKNOWN or op is None:
                return UNKNOWN
            try:
                if not op(plain(left), plain(right)):
                    return False
            except Exception:  # noqa: BLE001 - a comparison we cannot fold is just unknown
                return UNKNOWN
            left = right
        return True
    if isinstance(node, cst.BinaryOperation):
        op = _BINOPS.get(type(node.operator))
        left, right = static_eval(node.left, env, calls), static_eval(node.right, env, calls)
        if op is None or left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        try:
            value = op(left, right)
        except Exception:  # noqa: BLE001 - a constant we cannot fold is just unknown
            return UNKNOWN
        if (is_symbolic(left) or is_symbolic(right)) and is_number(left) and is_number(right) and is_number(value):
            symbol = cst.Module([]).code_for_node(node.operator).strip()
            text = f"{_operand(left)} {symbol} {_operand(right)}"
            return SymInt(value, text) if is_int(value) else SymFloat(value, text)
        return value
    return UNKNOWN


def augmented(operator_node, left, right):
    """`left op= right` on constants (`b += 1`), else UNKNOWN."""
    op = _AUGOPS.get(type(operator_node))
    if op is None or left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    try:
        return op(plain(left), plain(right))
    except Exception:  # noqa: BLE001 - a value we cannot fold is just unknown
        return UNKNOWN


def is_number(value) -> bool:
    """An int (not a bool) or a float: a size or a rate."""
    return is_int(value) or isinstance(value, float)


def _comprehension(node, env: dict, calls):
    loop = node.for_in
    items = static_eval(loop.iter, env, calls)
    if loop.inner_for_in is not None or loop.asynchronous or not isinstance(items, list | tuple):
        return UNKNOWN
    values = []
    for item in items:
        local = dict(env)
        if not _unpack(loop.target, item, local):
            return UNKNOWN
        keep = [static_eval(cond.test, local, calls) for cond in loop.ifs]
        if any(k is UNKNOWN for k in keep):
            return UNKNOWN
        if all(keep):
            value = static_eval(node.elt, local, calls)
            if value is UNKNOWN:
                return UNKNOWN
            values.append(value)
    return values


def _unpack(target, value, local: dict) -> bool:
    if isinstance(target, cst.Name):
        local[target.value] = value
        return True
    if isinstance(target, cst.Tuple | cst.List) and isinstance(value, list | tuple) and len(value) == len(target.elements):
        return all(_unpack(el.value, v, local) for el, v in zip(target.elements, value))
    return False


def code_of(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


class Shaped:
    """A tensor handed to a pure function: only its `.shape` can be read."""

    def __init__(self, shape: tuple):
        self.shape = shape


class _Abort(Exception):
    """The function does something this evaluator does not follow."""


class _Return(Exception):
    def __init__(self, value):
        self.value = value


def run_pure(fn: cst.FunctionDef, args: list, kwargs: dict, env: dict, calls=None):
    """What a small module-level function returns for these (constant) arguments, when its
    body is only assignments, `if`s and `return`s over constants
    (`_make_divisible(v, 8)`, `correct_pad(x, 3)` on a known shape); else UNKNOWN."""
    params = fn.params
    if params.star_arg not in (None, cst.MaybeSentinel.DEFAULT) or params.star_kwarg is not None:
        return UNKNOWN
    local = dict(env)
    named = list(params.params) + list(params.kwonly_params)
    if len(args) > len(params.params) or set(kwargs) - {p.name.value for p in named}:
        return UNKNOWN
    for i, p in enumerate(named):
        name = p.name.value
        if i < len(args) or name in kwargs:
            value = args[i] if i < len(args) else kwargs[name]
            if isinstance(value, Shaped):
                local[f"{name}.shape"] = value.shape
            local[name] = plain(value)
        elif p.default is not None:
            local[name] = static_eval(p.default, env, calls)
        else:
            return UNKNOWN
    try:
        _run(fn.body.body, local, calls)
    except _Return as done:
        return done.value
    except (_Abort, RecursionError):
        return UNKNOWN
    return None


def _run(stmts, local: dict, calls) -> None:
    for stmt in stmts:
        if isinstance(stmt, cst.If):
            test = _value(stmt.test, local, calls)
            if test:
                _run(stmt.body.body, local, calls)
            elif isinstance(stmt.orelse, cst.If):
                _run([stmt.orelse], local, calls)
            elif stmt.orelse is not None:
                _run(stmt.orelse.body.body, local, calls)
            continue
        if not isinstance(stmt, cst.SimpleStatementLine):
            raise _Abort
        for small in stmt.body:
            if isinstance(small, cst.Return):
                raise _Return(None if small.value is None else _value(small.value, local, calls))
            if isinstance(small, cst.Assign) and all(isinstance(t.target, cst.Name) for t in small.targets):
                value = _value(small.value, local, calls)
                local.update((t.target.value, value) for t in small.targets)
            elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
                value = augmented(small.operator, local.get(small.target.value, UNKNOWN), _value(small.value, local, calls))
                if value is UNKNOWN:
                    raise _Abort
                local[small.target.value] = value
            elif not (isinstance(small, cst.Pass) or isinstance(small, cst.Expr) and isinstance(
                small.value, cst.SimpleString | cst.ConcatenatedString
            )):
                raise _Abort


def _value(node, local: dict, calls):
    value = static_eval(node, local, calls)
    if value is UNKNOWN:
        raise _Abort
    return value


def is_int(value) -> bool:
    """An int that is not a bool (True is an int to Python, not a size)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _operand(value) -> str:
    text = sym_code(value)
    return f"({text})" if " " in text else text
