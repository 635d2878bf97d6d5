"""Follow one function's code once, with its parameters as symbols, and write its Keras form.

A `Run` walks a function statement by statement. Every expression gives its Keras source
and what is known of its value (`values`); branches and loops are kept as written (both
sides of an `if` are followed, and the layouts they leave a name in are made to agree).
A function runs twice: first with each tensor parameter's layout a variable, collecting
what the code demands of it (a convolution wants channels last, a reshape torch's order);
then with those layouts fixed, writing the code. Callers read the result as a `Summary`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import libcst as cst

from ..core.parsing import walk
from .kinds import UNKNOWN, Bag, Layer, Seq, join
from .kinds import Local as LocalKind
from .kinds import apply as apply_kind
from .layout import concrete, convert
from .values import (
    CL,
    DYN,
    Bound,
    Builder,
    Const,
    Dyn,
    Instance,
    Items,
    Local,
    Module,
    Shape,
    Summary,
    T,
    Tensor,
    TorchRef,
    Value,
    Var,
    Weight,
)

HARD, SOFT, WEAK = 0, 1, 2  # how strongly a use decides a parameter's layout
BUILTINS = frozenset(dir(__builtins__) if isinstance(__builtins__, dict) is False else __builtins__)
RESERVED = frozenset({
    "layers", "weights", "variables", "trainable_weights", "non_trainable_weights", "trainable_variables",
    "non_trainable_variables", "losses", "metrics", "name", "dtype", "input", "output", "built", "trainable",
    "optimizer", "input_spec", "supports_masking", "compute_dtype", "variable_dtype", "dtype_policy", "path",
    "inputs", "outputs", "stateless", "quantization_mode", "submodules",
})


_EMPTY = cst.Module([])
_CODE: dict[int, tuple] = {}


def code_of(node) -> str:
    """A node's source (cached: translation asks it again and again of the same nodes)."""
    hit = _CODE.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    code = _EMPTY.code_for_node(node)
    if len(_CODE) > 500_000:
        _CODE.clear()
    _CODE[id(node)] = (node, code)
    return code


@dataclass
class R:
    """An expression's Keras source and what is known of its value."""

    code: str
    v: Value = DYN
    pair: tuple | None = None  # (output, state) of a torch call Keras answers with the output only


class Todo(Exception):
    """A construct the rules cannot translate: the statement keeps its code under a TODO."""

    def __init__(self, reason: str):
        super().__init__(" ".join(str(reason).split()))


@dataclass
class Outcome:
    summary: Summary
    node: cst.FunctionDef | None
    todos: list = field(default_factory=list)  # (node, reason)
    notes: list = field(default_factory=list)  # (node, message)


class Run:
    """One pass over one function (see the module docstring)."""

    def __init__(self, file, fn: cst.FunctionDef, owner, layouts: dict[int, object], emit: bool):
        self.file = file  # the FileTranslation this function belongs to
        self.tr = file.tr
        self.src = file.src
        self.k = file.k
        self.fn = fn
        self.owner = owner  # ClassInfo of the method's class, or None
        self.layouts = layouts  # parameter var -> decided layout
        self.param_ranks: dict[int, int] = {}
        self.boundary: dict[int, int] | None = None  # a model's forward: its inputs' ranks (see boundary_code)
        self.emit = emit
        self.env: dict[str, Value] = {}
        self.demands: dict[int, list[tuple[int, int, object]]] = {}
        self.ranks: dict[int, int] = {}  # parameter var -> the rank its uses say it has
        self.named_modules: dict[str, list] = {}  # modules put in a dict under a constant key
        self.dropped_arguments = False  # a torch layer's argument Keras does not take (in_channels)
        self.returns: list[Value] = []
        self.training = False
        self.todos: list = []
        self.notes: list = []
        self.params: list[str] = []
        self.counter = 0
        self.extra_params: list[str] = []
        self.plain_method = False  # a method of a class that is not a module: `self` is plain
        self.in_plain_class = False  # the statements run are a plain class's body

    # -- parameters and layouts --------------------------------------------------------------

    def bind_params(self) -> None:
        p = self.fn.params
        all_params = [*p.posonly_params, *p.params]
        if self.owner is not None and all_params and not _is_static(self.fn):
            first = all_params.pop(0).name.value
            self.env[first] = Instance(self.owner.qual)
        elif self.plain_method and all_params and not _is_static(self.fn):
            self.env[all_params.pop(0).name.value] = DYN
        var = 0
        for param in [*all_params, *p.kwonly_params]:
            name = param.name.value
            self.params.append(name)
            self.env[name] = self.param_value(param, var)
            var += 1
        if isinstance(p.star_arg, cst.Param):
            self.env[p.star_arg.name.value] = Items(None, self.param_value(p.star_arg, var))
            self.params.append(p.star_arg.name.value)
        if p.star_kwarg is not None:
            self.env[p.star_kwarg.name.value] = DYN

    def param_value(self, param: cst.Param, var: int) -> Value:
        if param.default is not None:
            d = self.peek(param.default)
            if isinstance(d, Builder | Module):
                return d
        layout = self.layouts.get(var, Var(var))
        rank = self.param_ranks.get(var) or (self.boundary.get(var) if self.boundary is not None else None)
        tensor = Tensor(layout, rank)
        if param.annotation is not None:
            kind = _annotation_kind(param.annotation.annotation)
            if kind == "list":
                return Items(None, tensor)
            if kind != "tensor":
                return DYN
        return tensor

    def peek(self, node) -> Value:
        """The value of an expression, without recording anything."""
        saved = (self.todos, self.notes, self.demands, self.emit)
        self.todos, self.notes, self.demands, self.emit = [], [], {}, False
        try:
            return self.ev(node).v
        except Todo:
            return DYN
        finally:
            self.todos, self.notes, self.demands, self.emit = saved

    def demand(self, layout_var, want, strength: int, rank: int | None = None) -> None:
        if isinstance(layout_var, Var):
            self.counter += 1
            self.demands.setdefault(layout_var.n, []).append((strength, self.counter, want))
            if rank is not None:
                self.ranks.setdefault(layout_var.n, rank)

    def as_layout(self, r: R, want, strength: int = HARD, rank: int | None = None) -> str:
        """`r`'s code with its tensor in layout `want`."""
        v = r.v
        if not isinstance(v, Tensor):
            return r.code
        if isinstance(v.layout, Var):
            self.demand(v.layout, want, strength, rank)
            return r.code
        if v.rank is not None and v.rank <= 2:
            return r.code
        return convert(r.code, v.layout, want, self.k.ops)

    def decided(self) -> dict[int, object]:
        out = {}
        for var, uses in self.demands.items():
            uses.sort(key=lambda u: (u[0], u[1]))
            out[var] = uses[0][2]
        return out

    def weak_only(self) -> set[int]:
        """Parameters only weak uses decided (an axis argument: either layout serves)."""
        return {var for var, uses in self.demands.items() if all(u[0] == WEAK for u in uses)}

    # -- statements ------------------------------------------------------------------------

    def run(self) -> cst.FunctionDef:
        self.bind_params()
        prelude = self.file.boundary_prelude(self) if self.boundary is not None and self.emit else []
        body = prelude + self.block(self.fn.body.body)
        fn = self.fn.with_changes(body=self.fn.body.with_changes(body=body or [_pass()]))
        if not self.emit:
            return fn
        fn = self.signature(fn)
        # only where a torch constructor lost an argument Keras infers can a local have died
        return _drop_dead_locals(fn, self.fn) if self.dropped_arguments else fn

    def signature(self, fn: cst.FunctionDef) -> cst.FunctionDef:
        """Parameter and return annotations with torch types mapped; defaults translated."""
        def param(p: cst.Param) -> cst.Param:
            if p.annotation is not None:
                p = p.with_changes(annotation=p.annotation.with_changes(
                    annotation=self.file.annotation(p.annotation.annotation)))
            if p.default is not None:
                r = self.ev(p.default)
                if r.code != code_of(p.default):
                    p = p.with_changes(default=_expr(r.code))
            return p

        ps = fn.params
        star = ps.star_arg
        new = ps.with_changes(
            params=[param(p) for p in ps.params], kwonly_params=[param(p) for p in ps.kwonly_params],
            posonly_params=[param(p) for p in ps.posonly_params],
            star_arg=param(star) if isinstance(star, cst.Param) else star,
            star_kwarg=param(ps.star_kwarg) if ps.star_kwarg is not None else None,
        )
        returns = fn.returns
        if returns is not None:
            returns = returns.with_changes(annotation=self.file.annotation(returns.annotation))
        return fn.with_changes(params=new, returns=returns)

    def block(self, stmts) -> list:
        out: list = []
        for stmt in stmts:
            out += self.statement(stmt)
        return out

    def statement(self, stmt) -> list:
        saved, self.pending = getattr(self, "pending", []), []
        try:
            out = self._statement(stmt)
            if self.pending:
                first = out[0] if out else None
                temps = [cst.parse_statement(s + "\n") for s in self.pending]
                if first is not None and hasattr(first, "leading_lines"):
                    temps[0] = temps[0].with_changes(leading_lines=first.leading_lines)
                    out = [out[0].with_changes(leading_lines=[]), *out[1:]]
                out = temps + out
            return out
        finally:
            self.pending = saved

    def temp(self, code: str) -> str:
        """A name for `code`, assigned just before the statement being written."""
        self.temps = getattr(self, "temps", 0) + 1
        name = f"_t{self.temps}"
        self.pending.append(f"{name} = {code}")
        return name

    def _statement(self, stmt) -> list:
        try:
            if isinstance(stmt, cst.SimpleStatementLine):
                return self.simple_line(stmt)
            if isinstance(stmt, cst.If):
                return [self.if_(stmt)]
            if isinstance(stmt, cst.For):
                return [self.for_(stmt)]
            if isinstance(stmt, cst.While):
                test = self.ev(stmt.test)
                body = self.loop_body(stmt.body.body)
                return [stmt.with_changes(test=_expr(test.code), body=stmt.body.with_changes(body=body))]
            if isinstance(stmt, cst.With):
                return self.with_(stmt)
            if isinstance(stmt, cst.Try):
                return [self.try_(stmt)]
            if isinstance(stmt, cst.FunctionDef):
                return [self.nested_function(stmt)]
            return [stmt]
        except Todo as exc:
            self.todos.append((stmt, str(exc)))
            return [stmt]

    def simple_line(self, stmt: cst.SimpleStatementLine) -> list:
        out: list = []
        changed = False
        for small in stmt.body:
            new = self.small(small)
            if new is None:
                changed = True
                continue
            if isinstance(new, list):  # several statements
                changed = True
                out.extend(new)
                continue
            if new is not small:
                changed = True
            out.append(new)
        if not changed:
            return [stmt]
        lines: list = []
        smalls = [s for s in out if isinstance(s, cst.BaseSmallStatement)]
        compound = [s for s in out if not isinstance(s, cst.BaseSmallStatement)]
        if smalls and not compound and len(smalls) == len(stmt.body):
            smalls = [s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT) for s in smalls]
            return [stmt.with_changes(body=smalls)]
        first = True
        for s in out:
            if isinstance(s, cst.BaseSmallStatement):
                s = cst.SimpleStatementLine([s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT)])
            if first:
                s = s.with_changes(leading_lines=stmt.leading_lines)
                first = False
            lines.append(s)
        if not lines:
            return [stmt.with_changes(body=[cst.Pass()])] if self.must_keep(stmt) else []
        return lines

    def must_keep(self, stmt) -> bool:
        return False

    def small(self, small):
        if isinstance(small, cst.Expr):
            return self.expr_statement(small)
        if isinstance(small, cst.Assign):
            return self.assign(small)
        if isinstance(small, cst.AnnAssign):
            return self.ann_assign(small)
        if isinstance(small, cst.AugAssign):
            return self.aug_assign(small)
        if isinstance(small, cst.Return):
            if small.value is None:
                return small
            r = self.ev(small.value)
            r = self.file.returned(self, r)
            self.returns.append(r.v)
            return small.with_changes(value=_expr(r.code)) if r.code != code_of(small.value) else small
        if isinstance(small, cst.Raise | cst.Assert | cst.Del):
            return self.generic_small(small)
        return small

    def generic_small(self, small):
        children = [c for c in small.children if isinstance(c, cst.BaseExpression)]
        new = small
        for child in children:
            r = self.ev(child)
            if r.code != code_of(child):
                new = new.deep_replace(child, _expr(r.code))
        return new

    def expr_statement(self, small: cst.Expr):
        node = small.value
        if isinstance(node, cst.Call):
            special = self.file.statement_call(self, small, node)
            if special is not NotImplemented:
                return special
        r = self.ev(node)
        if r.code == "":
            return None
        return small.with_changes(value=_expr(r.code)) if r.code != code_of(node) else small

    def assign(self, small: cst.Assign):
        if len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Subscript) \
                and isinstance(self.peek(small.targets[0].target.value), Tensor):
            r = self.ev(small.value)
            return self.file.index_update(self, small.targets[0].target, r.code, None)
        r = self.ev(small.value)
        target = small.targets[0].target if len(small.targets) == 1 else None
        if r.pair is not None and isinstance(target, cst.Tuple) and len(target.elements) == 2 \
                and all(isinstance(e.value, cst.Name) for e in target.elements):
            # `out, h = self.gru(x)`: the output; the state only where the code reads it
            first, second = (e.value for e in target.elements)
            self.bind(first, R(r.pair[0], r.v.items[0] if isinstance(r.v, Items) and r.v.items else DYN))
            self.bind(second, R(r.pair[1], DYN))
            out = [small.with_changes(targets=[cst.AssignTarget(first)], value=_expr(r.pair[0]))]
            if second.value in _loads(self.fn) and second.value != "_":
                out.append(cst.Assign([cst.AssignTarget(second)], _expr(r.pair[1])))
            return out if len(out) > 1 else out[0]
        if len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name) \
                and r.code == small.targets[0].target.value:  # `x = x.contiguous()`: nothing left to do
            self.bind(small.targets[0].target, r)
            return None
        if len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Attribute) \
                and r.code.startswith("keras.Variable(") and "name=" not in r.code:
            r = R(f"{r.code[:-1]}, name={small.targets[0].target.attr.value!r})", r.v)
        targets = []
        for t in small.targets:
            targets.append(t.with_changes(target=self.bind(t.target, r)))
        new_value = _expr(r.code) if r.code != code_of(small.value) else small.value
        out = small.with_changes(targets=targets, value=new_value)
        extra = self.file.sequential_attribute(self, small, r)
        return [out, extra] if extra is not None else out

    def ann_assign(self, small: cst.AnnAssign):
        ann = self.file.annotation(small.annotation.annotation)
        new = small.with_changes(annotation=small.annotation.with_changes(annotation=ann))
        if small.value is None:
            return new
        r = self.ev(small.value)
        return new.with_changes(target=self.bind(small.target, r), value=_expr(r.code))

    def aug_assign(self, small: cst.AugAssign):
        if isinstance(small.target, cst.Subscript) and isinstance(self.peek(small.target.value), Tensor):
            op = {cst.AddAssign: "add", cst.SubtractAssign: "subtract", cst.MultiplyAssign: "multiply",
                  cst.DivideAssign: "divide"}.get(type(small.operator))
            if op is None:
                raise Todo("this augmented assignment into a tensor slice")
            return self.file.index_update(self, small.target, self.ev(small.value).code, op)
        left = self.ev(small.target)
        right = self.ev(small.value)
        if isinstance(left.v, Tensor) and isinstance(right.v, Tensor) and left.v.layout == T \
                and right.v.layout == CL and (right.v.rank or 3) > 2 and isinstance(small.target, cst.Name):
            # channels last wins: `x += y` becomes `x = <x channels-last> + y`
            op = code_of(small.operator).strip()[:-1]
            code = f"{self.as_layout(left, CL)} {op} {right.code}"
            self.bind(small.target, R(left.code, right.v.with_(rank=right.v.rank or left.v.rank)))
            return cst.Assign([cst.AssignTarget(small.target)], _expr(code))
        if isinstance(left.v, Tensor) and isinstance(right.v, Tensor):
            code = self.as_layout(right, left.v.layout) if concrete(left.v.layout) else right.code
            if isinstance(left.v.layout, Var) and concrete(right.v.layout):
                self.demand(left.v.layout, right.v.layout, WEAK)
            self.bind(small.target, R(left.code, left.v.with_(rank=left.v.rank or right.v.rank)))
            return small.with_changes(value=_expr(code), target=_expr(left.code) if left.code != code_of(small.target) else small.target)
        if isinstance(left.v, Items) and isinstance(right.v, Items):
            merged = Items(
                left.v.items + right.v.items if left.v.items is not None and right.v.items is not None else None,
                join(left.v.each, right.v.each) if left.v.items is None else _each(left.v, right.v),
            )
            self.bind(small.target, R(left.code, merged))
        elif isinstance(left.v, Tensor):
            self.bind(small.target, R(left.code, left.v))
        else:
            self.bind(small.target, R(left.code, DYN))
        target = _expr(left.code) if left.code != code_of(small.target) else small.target
        return small.with_changes(target=target, value=_expr(right.code))

    def bind(self, target, r: R):
        """Record what `target` now holds; returns the (possibly renamed) target node."""
        if isinstance(target, cst.Name):
            self.env[target.value] = r.v
            return target
        if isinstance(target, cst.Tuple | cst.List):
            items = _unpack(r.v, len(target.elements))
            elements = []
            for el, v in zip(target.elements, items):
                elements.append(el.with_changes(value=self.bind(el.value, R("", v))))
            return target.with_changes(elements=elements)
        if isinstance(target, cst.StarredElement):
            self.bind(target.value, R("", Items(None, DYN)))
            return target
        if isinstance(target, cst.Attribute):
            base = self.ev(target.value)
            if isinstance(base.v, Instance):
                name = target.attr.value
                self.file.set_attr(base.v.cls, name, r.v)
                new_name = self.file.attr_name(base.v.cls, name)
                return target.with_changes(attr=cst.Name(new_name)) if new_name != name else target
            return target
        if isinstance(target, cst.Subscript):
            base = self.ev(target.value)
            if isinstance(base.v, Tensor):
                raise Todo("assigning into a tensor slice: Keras tensors are immutable (use ops.slice_update / ops.where)")
            if isinstance(base.v, Items) and isinstance(target.value, cst.Name):
                key = self.peek(target.slice[0].slice.value) if isinstance(target.slice[0].slice, cst.Index) else None
                if isinstance(key, Const) and isinstance(key.value, str) and isinstance(r.v, Module):
                    self.named_modules.setdefault(key.value, []).append(r.v)
                each = r.v if base.v.items == () or base.v.each == DYN else join(base.v.each, r.v)
                if base.v.keys is not None and base.v.items is not None and isinstance(key, Const):
                    self.env[target.value.value] = Items(base.v.items + (r.v,), each, base.v.keys + (key.value,))
                else:
                    self.env[target.value.value] = Items(None, each, base.v.keys)
            return target
        return target

    def if_(self, stmt: cst.If):
        test = self.ev(stmt.test)
        static = _static_truth(test)
        before = dict(self.env)
        facts = self.file.facts(self, stmt.test)
        self.env.update(facts)
        body = self.block(stmt.body.body)
        for key in facts:
            self.env.pop(key, None)
        after_body = self.env
        ends_body = _ends(stmt.body.body)
        self.env = dict(before)
        orelse = stmt.orelse
        new_orelse = orelse
        if isinstance(orelse, cst.If):
            new_orelse = self.if_(orelse)
        elif isinstance(orelse, cst.Else):
            new_orelse = orelse.with_changes(body=orelse.body.with_changes(body=self.block(orelse.body.body)))
        after_else = self.env
        ends_else = orelse is not None and _ends_branch(orelse)
        if static is True:
            self.env = after_body
        elif static is False or ends_body and not ends_else:
            self.env = after_else
        elif ends_else and not ends_body:
            self.env = after_body
        else:
            body, new_orelse = self.agree(after_body, after_else, body, new_orelse, ends_body, ends_else)
        return stmt.with_changes(
            test=_expr(test.code) if test.code != code_of(stmt.test) else stmt.test,
            body=stmt.body.with_changes(body=body or [_pass()]),
            orelse=new_orelse,
        )

    def agree(self, a: dict, b: dict, body: list, orelse, ends_a: bool, ends_b: bool):
        """Join two branches: a name holding a tensor in two layouts is converted at the end of
        the branch that holds it channels-first, so code after the `if` reads one layout."""
        merged = {}
        fix_a, fix_b = [], []
        for name in set(a) | set(b):
            va, vb = a.get(name), b.get(name)
            if va is None or vb is None:
                merged[name] = va if vb is None else vb
                continue
            if isinstance(va, Tensor) and isinstance(vb, Tensor) and concrete(va.layout) and concrete(vb.layout) \
                    and va.layout != vb.layout:
                want = CL
                if va.layout != want:
                    fix_a.append(f"{name} = {convert(name, va.layout, want, self.k.ops)}")
                    va = va.with_(layout=want)
                if vb.layout != want:
                    fix_b.append(f"{name} = {convert(name, vb.layout, want, self.k.ops)}")
                    vb = vb.with_(layout=want)
            merged[name] = join(va, vb)
        self.env = merged
        if fix_a:
            body = body + [cst.parse_statement(s + "\n") for s in fix_a]
        if fix_b:
            if orelse is None:
                orelse = cst.Else(cst.IndentedBlock([cst.parse_statement(s + "\n") for s in fix_b]))
            elif isinstance(orelse, cst.Else):
                orelse = orelse.with_changes(body=orelse.body.with_changes(
                    body=list(orelse.body.body) + [cst.parse_statement(s + "\n") for s in fix_b]))
        return body, orelse

    def loop_body(self, stmts) -> list:
        before = dict(self.env)
        body = self.block(stmts)
        fixes = []
        for name, v in list(self.env.items()):
            old = before.get(name)
            if isinstance(old, Tensor) and isinstance(v, Tensor) and concrete(old.layout) and concrete(v.layout) \
                    and old.layout != v.layout:
                fixes.append(f"{name} = {convert(name, v.layout, old.layout, self.k.ops)}")
                self.env[name] = v.with_(layout=old.layout)
        for name, v in before.items():
            if name in self.env:
                self.env[name] = join(v, self.env[name])
        return body + [cst.parse_statement(s + "\n") for s in fixes]

    def for_(self, stmt: cst.For):
        it = self.ev(stmt.iter)
        target = self.bind(stmt.target, R("", _element(it.v)))
        body = self.loop_body(stmt.body.body)
        orelse = stmt.orelse
        if isinstance(orelse, cst.Else):
            orelse = orelse.with_changes(body=orelse.body.with_changes(body=self.block(orelse.body.body)))
        return stmt.with_changes(
            target=target, iter=_expr(it.code) if it.code != code_of(stmt.iter) else stmt.iter,
            body=stmt.body.with_changes(body=body or [_pass()]), orelse=orelse,
        )

    def with_(self, stmt: cst.With) -> list:
        items = []
        for item in stmt.items:
            r = self.ev(item.item)
            if r.code == "":
                continue
            items.append(item.with_changes(item=_expr(r.code)))
            if item.asname is not None:
                self.bind(item.asname.name, r)
        body = self.block(stmt.body.body)
        if not items:  # `with torch.no_grad():` and the like have no Keras counterpart: the body stays
            return [_dedent(s) for s in body] if body else [_pass()]
        return [stmt.with_changes(items=items, body=stmt.body.with_changes(body=body or [_pass()]))]

    def try_(self, stmt: cst.Try):
        body = self.block(stmt.body.body)
        handlers = [h.with_changes(body=h.body.with_changes(body=self.block(h.body.body) or [_pass()]))
                    for h in stmt.handlers]
        return stmt.with_changes(body=stmt.body.with_changes(body=body or [_pass()]), handlers=handlers)

    def nested_function(self, fn: cst.FunctionDef) -> cst.FunctionDef:
        inner = Run(self.file, fn, None, {}, self.emit)
        inner.plain_method = self.in_plain_class
        inner.env = dict(self.env)
        inner.bind_params()
        body = inner.block(fn.body.body)
        self.todos += inner.todos
        self.notes += inner.notes
        for var, uses in inner.demands.items():
            self.demands.setdefault(var, []).extend(uses)
        self.env[fn.name.value] = Local(f"<closure>{fn.name.value}") if False else DYN
        self.training |= inner.training
        return fn.with_changes(body=fn.body.with_changes(body=body or [_pass()]))

    # -- expressions -------------------------------------------------------------------------

    def ev(self, node) -> R:
        method = getattr(self, f"ev_{type(node).__name__}", None)
        if method is not None:
            return method(node)
        return self.generic(node)

    def generic(self, node, value: Value = DYN) -> R:
        """Translate the sub-expressions of `node`, keeping its own form."""
        new = node
        for child in _expression_children(node):
            r = self.ev(child)
            if r.code != code_of(child):
                new = new.deep_replace(child, _expr(r.code))
        return R(code_of(new), value)

    def ev_Name(self, node: cst.Name) -> R:
        name = node.value
        if name in self.env:
            return R(name, self.env[name])
        if name in ("True", "False", "None"):
            return R(name, Const({"True": True, "False": False, "None": None}[name]))
        qual = self.src.qualify(name)
        if qual is not None:
            return self.file.global_name(self, name, qual)
        if name in BUILTINS:
            return R(name, TorchRef(f"builtins.{name}"))
        return R(name, DYN)

    def ev_Attribute(self, node: cst.Attribute) -> R:
        return self.file.attribute(self, node)

    def ev_Call(self, node: cst.Call) -> R:
        return self.file.call(self, node)

    def ev_Subscript(self, node: cst.Subscript) -> R:
        return self.file.subscript(self, node)

    def ev_Integer(self, node) -> R:
        return R(node.value, Const(ast.literal_eval(node.value)))

    ev_Float = ev_Integer

    def ev_SimpleString(self, node) -> R:
        return R(node.value, Const(node.evaluated_value))

    def ev_ConcatenatedString(self, node) -> R:
        return R(code_of(node), DYN)

    def ev_FormattedString(self, node) -> R:
        return self.generic(node)

    def ev_UnaryOperation(self, node: cst.UnaryOperation) -> R:
        r = self.ev(node.expression)
        new = node.with_changes(expression=_expr(r.code)) if r.code != code_of(node.expression) else node
        if isinstance(r.v, Const) and isinstance(node.operator, cst.Minus) and isinstance(r.v.value, int | float):
            return R(code_of(new), Const(-r.v.value))
        if isinstance(r.v, Const) and isinstance(node.operator, cst.Not):
            return R(code_of(new), Const(not r.v.value))
        return R(code_of(new), r.v if isinstance(r.v, Tensor) else DYN)

    def ev_BinaryOperation(self, node: cst.BinaryOperation) -> R:
        return self.file.binary(self, node)

    def ev_BooleanOperation(self, node: cst.BooleanOperation) -> R:
        left, right = self.ev(node.left), self.ev(node.right)
        new = node.with_changes(left=_expr(left.code), right=_expr(right.code))
        value = DYN
        if isinstance(node.operator, cst.Or):
            if isinstance(left.v, Const) and left.v.value is None:
                value = right.v
            elif isinstance(left.v, Builder | Module) or isinstance(right.v, Builder | Module):
                value = left.v if isinstance(left.v, Builder | Module) else right.v
        return R(code_of(new), value)

    def ev_Comparison(self, node: cst.Comparison) -> R:
        flag = self.file.weight_test(self, node)
        if flag is not None:
            return flag
        r = self.generic(node)
        return R(r.code, DYN)

    def ev_IfExp(self, node: cst.IfExp) -> R:
        test, body, orelse = self.ev(node.test), self.ev(node.body), self.ev(node.orelse)
        new = node.with_changes(test=_expr(test.code), body=_expr(body.code), orelse=_expr(orelse.code))
        return R(code_of(new), join(body.v, orelse.v))

    def ev_Tuple(self, node) -> R:
        return self.sequence(node)

    ev_List = ev_Tuple
    ev_Set = ev_Tuple

    def sequence(self, node) -> R:
        values, changed, elements = [], False, []
        for el in node.elements:
            r = self.ev(el.value)
            if isinstance(el, cst.StarredElement) and isinstance(r.v, Items):
                values += list(r.v.items) if r.v.items is not None else [r.v.each]
            else:
                values.append(r.v)
            if r.code != code_of(el.value):
                changed = True
                el = el.with_changes(value=_expr(r.code))
            elements.append(el)
        new = node.with_changes(elements=elements) if changed else node
        starred = any(isinstance(el, cst.StarredElement) for el in node.elements)
        return R(code_of(new), Items(None if starred else tuple(values), _common(values)))

    def ev_Dict(self, node: cst.Dict) -> R:
        r = self.generic(node)
        keys = []
        vals = []
        for el in node.elements:
            if isinstance(el, cst.DictElement):
                k = self.peek(el.key)
                keys.append(k.value if isinstance(k, Const) else None)
                vals.append(self.peek(el.value))
        return R(r.code, Items(tuple(vals), _common(vals), tuple(keys)))

    def comprehension(self, node) -> R:
        saved = dict(self.env)
        for_in = node.for_in
        new = node
        while for_in is not None:
            it = self.ev(for_in.iter)
            if it.code != code_of(for_in.iter):
                new = new.deep_replace(for_in.iter, _expr(it.code))
            self.bind(for_in.target, R("", _element(it.v)))
            for cond in for_in.ifs:
                r = self.ev(cond.test)
                if r.code != code_of(cond.test):
                    new = new.deep_replace(cond.test, _expr(r.code))
            for_in = for_in.inner_for_in
        elts = [node.elt] if hasattr(node, "elt") else [node.key, node.value]
        values = []
        for elt in elts:
            r = self.ev(elt)
            values.append(r.v)
            if r.code != code_of(elt):
                new = new.deep_replace(elt, _expr(r.code))
        self.env = saved
        return R(code_of(new), Items(None, values[-1]))

    ev_ListComp = comprehension
    ev_GeneratorExp = comprehension
    ev_SetComp = comprehension
    ev_DictComp = comprehension

    def ev_Lambda(self, node: cst.Lambda) -> R:
        saved = dict(self.env)
        for p in node.params.params:
            self.env[p.name.value] = Tensor(T)
        r = self.ev(node.body)
        self.env = saved
        new = node.with_changes(body=_expr(r.code)) if r.code != code_of(node.body) else node
        return R(code_of(new), DYN)

    def ev_NamedExpr(self, node) -> R:
        r = self.ev(node.value)
        self.bind(node.target, r)
        return R(code_of(node.with_changes(value=_expr(r.code))), r.v)

    def ev_Ellipsis(self, node) -> R:
        return R("...", Const(...))

    def ev_Await(self, node) -> R:
        return self.generic(node)


# -- helpers ---------------------------------------------------------------------------------


def _drop_dead_locals(fn: cst.FunctionDef, original: cst.FunctionDef) -> cst.FunctionDef:
    """`in_channels = v` where only a torch constructor read `in_channels` (Keras infers input
    sizes): a name the original function read and the translation does not, assigned a value
    without side effects, is not assigned any more."""
    def reads(node) -> set[str]:
        out = set()
        for n in walk(node):
            if isinstance(n, cst.Name):
                out.add(n.value)
        return out - {t for n in walk(node) if isinstance(n, cst.AssignTarget) for t in _target_names(n.target)}

    before, after = _loads(original), _loads(fn)
    dead = before - after
    if not dead:
        return fn

    class Drop(cst.CSTTransformer):
        def leave_SimpleStatementLine(self, orig, updated):
            if len(updated.body) == 1 and isinstance(updated.body[0], cst.Assign | cst.AugAssign):
                small = updated.body[0]
                targets = [small.target] if isinstance(small, cst.AugAssign) else [t.target for t in small.targets]
                if all(isinstance(t, cst.Name) and t.value in dead for t in targets) and _pure(small.value):
                    return cst.RemoveFromParent()
            return updated

    del reads
    new = fn.visit(Drop())
    if not new.body.body:
        new = new.with_changes(body=new.body.with_changes(body=[_pass()]))
    return new


def _target_names(target) -> list[str]:
    return [n.value for n in walk(target) if isinstance(n, cst.Name)]


def _loads(fn) -> set[str]:
    """Names the function's code reads (not the names it assigns)."""
    import ast

    text = fn if isinstance(fn, str) else code_of(fn)
    tree = ast.parse(text.lstrip() + "\n")  # the newline ends a last line continued by a backslash
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _pure(node) -> bool:
    """No call, no subscript that could raise: names, attributes, constants and operators."""
    return not any(isinstance(n, cst.Call | cst.Await | cst.Yield | cst.NamedExpr) for n in walk(node))


def _expr(code: str) -> cst.BaseExpression:
    try:
        return cst.parse_expression(code)
    except cst.ParserSyntaxError:
        pass
    try:
        return cst.parse_expression(f"({code})")
    except cst.ParserSyntaxError:
        raise Todo(f"the Keras form of this expression would not parse: {code[:80]}") from None


def _pass():
    return cst.SimpleStatementLine([cst.Pass()])


def _dedent(stmt):
    return stmt


def _is_static(fn: cst.FunctionDef) -> bool:
    for d in fn.decorators:
        if isinstance(d.decorator, cst.Name) and d.decorator.value == "staticmethod":
            return True
    return False


def _annotation_kind(node) -> str:
    """'tensor' (`Tensor`, `Optional[Tensor]`, `Any`), 'list' (`list[Tensor]`), or 'other'."""
    import re

    text = code_of(node).replace(" ", "").strip("\"'")
    text = re.sub(r"^(typing\.)?Optional\[(.*)\]$", r"\2", text)
    if re.fullmatch(r"(torch\.)?Tensor|(typing\.)?Any", text):
        return "tensor"
    if re.fullmatch(r"(typing\.)?(list|List|tuple|Tuple|Sequence)\[(torch\.)?Tensor(,\.\.\.)?\]", text):
        return "list"
    return "other"


def _tensor_annotation(node, src) -> bool:
    """Whether an annotation allows a tensor (`Tensor`, `Optional[Tensor]`, `list[Tensor]`, `Any`)."""
    text = code_of(node)
    return "Tensor" in text or text in ("Any", "typing.Any") or text.startswith("torch.")


def _expression_children(node):
    for child in node.children:
        if isinstance(child, cst.BaseExpression):
            yield child
        elif isinstance(child, cst.Arg | cst.Element | cst.DictElement | cst.StarredDictElement | cst.Index
                        | cst.Slice | cst.SubscriptElement | cst.FormattedStringExpression | cst.ComparisonTarget
                        | cst.StarredElement):
            yield from _expression_children(child)


def _unpack(v: Value, n: int) -> list[Value]:
    if isinstance(v, Items):
        if v.items is not None and len(v.items) == n:
            return list(v.items)
        return [v.each] * n
    if isinstance(v, Tensor):
        return [Tensor(v.layout)] * n
    return [DYN] * n


def _element(v: Value) -> Value:
    if isinstance(v, Items):
        return v.each
    if isinstance(v, Module) and isinstance(v.kind, Bag | Seq):
        each = v.kind.each if isinstance(v.kind, Bag) else (v.kind.items[0] if v.kind.items else UNKNOWN)
        return Module(each)
    if isinstance(v, Tensor):
        return Tensor(v.layout)
    return DYN


def _common(values: list[Value]) -> Value:
    if not values:
        return DYN
    out = values[0]
    for v in values[1:]:
        out = join(out, v)
    return out


def _each(a: Items, b: Items) -> Value:
    return join(a.each, b.each)


def _static_truth(r: R):
    if isinstance(r.v, Const):
        return bool(r.v.value)
    return None


def _ends(stmts) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return any(isinstance(s, cst.Return | cst.Raise | cst.Continue | cst.Break) for s in last.body)
    if isinstance(last, cst.If):
        return _ends(last.body.body) and last.orelse is not None and _ends_branch(last.orelse)
    return False


def _ends_branch(orelse) -> bool:
    if isinstance(orelse, cst.If):
        return _ends(orelse.body.body) and orelse.orelse is not None and _ends_branch(orelse.orelse)
    return _ends(orelse.body.body)


__all__ = [
    "HARD",
    "SOFT",
    "WEAK",
    "Bound",
    "Dyn",
    "Layer",
    "LocalKind",
    "Outcome",
    "R",
    "Run",
    "Shape",
    "Todo",
    "Weight",
    "apply_kind",
    "code_of",
]
