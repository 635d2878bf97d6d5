"""`keras.ops` calls in Keras code -> torch, read backwards from `rules/ops/*.yaml`.

Each ops rule says how a torch function is written with keras.ops, e.g.
`torch.mean` -> `ops.mean({input}[?, axis={dim}?][?, keepdims={keepdim}?])`. Read
backwards, the same entry ports `ops.mean(x, axis=(1, 2))` to `torch.mean(x, dim=(2, 3))`
(the axes rewritten for the layout the port holds `x` in), so one rule file serves both
directions and its examples check both. Rules whose Keras form is not one `ops.NAME(...)`
call (hooks, composed templates) have no backward reading; such calls stay TODOs.

Template arguments Keras callers may leave out take `keras_defaults` from the rule (Keras'
own defaults: `ops.gelu` is the tanh approximation, `ops.softmax` uses the last axis).
The output's shape comes from the torch function itself run on meta tensors.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import libcst as cst

from ..core.rules import OpRule, RuleSet
from ..core.static_eval import UNKNOWN, SymInt, is_int, plain
from .hooks import Untranslatable
from .layout import CF, KERAS, TensorInfo, convert, torch_dim
from .values import Apply, PortValue, Tensor, code


@dataclass(frozen=True)
class Param:
    keyword: str | None  # the Keras keyword; None where Keras takes it by position
    name: str  # the rule's (torch's) name for it
    optional: bool


@dataclass(frozen=True)
class KerasOp:
    name: str  # keras.ops.<name>
    rule: OpRule
    params: tuple[Param, ...]
    torch: str  # the function written: torch.mean, F.softmax


_TEMPLATE = re.compile(r"ops\.(\w+)\((.*)\)")
_PART = re.compile(r"\[\?,\s*(?:(\w+)=)?\{(\w+)\}\?\]|(?:,\s*)?(?:(\w+)=)?\{(\w+)\}")


def parse_template(template: str) -> tuple[str, tuple[Param, ...]] | None:
    """(op name, parameters) of a template that is one `ops.NAME(...)` call over plain
    placeholders, optional ones in `[?, ...?]`; None for any other template."""
    match = _TEMPLATE.fullmatch(template.strip())
    if match is None:
        return None
    inner, pos, params = match.group(2), 0, []
    while pos < len(inner):
        part = _PART.match(inner, pos)
        if part is None or part.end() == pos:
            return None
        if part.group(2):
            params.append(Param(part.group(1), part.group(2), True))
        else:
            params.append(Param(part.group(3), part.group(4), False))
        pos = part.end()
    return match.group(1), tuple(params)


def _torch_function(rule: OpRule) -> str | None:
    name = next((t for t in rule.torch if not t.startswith("Tensor.")), None)
    if name is None:
        return None
    return "F." + name.removeprefix("torch.nn.functional.") if name.startswith("torch.nn.functional.") else name


_INDEX: dict[int, tuple[RuleSet, dict[str, KerasOp]]] = {}


def keras_ops(rules: RuleSet) -> dict[str, KerasOp]:
    """keras.ops name -> its backward reading, for every rule that has one."""
    cached = _INDEX.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    out: dict[str, KerasOp] = {}
    seen: set[int] = set()
    for rule in rules.ops.values():  # one rule is listed under each of its torch names
        if id(rule) in seen:
            continue
        seen.add(id(rule))
        parsed = parse_template(rule.keras) if rule.keras else None
        fn = _torch_function(rule)
        if parsed is None or fn is None:
            continue
        name, params = parsed
        out.setdefault(name, KerasOp(name, rule, params, fn))
    _INDEX[id(rules)] = (rules, out)
    return out


@dataclass
class Argument:
    value: object  # a Tensor, a list of Tensors, or a static value
    code: str  # Keras source
    torch: str | None = None  # the source as forward() reads it (`ops.shape(x)[1]` -> `x.shape[1]`)


def port_op(interp, node: cst.Call, name: str):
    """The Tensor `keras.ops.<name>(...)` computes, written in torch."""
    op = keras_ops(interp.rules).get(name)
    if op is None:
        raise Untranslatable(f"keras.ops.{name} has no rule read backwards yet (rules/ops/)")
    args = _bind(op, node, interp)
    tensors = [t for a in args.values() for t in (a.value if isinstance(a.value, list) else [a.value])
               if isinstance(t, Tensor)]
    if not tensors:  # a tensor made from sizes (`ops.arange(length)`): it has no batch axis
        expr, info = _render(op, args, KERAS, TensorInfo(()), as_written=True)
        return Tensor(expr, info.with_(unbatched=True), Apply(None, []))
    if any(t.info.unbatched for t in tensors):
        raise Untranslatable(f"keras.ops.{name} on a tensor without a batch axis is not translated yet")
    for keep_layout in (True, False):  # the port's layout where the op allows it, else Keras order
        layout = tensors[0].info.layout if keep_layout and op.rule.layout == "any" else KERAS
        try:
            expr, info = _render(op, args, layout, tensors[0].info)
        except _LayoutChange:
            continue
        return Tensor(expr, info, Apply(None, tensors))
    raise Untranslatable(f"keras.ops.{name}: cannot follow its output shape ({code(node)})")


class _LayoutChange(Exception):
    """The op keeps neither the rank nor goes below rank 3: redo it in Keras order."""


def _bind(op: KerasOp, node: cst.Call, interp) -> dict[str, Argument]:
    bound: dict[str, Argument] = {}
    positional = [p for p in op.params if p.keyword is None]
    i = 0
    for arg in node.args:
        if arg.star:
            raise Untranslatable(f"*args in keras.ops.{op.name} cannot be read statically")
        if arg.keyword is None:
            if i >= len(positional):  # Keras allows keywords by position too: take them in order
                rest = [p for p in op.params if p.name not in bound]
                if not rest:
                    raise Untranslatable(f"too many arguments for keras.ops.{op.name}")
                param = rest[0]
            else:
                param = positional[i]
            i += 1
        else:
            param = next((p for p in op.params if p.keyword == arg.keyword.value), None)
            if param is None:
                raise Untranslatable(f"argument '{arg.keyword.value}' of keras.ops.{op.name} is not in its rule")
        value = interp.eval(arg.value)
        ported = None if isinstance(value, Tensor) else code(arg.value.visit(PortValue(interp, interp.env)))
        bound[param.name] = Argument(interp.static(arg.value) if value is UNKNOWN else value, code(arg.value), ported)
    for p in op.params:
        if p.name in bound or p.optional:
            continue
        default = op.rule.keras_defaults.get(p.name)
        if default is None:
            raise Untranslatable(f"keras.ops.{op.name} without '{p.keyword or p.name}': its Keras default is not in the rule")
        bound[p.name] = Argument(interp.static(cst.parse_expression(default)), default)
    return bound


def _render(op: KerasOp, args: dict[str, Argument], layout: str, first: TensorInfo,
            as_written: bool = False) -> tuple[str, TensorInfo]:
    """(torch expression, output info) with tensors held in `layout`; `as_written`: sizes
    as the source writes them (`stop=length`, a value of forward()), not their numbers."""
    texts, metas, statics = {}, {}, {}
    for name, arg in args.items():
        v = arg.value
        if isinstance(v, Tensor) or (isinstance(v, list) and v and all(isinstance(t, Tensor) for t in v)):
            items = v if isinstance(v, list) else [v]
            moved = [convert(t.expr, t.info, layout if t.info.rank >= 3 else t.info.layout) for t in items]
            metas[name] = [_meta(info) for _, info in moved] if isinstance(v, list) else _meta(moved[0][1])
            texts[name] = f"[{', '.join(e for e, _ in moved)}]" if isinstance(v, list) else moved[0][0]
            continue
        if v is UNKNOWN:
            raise Untranslatable(f"'{arg.code}' in keras.ops.{op.name} is not a constant the translator can read")
        if name in op.rule.axes:  # Keras axes, as the port's dims (a tuple where Keras took a list)
            v = _dims(v, first.with_(layout=layout))
        value_map = {b: a for a, b in op.rule.values.get(name, {}).items()}
        source = value_map.get(arg.code, value_map.get(repr(plain(v)), repr(plain(v))))
        if as_written and name not in value_map and arg.torch is not None:
            source = arg.torch
        # the value torch is called with on meta tensors: a spelling the rule maps is torch's literal
        texts[name], statics[name] = source, ast.literal_eval(source) if name in op.rule.values else plain(v)
    expr = _call_text(op, texts)
    out = _run_meta(op, metas, statics)
    rank = len(out.shape)
    in_rank = first.rank
    if layout == CF and in_rank >= 3 and rank != in_rank and rank >= 3:
        raise _LayoutChange()
    out_layout = layout if rank >= 3 and rank == in_rank else KERAS
    shape = tuple(out.shape[1:])
    if out_layout == CF:
        shape = (*shape[1:], shape[0])
    return expr, TensorInfo(_named(shape, args), out_layout, str(out.dtype).removeprefix("torch."))


def _named(shape: tuple, args: dict[str, Argument]) -> tuple:
    """Sizes the inputs had under a name (`channels`, `in_channels`) keep it: meta tensors
    only give numbers, and constructors further on should read `nn.Linear(channels, ...)`."""
    names: dict[int, object] = {}
    for arg in args.values():
        for t in arg.value if isinstance(arg.value, list) else [arg.value]:
            if isinstance(t, Tensor):
                for d in t.info.shape:
                    if isinstance(d, SymInt):
                        names[int(d)] = d if names.get(int(d), d).code == d.code else None
    return tuple(names.get(d) or d for d in shape)


def _dims(v, info: TensorInfo):
    if is_int(v):
        return torch_dim(v, info)
    if isinstance(v, list | tuple):
        return tuple(_dims(a, info) for a in v)
    return v


def _call_text(op: KerasOp, texts: dict[str, str]) -> str:
    order = [n.lstrip("*") for n in op.rule.signature]
    first, *rest = [n for n in order if n in texts]
    positional = {p.name for p in op.params if p.keyword is None}
    parts = [texts[first]]
    for n in rest:
        parts.append(texts[n] if n in positional and len(parts) == order.index(n) else f"{n}={texts[n]}")
    return f"{op.torch}({', '.join(parts)})"


def _meta(info: TensorInfo):
    import torch

    shape = [d if isinstance(d, int) else 1 for d in plain(info.shape)]
    if info.layout == CF and info.rank >= 3:
        shape = [shape[-1], *shape[:-1]]
    return torch.empty((2, *shape), dtype=getattr(torch, info.dtype, torch.float32), device="meta")


def _run_meta(op: KerasOp, metas: dict, statics: dict):
    """The torch function on meta tensors: the output's shape and dtype, and torch's own
    check of the arguments."""
    import importlib

    import torch

    qual = next(t for t in op.rule.torch if not t.startswith("Tensor."))
    module, _, attr = qual.rpartition(".")
    fn = getattr(importlib.import_module(module), attr)
    kwargs = {}
    for name in [n.lstrip("*") for n in op.rule.signature]:
        if name in metas:
            kwargs[name] = metas[name]
        elif name in statics:
            kwargs[name] = statics[name]
    first = next(n.lstrip("*") for n in op.rule.signature)
    try:
        out = fn(kwargs.pop(first), **kwargs)
    except Exception as exc:  # noqa: BLE001 - torch rejects the call: report it
        raise Untranslatable(f"keras.ops.{op.name}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}") from None
    if not isinstance(out, torch.Tensor):
        raise Untranslatable(f"keras.ops.{op.name} does not give one tensor")
    return out


__all__ = ["KerasOp", "Param", "keras_ops", "parse_template", "port_op"]
