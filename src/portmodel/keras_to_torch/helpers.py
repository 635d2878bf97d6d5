"""Keras model-zoo helpers rewritten as Keras Layer classes, before translation.

keras.applications-style code builds a model in helper functions that take a tensor and
return one (`def block1(x, filters, stride=1, name=None): ...; return x`), called from the
builder and from each other, often in loops. The translator already ports a Keras Layer
class used in a model (one `nn.Module` per class; sizes that follow the input become an
`in_channels` argument), so each helper is first rewritten as such a class:

- the layers it applies (`layers.Conv2D(...)(x)`) and the helpers it calls are created in
  `__init__` — under the same `if` when the condition reads arguments only — and called in
  `call`;
- a loop that applies one layer or helper per iteration becomes a list built by the same
  loop in `__init__` (an `nn.ModuleList` once translated) and a loop over that list;
- `name=` arguments name the attributes (`name + "_1_conv"` -> `conv_1`) and are dropped;
  arguments `call` still reads are kept as attributes (`if self.conv_shortcut:`).

Every call `helper(x, ...)` becomes `Helper(...)(x)`. Comments and docstrings move with
their statements. A helper of another shape is left as written (its calls stay TODOs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst

from ..core.identifiers import unique
from ..core.parsing import walk as _walk
from .values import code, param_text, single, snake

BUILDER_CALLS = ("keras.Sequential", "keras.Model", "keras.Input")
LAYER_BASES = ("layers.Layer", "keras.layers.Layer", "tf.keras.layers.Layer", "keras.Layer")


class NotAHelper(Exception):
    """The function is not in a shape this rewrite handles (it is left as written)."""


@dataclass
class Helper:
    fn: cst.FunctionDef
    cls: str  # the Layer class it becomes


def rewrite_helpers(module: cst.Module, names, rules, source: str) -> tuple[cst.Module, dict[str, Helper], dict[int, cst.CSTNode]]:
    """The module with each helper called on a tensor rewritten as a Layer class and its
    calls as `Class(...)(x)`: (module, helpers by function name, new node id -> the
    original node, for positions in diagnostics)."""
    base = next((b for b in LAYER_BASES if names.of(cst.parse_expression(b)) == "keras.layers.Layer"), None)
    maybe = _maybe_helpers(source) if base else set()
    helpers = _find_helpers(module, names, maybe) if maybe else {}
    if not helpers:
        return module, {}, {}
    origin: dict[int, cst.CSTNode] = {}
    body = []
    for stmt in module.body:
        helper = helpers.get(stmt.name.value) if isinstance(stmt, cst.FunctionDef) else None
        new = None
        if helper is not None:
            try:
                new = _HelperClass(helper, helpers, names, base, rules).build()
            except NotAHelper:
                helpers.pop(stmt.name.value)
        if new is None:
            body.append(stmt)
            continue
        for node in _walk(new):
            origin[id(node)] = stmt
        body.append(new)
    module = module.with_changes(body=body)
    calls = _CallSites(helpers)
    out = module.visit(calls)
    origin.update(calls.origin)
    return out, helpers, origin


def _reads(node: cst.CSTNode) -> set[str]:
    """Names `node` reads (attribute names and argument keywords are not reads)."""
    skip = {id(n.attr) for n in _walk(node) if isinstance(n, cst.Attribute)}
    skip |= {id(n.keyword) for n in _walk(node) if isinstance(n, cst.Arg) and n.keyword is not None}
    return {n.value for n in _walk(node) if isinstance(n, cst.Name) and id(n) not in skip}


def _maybe_helpers(source: str) -> set[str]:
    """Module-level functions that may be helpers, found with Python's own (fast) parser:
    those applying something a call returned (`layers.Conv2D(...)(x)`), or calling such a
    function, and calling nothing named like a model builder's Input/Model/Sequential."""
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return set()
    applies, calls = {}, {}
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        inner = [n for n in ast.walk(fn) if isinstance(n, ast.Call)]
        called = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "") for n in inner}
        if called & {"Input", "Model", "Sequential", "Functional"}:
            continue
        applies[fn.name] = any(isinstance(n.func, ast.Call) for n in inner)
        calls[fn.name] = called
    maybe = {name for name, yes in applies.items() if yes}
    grown = True
    while grown:
        more = {name for name, called in calls.items() if name not in maybe and called & maybe}
        maybe |= more
        grown = bool(more)
    return maybe


def _find_helpers(module: cst.Module, names, maybe: set[str]) -> dict[str, Helper]:
    """Module-level functions that apply Keras layers (or other helpers) to their first
    argument and return the result; builders (keras.Input/Model/Sequential) excluded."""
    candidates = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.FunctionDef) or stmt.name.value not in maybe:
            continue
        if stmt.decorators or not stmt.params.params:
            continue
        if stmt.params.star_arg not in (None, cst.MaybeSentinel.DEFAULT) or stmt.params.star_kwarg is not None:
            continue
        calls = _Collect(cst.Call)
        stmt.body.visit(calls)  # one visitor pass: `_walk`'s `.children` is slow on every function of a file
        if any(names.of(c.func) in BUILDER_CALLS for c in calls.found):
            continue
        candidates[stmt.name.value] = (stmt, calls.found)
    helpers: dict[str, Helper] = {}
    changed = True
    while changed:
        changed = False
        for fname, (fn, calls) in candidates.items():
            if fname not in helpers and any(_layer_ctor(c.func, names) or _helper_call(c, helpers) for c in calls):
                helpers[fname] = Helper(fn, "")
                changed = True
    if helpers:
        taken = _Collect(cst.Name)
        module.visit(taken)
        used = {n.value for n in taken.found}
        for fname, helper in helpers.items():
            helper.cls = _class_name(fname, used)
    return helpers


class _Collect(cst.CSTVisitor):
    """Every node of one type under the visited node."""

    def __init__(self, kind: type):
        self.kind = kind
        self.found: list = []

    def on_visit(self, node) -> bool:
        if isinstance(node, self.kind):
            self.found.append(node)
        return True


def _class_name(fname: str, taken: set[str]) -> str:
    name = "".join(part[:1].upper() + part[1:] for part in fname.split("_") if part) or "Block"
    while name in taken:
        name += "Layer"
    taken.add(name)
    return name


def _layer_ctor(node, names) -> bool:
    return isinstance(node, cst.Call) and names.layer_class(node.func) is not None


def _helper_call(node: cst.Call, helpers) -> bool:
    return isinstance(node.func, cst.Name) and node.func.value in helpers and bool(node.args)


def attr_from_name(expr: cst.BaseExpression | None) -> str | None:
    """An attribute name from a layer's `name=` expression: its literal parts, numbers
    last (`name + "_1_conv"` -> `conv_1`, `name + "_block" + str(i)` -> `block`)."""
    if expr is None:
        return None
    text = "_".join(n.evaluated_value if isinstance(n, cst.SimpleString) else n.value for n in _walk(expr)
                    if isinstance(n, cst.SimpleString | cst.FormattedStringText))
    words = [w for w in re.split(r"\W|_", text) if w]
    if not words:
        return None
    words = [w for w in words if not w.isdigit()] + [w for w in words if w.isdigit()]
    name = "_".join(words).lower()
    return name if name[0].isalpha() else f"layer_{name}"


def _drop_name(call: cst.Call) -> tuple[cst.Call, cst.BaseExpression | None]:
    """The call without its `name=` argument, and that argument's value."""
    kept, name = [], None
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "name":
            name = arg.value
        else:
            kept.append(arg)
    if kept:
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return call.with_changes(args=kept), name


@dataclass
class _HelperClass:
    """Builds the Layer class for one helper."""

    helper: Helper
    helpers: dict
    names: object
    base: str
    rules: object
    init: list[str] = field(default_factory=list)  # __init__ lines after super().__init__()
    attrs: set[str] = field(default_factory=set)
    tensors: set[str] = field(default_factory=set)
    shapes: set[str] = field(default_factory=set)  # sizes read from tensors (`in_channels = x.shape[-1]`)
    statics: dict[str, str] = field(default_factory=dict)  # local constant -> its expression, inlined in __init__
    static_stmts: dict[int, str] = field(default_factory=dict)  # id(statement) -> the constant it defines

    def build(self) -> cst.ClassDef:
        fn = self.helper.fn
        params = list(fn.params.params) + list(fn.params.kwonly_params)
        self.tensor = params[0].name.value
        self.params = [p for p in params[1:] if p.name.value != "name"]
        self.param_names = {p.name.value for p in self.params}
        if any(p.name.value == "name" for p in params[1:]):
            self._check_name_only_names(fn)
        self.tensors = {self.tensor}
        self.attrs = {self.tensor, "training", "call", "build"}
        doc, stmts = _split_doc(fn.body.body)
        if not stmts or not isinstance(single(stmts[-1]), cst.Return):
            raise NotAHelper("the helper does not end with a return")
        call_body = self.block(stmts, 0)
        call_body = self.without_unread_constants(call_body)
        used = set().union(*(_reads(s) for s in call_body))
        call_body = [s.visit(_SelfParams(self.param_names & used)) for s in call_body]
        kept = sorted(self.param_names & used, key=[p.name.value for p in self.params].index)
        if set(kept) & self.attrs:
            raise NotAHelper(f"argument {min(set(kept) & self.attrs)!r} would share its name with a layer")
        init = ["super().__init__()", *(f"self.{p} = {p}" for p in kept), *self.init]
        sig = ", ".join(["self", *(param_text(p) for p in self.params)])
        lines = [f"class {self.helper.cls}({self.base}):"]
        if doc:
            lines += [f"    {doc}", ""]
        lines += [f"    def __init__({sig}):", *(f"        {line}" for line in init), ""]
        lines.append(f"    def call(self, {self.tensor}):")
        body = "".join(code(s) for s in call_body).lstrip("\n")
        lines += [("        " + line) if line.strip() else "" for line in body.splitlines()]
        cls = cst.parse_statement("\n".join(lines) + "\n")
        return cls.with_changes(leading_lines=fn.leading_lines)

    def _check_name_only_names(self, fn) -> None:
        """`name` may only label layers (it is dropped with their `name=` arguments)."""

        class Reads(cst.CSTVisitor):
            inside, other = 0, False

            def visit_Arg(self, node):
                if node.keyword is not None and node.keyword.value == "name":
                    self.inside += 1

            def leave_Arg(self, node):
                if node.keyword is not None and node.keyword.value == "name":
                    self.inside -= 1

            def visit_Name(self, node):
                if node.value == "name" and not self.inside:
                    self.other = True

        reads = Reads()
        fn.body.visit(reads)
        if reads.other:
            raise NotAHelper("`name` is used for more than labelling layers")

    def without_unread_constants(self, body: list) -> list:
        """Local constants call() no longer reads (they served layer arguments, now in
        __init__) are dropped; their comments stay with the next statement."""
        while True:
            reads = set().union(*(_reads(s) for s in body if id(s) not in self.static_stmts))
            reads |= set().union(*(_reads(single(s).value) for s in body if id(s) in self.static_stmts))
            drop = [i for i, s in enumerate(body) if self.static_stmts.get(id(s), "") not in reads
                    and id(s) in self.static_stmts]
            if not drop:
                return body
            i = drop[0]
            comments = [line for line in body[i].leading_lines if line.comment is not None]
            if i + 1 < len(body) and comments:
                body[i + 1] = body[i + 1].with_changes(leading_lines=[*body[i].leading_lines, *body[i + 1].leading_lines])
            body = body[:i] + body[i + 1 :]

    # -- statements -----------------------------------------------------------------------
    def block(self, stmts, depth: int) -> list:
        out = []
        for stmt in stmts:
            out += self.statement(stmt, depth)
        return out

    def statement(self, stmt, depth: int) -> list:
        pad = "    " * depth
        if isinstance(stmt, cst.If):
            return [self.branch(stmt, depth)]
        if isinstance(stmt, cst.For):
            return [self.loop(stmt, depth)]
        if not isinstance(stmt, cst.SimpleStatementLine):
            if self._hoistable_in(stmt):
                raise NotAHelper("layers applied inside a compound statement other than if/for")
            self._note_targets(stmt)
            return [stmt]
        small = single(stmt)
        hoist = _Hoist(self, pad)
        new = stmt.visit(hoist)
        if hoist.count or self._reads_tensor(stmt):
            self._note_targets(stmt)
            return [new]
        if self._reads_shape(stmt):  # `in_channels = inputs.shape[-1]`: a size known per use
            self._note_targets(stmt, self.shapes)
            return [stmt]
        if depth == 0 and isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(
            small.targets[0].target, cst.Name
        ):
            self.statics[small.targets[0].target.value] = self.inline(small.value)
            self.static_stmts[id(stmt)] = small.targets[0].target.value
        return [stmt]

    def branch(self, stmt: cst.If, depth: int) -> cst.If:
        """An `if` on arguments: the same condition guards its layers in __init__."""
        if self._reads_tensor(stmt.test):
            if self._hoistable_in(stmt):
                raise NotAHelper("layers created under a condition on a tensor")
            self._note_targets(stmt)
            return stmt
        if self._reads_shape(stmt.test):  # known per use only: its layers are made for every use
            if stmt.orelse is not None or not self._weightless(stmt.body):
                raise NotAHelper("layers with weights created under a condition on the input's shape")
            body, lines = self.captured(lambda: self.block(stmt.body.body, depth + 1))
            self.init += [line.removeprefix("    ") for line in lines]
            return stmt.with_changes(body=stmt.body.with_changes(body=body))
        pad, test = "    " * depth, self.inline(stmt.test)
        body, body_init = self.captured(lambda: self.block(stmt.body.body, depth + 1))
        orelse, else_init = stmt.orelse, []
        if isinstance(orelse, cst.If):  # elif: an if of its own inside the else
            orelse, else_init = self.captured(lambda: self.branch(stmt.orelse, depth + 1))
        elif orelse is not None:
            inner, else_init = self.captured(lambda: self.block(stmt.orelse.body.body, depth + 1))
            orelse = orelse.with_changes(body=orelse.body.with_changes(body=inner))
        if body_init:
            self.init += [f"{pad}if {test}:", *body_init]
            self.init += [f"{pad}else:", *else_init] if else_init else []
        elif else_init:
            self.init += [f"{pad}if not ({test}):", *else_init]
        return stmt.with_changes(body=stmt.body.with_changes(body=body), orelse=orelse)

    def captured(self, work):
        """(work's result, the __init__ lines it added), those lines taken out of __init__."""
        mark = len(self.init)
        result = work()
        lines = self.init[mark:]
        del self.init[mark:]
        return result, lines

    def loop(self, stmt: cst.For, depth: int) -> cst.For:
        if not self._hoistable_in(stmt):
            self._note_targets(stmt)
            return stmt
        small = single(stmt.body.body[0]) if len(stmt.body.body) == 1 else None
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.value, cst.Call)
                and stmt.orelse is None and not self._reads_tensor(stmt.iter)):
            raise NotAHelper("a loop that does more than apply one layer per iteration")
        ctor, inputs, label = self.split(small.value)
        if ctor is None or self._hoistable_in(ctor) or any(self._hoistable_in(a) for a in inputs):
            raise NotAHelper("a loop that does more than apply one layer per iteration")
        one = self.attr(label or snake(self.ctor_class(ctor)))
        many = self.attr(one if one.endswith("s") else one + "s")
        self.attrs.discard(one)
        elem = one if one not in self.attrs and one not in self.tensors else "layer"
        pad = "    " * depth
        self.init.append(f"{pad}self.{many} = [{self.inline(ctor)} for {code(stmt.target)} in {self.inline(stmt.iter)}]")
        args = ", ".join(code(a.value) for a in inputs)
        target = code(small.targets[0].target)
        self.tensors.add(target)
        body = cst.parse_statement(f"for {elem} in self.{many}:\n    {target} = {elem}({args})\n")
        return body.with_changes(leading_lines=stmt.leading_lines)

    # -- pieces ---------------------------------------------------------------------------
    def split(self, call: cst.Call):
        """(constructor without `name=`, its inputs, the attribute its name suggests) of a
        layer application or helper call; (None, ...) for anything else."""
        if isinstance(call.func, cst.Call) and _layer_ctor(call.func, self.names):
            ctor, label = _drop_name(call.func)
            return ctor, list(call.args), attr_from_name(label)
        if _helper_call(call, self.helpers):
            rest, label = _drop_name(call.with_changes(args=call.args[1:]))
            ctor = rest.with_changes(func=cst.Name(self.helpers[call.func.value].cls))
            return ctor, [call.args[0]], attr_from_name(label) or snake(call.func.value.strip("_"))
        return None, [], None

    def ctor_class(self, ctor: cst.Call) -> str:
        func = ctor.func
        return func.attr.value if isinstance(func, cst.Attribute) else code(func)

    def attr(self, preferred: str) -> str:
        name = unique(re.sub(r"\W", "_", preferred) or "layer", self.attrs | self.tensors)  # a copy: tensors stay
        self.attrs.add(name)
        return name

    def inline(self, node: cst.CSTNode) -> str:
        """Source for __init__: local constants replaced by their expressions."""
        return code(node.visit(_Inline(self.statics)))

    def _reads_tensor(self, node) -> bool:
        """Reads a tensor (its `.shape` only is a size, not a tensor)."""
        shapes = {id(n.value) for n in _walk(node) if isinstance(n, cst.Attribute) and n.attr.value == "shape"}
        return any(isinstance(n, cst.Name) and n.value in self.tensors and id(n) not in shapes for n in _walk(node))

    def _weightless(self, node) -> bool:
        """Every layer `node` creates has no weights (Add, activations: nothing to guard)."""
        for n in _walk(node):
            if isinstance(n, cst.Call) and self.split(n)[0] is not None:
                cls = self.names.layer_class(n.func.func) if isinstance(n.func, cst.Call) else None
                rule = self.rules.layer(cls) if cls else None
                if rule is None or rule.weights:
                    return False
        return True

    def _reads_shape(self, node) -> bool:
        """Reads a tensor's shape, or a size taken from one."""
        return any(isinstance(n, cst.Name) and n.value in self.tensors | self.shapes for n in _walk(node))

    def _hoistable_in(self, node) -> bool:
        return any(isinstance(n, cst.Call) and self.split(n)[0] is not None for n in _walk(node))

    def _note_targets(self, stmt, into: set[str] | None = None) -> None:
        for n in _walk(stmt):
            if isinstance(n, cst.AssignTarget | cst.AugAssign | cst.AnnAssign):
                for t in _walk(n.target):
                    if isinstance(t, cst.Name):
                        (self.tensors if into is None else into).add(t.value)


class _Hoist(cst.CSTTransformer):
    """Layer applications and helper calls in a statement -> `self.<attr>(inputs)`, each
    constructor appended to __init__ (innermost first: the order Keras applies them)."""

    def __init__(self, cls: _HelperClass, pad: str):
        self.cls = cls
        self.pad = pad
        self.count = 0

    def leave_Call(self, original, updated):
        ctor, _, label = self.cls.split(original)
        if ctor is None:
            return updated
        name = self.cls.attr(label or snake(self.cls.ctor_class(ctor)))
        self.cls.init.append(f"{self.pad}self.{name} = {self.cls.inline(ctor)}")
        self.count += 1
        new_inputs = updated.args if isinstance(original.func, cst.Call) else updated.args[:1]
        args = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) if i == len(new_inputs) - 1 else a
                for i, a in enumerate(new_inputs)]
        return cst.Call(cst.parse_expression(f"self.{name}"), args)


class _Reads(cst.CSTTransformer):
    """Rewrites names where they are read: argument keywords and attribute names stay."""

    def leave_Arg(self, original, updated):
        return updated.with_changes(keyword=original.keyword) if original.keyword else updated

    def leave_Attribute(self, original, updated):
        return updated.with_changes(attr=original.attr)

    def leave_Param(self, original, updated):  # a lambda's own parameters are not reads
        return original


class _SelfParams(_Reads):
    """Reads of constructor arguments in call() -> `self.<argument>`."""

    def __init__(self, params: set[str]):
        self.params = params

    def leave_Name(self, original, updated):
        return cst.parse_expression(f"self.{original.value}") if original.value in self.params else updated


class _Inline(_Reads):
    """Reads of local constants -> their expressions (for __init__, where they are not set)."""

    def __init__(self, statics: dict[str, str]):
        self.statics = statics

    def leave_Name(self, original, updated):
        value = self.statics.get(original.value)
        return cst.parse_expression(f"({value})" if " " in value else value) if value else updated


class _CallSites(cst.CSTTransformer):
    """`helper(x, a, name="s")` -> `Helper(a, name="s")(x)` outside the helpers themselves."""

    def __init__(self, helpers: dict[str, Helper]):
        self.helpers = helpers
        self.origin: dict[int, cst.CSTNode] = {}

    def leave_Call(self, original, updated):
        if not _helper_call(original, self.helpers) or original.args[0].keyword is not None:
            return updated
        first = updated.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        rest = list(updated.args[1:])
        if rest:
            rest[-1] = rest[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        ctor = cst.Call(cst.Name(self.helpers[original.func.value].cls), rest)
        return cst.Call(ctor, [first])

    def on_leave(self, original, updated):
        out = super().on_leave(original, updated)
        if isinstance(original, cst.BaseStatement) and out is not original and isinstance(out, cst.CSTNode):
            self.origin[id(out)] = original
        return out


def _split_doc(stmts) -> tuple[str | None, list]:
    stmts = list(stmts)
    first = single(stmts[0]) if stmts else None
    if isinstance(first, cst.Expr) and isinstance(first.value, cst.SimpleString | cst.ConcatenatedString):
        return code(first.value), stmts[1:]
    return None, stmts
