"""Subclassed Keras models and layers (`__init__` / `call`) -> `nn.Module` (`__init__` / `forward`).

Python control flow in `call` is kept; both branches of an `if` are translated. The
`training` argument becomes `self.training` (torch's train/eval flag).
"""

from __future__ import annotations

import re

import libcst as cst

from ..core.parsing import walk
from ..core.result import ModelInfo
from ..core.static_eval import (
    UNKNOWN,
    SymInt,
    is_int,
    is_number,
    is_symbolic,
    plain,
    static_eval,
    sym_code,
    symbolic,
)
from .hooks import Untranslatable
from .layout import convert
from .lower import Lowered
from .names import calls_in
from .reader import input_info, to_boundary
from .values import (
    DeferredLayer,
    LayerRef,
    PortValue,
    Scope,
    SequentialRef,
    Tensor,
    code,
    names_in,
    single,
)
from .variants import loop_element, merge

KERAS_BASES = ("keras.Model", "keras.layers.Layer")
KERAS_ONLY_METHODS = ("get_config", "from_config", "compute_output_shape", "get_build_config", "build_from_config")
TODO = "# portmodel: TODO"


def is_keras_class(fx, cls: cst.ClassDef) -> bool:
    return any(fx.names.of(b.value) in KERAS_BASES for b in cls.bases)


def _todo(stmt, reason: str):
    line = cst.EmptyLine(comment=cst.Comment(f"{TODO} {reason}"))
    return stmt.with_changes(leading_lines=[*stmt.leading_lines, line])


class Components:
    """Keras Layer/Model classes of this file used inside other models: translated per instance.

    Each use is interpreted with its own arguments and input; every use must give the same
    class source (sizes that follow the input become an `in_channels` argument).
    """

    def __init__(self, fx):
        self.fx = fx
        self.classes: dict[str, cst.ClassDef] = {}
        self.used: set[str] = set()
        self.texts: dict[str, str] = {}  # class -> its port, covering every use so far
        self.uses: dict[str, list] = {}  # class -> [(port for that use, its constructor arguments)]

    def scan(self, module: cst.Module) -> None:
        for stmt in module.body:
            if isinstance(stmt, cst.ClassDef) and is_keras_class(self.fx, stmt):
                self.classes[stmt.name.value] = stmt
        names = set(self.classes)
        for stmt in module.body:
            if names and isinstance(stmt, cst.ClassDef | cst.FunctionDef):
                self.used.update(c.func.value for c in calls_in(stmt) if isinstance(c.func, cst.Name) and c.func.value in names)

    def __call__(self, site, tensors: list, parent):
        name = site.cls
        if len(tensors) != 1:
            raise Untranslatable(f"'{name}' with several inputs is not translated yet")
        tr = SubclassTranslator(self.fx, self.classes[name], instance=(site.node, parent, tensors[0]))
        text, _ = tr.translate()
        if tr.output is None:
            raise Untranslatable(f"could not follow {name}.call(); see the TODOs in {name}")
        uses = [*self.uses.get(name, []), (text, tr.param_values)]
        merged = text if len({t for t, _ in uses}) == 1 else merge(
            [t for t, _ in uses], [v for _, v in uses], self.classes[name]
        )
        if merged is None:
            raise Untranslatable(
                f"'{name}' would need different code for this use (input size or arguments change "
                "its padding or sizes in ways one condition does not cover); not translated yet"
            )
        self.uses[name], self.texts[name] = uses, merged
        in_channels = tensors[0].info.channels
        args = [sym_code(in_channels)] if tr.needs_in_channels else []
        names = {"in_channels": in_channels}
        for arg, param in zip(_constructor_args(site.node), tr.bound_params):
            value = parent.code_of(arg.value)
            args.append(f"{arg.keyword.value}={value}" if arg.keyword else value)
            names[param] = symbolic(plain(v), value) if is_symbolic(v := tr.bound.get(param)) else v
        shape = tuple(_rename(d, names) for d in tr.output.info.shape)
        return Lowered(None, f"{name}({', '.join(args)})", "{m}({x})", tr.output.info.with_(shape=shape), ())


def _constructor_args(call: cst.Call) -> list[cst.Arg]:
    """A component's constructor arguments but `name=` (it names the attribute instead)."""
    return [a for a in call.args if not (a.keyword is not None and a.keyword.value == "name")]


def _rename(dim, names: dict):
    """A size named in the component's terms (`filters`, `4 * filters`), renamed in the
    caller's (`width * 2`, `4 * (width * 2)`), or a plain int where some name has no
    counterpart there."""
    if not isinstance(dim, SymInt):
        return dim
    if re.fullmatch(r"[A-Za-z_]\w*", dim.code):  # a name passed through: the caller's expression as it is
        outer = names.get(dim.code)
        return SymInt(int(dim), outer.code) if isinstance(outer, SymInt) else int(dim)

    def substitute(match: re.Match) -> str:
        if match.group(2):  # a function of the module (`_make_divisible(...)`) or a builtin
            return match.group(0)
        value = names.get(match.group(1))
        if is_symbolic(value):
            return f"({value.code})" if " " in value.code else value.code
        if is_number(value):
            return repr(value)
        raise KeyError(match.group(0))

    try:
        text = re.sub(r"([A-Za-z_]\w*)(\s*\()?", substitute, dim.code)
    except KeyError:
        return int(dim)
    variables = re.findall(r"[A-Za-z_]\w*(?!\w|\s*\()", text)
    return SymInt(int(dim), text) if variables else int(dim)


class SubclassTranslator:
    def __init__(self, fx, cls: cst.ClassDef, instance=None):
        self.fx = fx
        self.cls = cls
        self.instance = instance  # (constructor call, parent interpreter, input tensor) or None
        self.output: Tensor | None = None
        self.needs_in_channels = False
        self.scope = Scope()
        self.replace: dict[int, object] = {}  # id(original statement) -> new statement / None
        self.tests: dict[int, cst.BaseExpression] = {}  # id(original if) -> its condition as torch reads it
        self.sequentials: set[str] = set()  # attributes holding a keras.Sequential
        self.attr_sites: dict[str, object] = {}  # attribute -> site or list of sites
        self.prefix: dict[int, list[str]] = {}  # id(loop) -> statements to insert before it
        self.dry = False  # a dry run learns layouts without recording anything
        self.order: list[str] = []
        self.loop_items: dict[str, list] = {}  # attribute -> the values its comprehension's loop takes

    def method(self, name: str) -> cst.FunctionDef | None:
        for stmt in self.cls.body.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                return stmt
        return None

    # -- translate -------------------------------------------------------------------------
    def translate(self):
        init, call = self.method("__init__"), self.method("call")
        params = list(init.params.params[1:]) + list(init.params.kwonly_params) if init else []
        env = {
            p.name.value: symbolic(static_eval(p.default, self.fx.env), p.name.value) if p.default else UNKNOWN
            for p in params
        }
        if self.instance is not None:
            env.update(self.bind_arguments(params))
        self.param_values = {p.name.value: plain(env[p.name.value]) for p in params}
        self.interp = self.fx.interpreter(env, self.scope, {p.name.value for p in params} | {"self"})
        self.interp.refs_as_written = True
        self.moved: list = []  # layer assignments moved from build() into __init__
        self.none_attrs: dict = {}  # attribute -> `self.attr = None` statement in __init__
        self._call_names: set[str] | None = None
        if init is not None:
            self.read_init(init)
            self.read_build(self.method("build"))
        if call is None:
            self.fx.diag(self.cls, f"class {self.cls.name.value} has no call() method")
        else:
            self.interp.forward_names = (_kept_arguments(init), {p.name.value for p in params} | {"in_channels"})
            self.read_call(call)
        self.finish_init()
        text = code(self.cls.visit(_Rewriter(self)))
        self.fx.keep.add(self.cls.name.value)
        return text, ModelInfo(self.cls.name.value, self.cls.name.value, "subclassed", self.order)

    def bind_arguments(self, params: list[cst.Param]) -> dict:
        """The instance's constructor arguments as this class's parameter values."""
        call, parent, _ = self.instance
        bound = {}
        self.bound_params = []
        for i, arg in enumerate(_constructor_args(call)):
            if arg.star:
                raise Untranslatable("*args/**kwargs in a custom layer call cannot be read statically")
            name = arg.keyword.value if arg.keyword else (params[i].name.value if i < len(params) else None)
            if name is None:
                raise Untranslatable(f"too many arguments for {self.cls.name.value}")
            bound[name] = symbolic(plain(parent.static(arg.value)), name)
            self.bound_params.append(name)
        self.bound = bound
        return bound

    def read_init(self, init: cst.FunctionDef) -> None:
        self.read_init_block(init.body.body)

    def read_init_block(self, stmts) -> None:
        """`self.x = ...` statements, also under an `if` (layers created conditionally:
        both branches are read, the condition stays in the port)."""
        for stmt in stmts:
            if isinstance(stmt, cst.If):
                self.read_init_block(stmt.body.body)
                if isinstance(stmt.orelse, cst.If):
                    self.read_init_block([stmt.orelse])
                elif stmt.orelse is not None:
                    self.read_init_block(stmt.orelse.body.body)
                continue
            small = single(stmt)
            if not (isinstance(small, cst.Assign) and len(small.targets) == 1):
                continue
            target = small.targets[0].target
            if not (isinstance(target, cst.Attribute) and code(target.value) == "self"):
                continue
            attr = target.attr.value
            if isinstance(small.value, cst.Name) and small.value.value == "None":
                self.none_attrs[attr] = stmt
            try:
                self.init_assign(stmt, attr, small.value)
            except Untranslatable as exc:
                self.fx.diag(stmt, str(exc))
                self.replace[id(stmt)] = _todo(stmt, str(exc))

    def read_build(self, build: cst.FunctionDef | None) -> None:
        """Layers created in build() move to __init__ (the port knows its shapes statically)."""
        if build is None:
            return
        shape = self.input_info()
        if len(build.params.params) > 1 and shape is not None:  # build(self, input_shape)
            self.interp.env[build.params.params[1].name.value] = (None, *shape.shape)
        moved = []
        for stmt in build.body.body:
            small = single(stmt)
            if isinstance(small, cst.Pass) or (
                isinstance(small, cst.Expr) and code(small.value).startswith(("super().build(", '"', "'"))
            ):
                continue
            target = small.targets[0].target if isinstance(small, cst.Assign) and len(small.targets) == 1 else None
            if (
                isinstance(target, cst.Attribute)
                and code(target.value) == "self"
                and isinstance(small.value, cst.Call)
                and self.fx.names.layer_class(small.value.func)
            ):
                moved.append((stmt, target.attr.value, small.value))
                continue
            reason = "build() with weights or code other than sublayers is not translated yet"
            self.fx.diag(build, reason)
            self.replace[id(build)] = _todo(build, reason)
            return
        for stmt, attr, value in moved:
            placeholder = self.none_attrs.get(attr)
            if placeholder is not None:  # `self.x = None` in __init__, the layer made in build()
                self.replace[id(placeholder)] = None
            try:
                self.init_assign(stmt, attr, value)
            except Untranslatable as exc:
                self.fx.diag(stmt, str(exc))
                self.replace[id(stmt)] = _todo(stmt, str(exc))
            self.moved.append(stmt)
        self.replace[id(build)] = None

    def call_names(self) -> set[str]:
        """Names call() binds (its parameters, what it assigns); read once, when needed."""
        if self._call_names is None:
            call = self.method("call")
            self._call_names = _bound_names(call) if call is not None else set()
        return self._call_names

    def reads_call_values(self, ctor: cst.Call) -> bool:
        """The constructor's arguments read names only call() binds (`x` in
        `Conv2D(int(x.shape[-1] * r), 1)`, as a helper function computes sizes)."""
        unknown = _arg_reads(ctor) - set(self.interp.env)
        return bool(unknown and unknown & self.call_names())

    def init_assign(self, stmt, attr: str, value) -> None:
        it, names = self.interp, self.fx.names
        if isinstance(value, cst.Call) and names.layer_class(value.func) is not None and self.reads_call_values(value):
            it.env[f"self.{attr}"] = ref = DeferredLayer(value, attr)
            self.attr_sites[attr] = (stmt, ref)
        elif isinstance(value, cst.Call) and (names.layer_class(value.func) is not None or it.is_custom(value)):
            site = it.site_for(value, attr)
            it.env[f"self.{attr}"] = LayerRef(site)
            self.attr_sites[attr] = (stmt, site)
        elif isinstance(value, cst.Call) and names.of(value.func) == "keras.Sequential" and _layer_list(value, it):
            elements = value.args[0].value.elements
            sites = [it.site_for(e.value, f"{attr}_{i}") for i, e in enumerate(elements)]
            for s in sites:
                s.fuse_activation = True
            it.env[f"self.{attr}"] = SequentialRef(tuple(sites))
            self.attr_sites[attr] = (stmt, sites)
            self.sequentials.add(attr)
        elif isinstance(value, cst.List) and any(
            isinstance(e.value, cst.Call) and (names.layer_class(e.value.func) or it.is_custom(e.value))
            for e in value.elements
        ):
            sites = [it.site_for(e.value, f"{attr}_{i}") for i, e in enumerate(value.elements)]
            for s in sites:
                s.fuse_activation = True
            it.env[f"self.{attr}"] = [LayerRef(s) for s in sites]
            self.attr_sites[attr] = (stmt, sites)
        elif isinstance(value, cst.ListComp) and isinstance(value.elt, cst.Call) and (
            names.layer_class(value.elt.func) or it.is_custom(value.elt)
        ):
            sites = self.comprehension_sites(value, attr)
            it.env[f"self.{attr}"] = [LayerRef(s) for s in sites]
            self.attr_sites[attr] = (stmt, sites)
        elif isinstance(value, cst.Call) and names.of(value.func) is not None:
            raise Untranslatable(f"{names.of(value.func)} is not translated yet")
        else:
            it.env[f"self.{attr}"] = it.static(value)

    def comprehension_sites(self, comp: cst.ListComp, attr: str) -> list:
        """One site per iteration of `[Layer(...) for v in <constant iterable>]`."""
        loop = comp.for_in
        if loop.inner_for_in is not None or loop.ifs or not isinstance(loop.target, cst.Name):
            raise Untranslatable("only a plain `[Layer(...) for v in range(...)]` builds a list of layers")
        items = self.static_iterable(loop.iter)
        if not items:
            raise Untranslatable("this loop builds no layer for this use; its layers' sizes are unknown")
        sites, before = [], self.interp.env.get(loop.target.value, UNKNOWN)
        for i, item in enumerate(items):
            self.interp.env[loop.target.value] = item
            site = self.interp.site_for(comp.elt, f"{attr}_{i}")
            site.fuse_activation = True
            sites.append(site)
        self.interp.env[loop.target.value] = before
        self.loop_items[attr] = items
        return sites

    def static_iterable(self, node) -> list:
        """A constant list, tuple or range() call, as a list (else Untranslatable)."""
        if isinstance(node, cst.Call) and code(node.func) == "range":
            bounds = [self.interp.static(a.value) for a in node.args]
            if bounds and all(is_int(b) for b in bounds):
                return list(range(*(int(b) for b in bounds)))
        value = self.interp.static(node)
        if isinstance(value, list | tuple):
            return list(value)
        raise Untranslatable(f"cannot read '{code(node)}' statically")

    def finish_init(self) -> None:
        self.needs_in_channels = any(
            s.lowered is not None and s.lowered.module and re.search(r"\bin_channels\b", s.lowered.module)
            for s in self.scope.sites
        )
        for attr, (stmt, site) in self.attr_sites.items():
            site = site.site if isinstance(site, DeferredLayer) else site
            sites = site if isinstance(site, list) else [site]
            missing = [s for s in sites if s is None or s.lowered is None]
            if missing:
                reason = "layer is never called in call(); its input size is unknown"
                self.fx.diag(stmt, reason)
                self.replace[id(stmt)] = _todo(stmt, reason)
                continue
            modules = [s.lowered.module for s in sites]
            if all(m is None for m in modules):
                self.replace[id(stmt)] = None  # inlined in forward
                continue
            if None in modules:
                raise Untranslatable("a list mixing module and inline layers")
            value = single(stmt).value
            if attr in self.sequentials:
                new_value = f"nn.Sequential({', '.join(modules)})"
                self.order += [f"{attr}.{i}" for i in range(len(sites))]
            elif isinstance(value, cst.ListComp):  # the loop stays a loop
                new_value = f"nn.ModuleList([{loop_element(modules, value.for_in, self.loop_items[attr])}])"
                self.order += [f"{attr}.{i}" for i in range(len(sites))]
            elif isinstance(site, list):
                new_value = f"nn.ModuleList([{', '.join(modules)}])"
                self.order += [f"{attr}.{i}" for i in range(len(sites))]
            else:
                new_value = modules[0]
                self.order.append(attr)
            small = stmt.body[0].with_changes(value=cst.parse_expression(new_value))
            self.replace[id(stmt)] = stmt.with_changes(body=[small])

    def read_call(self, call: cst.FunctionDef) -> None:
        params = [p for p in call.params.params[1:] if p.name.value not in ("training", "mask")]
        if len(params) != 1:
            self.fx.diag(call, "call() with several tensor arguments is not translated yet")
            return
        info = self.input_info(call)
        if info is None:
            self.fx.diag(call, "the model's input shape is unknown; pass --input-shape")
            return
        env = dict(self.interp.env)
        env[params[0].name.value] = Tensor(params[0].name.value, info)
        env["training"] = UNKNOWN
        self.walk(call.body.body, env)

    def input_info(self, call: cst.FunctionDef | None = None):
        """The input of call(): the instance's (channels named in_channels) or --input-shape."""
        if self.instance is not None:
            given = self.instance[2].info
            channels = given.shape[-1] if given.shape else None
            if channels is not None:
                channels = SymInt(int(channels), "in_channels")
            return given.with_(shape=(*plain(given.shape[:-1]), channels))
        if not self.fx.input_shape:
            return None
        first = _first_layer(self, call or self.method("call"))
        return input_info(tuple(self.fx.input_shape), first.rule.id if first and first.rule else None)

    # -- statements of call() ---------------------------------------------------------------------
    def walk(self, stmts, env: dict) -> dict:
        for stmt in stmts:
            try:
                env = self.statement(stmt, env)
            except Untranslatable as exc:
                if self.dry:
                    continue
                self.fx.diag(stmt, str(exc))
                self.replace[id(stmt)] = _todo(stmt, str(exc))
        return env

    def statement(self, stmt, env: dict) -> dict:
        self.interp.env = env
        if isinstance(stmt, cst.If):
            return self.branch(stmt, env)
        if isinstance(stmt, cst.For):
            return self.loop(stmt, env)
        small = single(stmt)
        if small is None:
            raise Untranslatable("this statement is not translated yet")
        if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
            name = small.targets[0].target.value
            v = self.interp.eval(small.value)
            if isinstance(v, Tensor):
                self.set(stmt, small.with_changes(value=cst.parse_expression(v.expr)))
                env = {**env, name: v.named(name)}
            elif v is UNKNOWN:
                raise Untranslatable(f"cannot follow the value of '{name}'")
            else:
                value = small.value.visit(PortValue(self.interp, env))
                if value is not small.value:
                    self.set(stmt, small.with_changes(value=value))
                env = {**env, name: v}
        elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
            left, right = env.get(small.target.value), self.interp.eval(small.value)
            if isinstance(left, Tensor) and isinstance(right, Tensor):
                expr, _ = convert(right.expr, right.info, left.info.layout)
                self.set(stmt, small.with_changes(value=cst.parse_expression(expr)))
        elif isinstance(small, cst.Return) and small.value is not None:
            v = self.interp.eval(small.value)
            outs = v if isinstance(v, list) else [v]
            if not all(isinstance(t, Tensor) for t in outs):
                raise Untranslatable("call() returns something the translator cannot follow")
            if self.instance is not None:  # a component hands its tensor on as it is
                exprs = [t.expr for t in outs]
            else:
                exprs = [to_boundary(t) for t in outs]
            self.output = outs[0]
            text = exprs[0] if not isinstance(v, list) else ", ".join(exprs)
            self.set(stmt, small.with_changes(value=cst.parse_expression(text)))
        return env

    def set(self, stmt, small) -> None:
        if self.dry:
            return
        new = stmt.with_changes(body=[small])
        old = self.replace.get(id(stmt))
        if old is not None and code(old) != code(new):
            raise Untranslatable("this statement needs different code on different loop iterations")
        self.replace[id(stmt)] = new

    def branch(self, stmt: cst.If, env: dict) -> dict:
        """Both branches are translated; where the condition is known for this instance
        (a constructor argument), the values after the `if` are the taken branch's."""
        if not self.dry:  # `if x.shape[1] > 4` reads the shape as torch holds it
            test = stmt.test.visit(PortValue(self.interp, env))
            if test is not stmt.test:
                self.tests[id(stmt)] = test
        a = self.walk(stmt.body.body, dict(env))
        if stmt.orelse is None:
            b = env
        elif isinstance(stmt.orelse, cst.If):
            b = self.branch(stmt.orelse, dict(env))
        else:
            b = self.walk(stmt.orelse.body.body, dict(env))
        self.interp.env = env
        taken = self.interp.static(stmt.test) if self.instance is not None else UNKNOWN
        if taken is not UNKNOWN and not isinstance(taken, Tensor | LayerRef):
            return a if taken else b
        merged = dict(env)
        for key in set(a) | set(b):
            va, vb = a.get(key, UNKNOWN), b.get(key, UNKNOWN)
            if isinstance(va, Tensor) and isinstance(vb, Tensor):
                if va.info != vb.info:
                    raise Untranslatable(f"'{key}' has different shapes in the two branches")
                merged[key] = va
            elif va is vb:
                merged[key] = va
            else:
                merged[key] = UNKNOWN
        return merged

    def loop(self, stmt: cst.For, env: dict) -> dict:
        items = self.interp.eval(stmt.iter)
        if not isinstance(stmt.target, cst.Name) or not isinstance(items, list):
            raise Untranslatable("only loops over a list of layers are translated")
        env = self.loop_entry_layouts(stmt, env, items)
        for item in items:
            env = self.walk(stmt.body.body, {**env, stmt.target.value: item})
        return env


    def loop_entry_layouts(self, stmt: cst.For, env: dict, items: list) -> dict:
        """Bring loop-carried tensors into the layout the loop body leaves them in."""
        if not items or self.dry:
            return env
        self.dry = True
        try:
            after = self.walk(stmt.body.body, {**env, stmt.target.value: items[0]})
        finally:
            self.dry = False
        self.interp.env = env
        lines, env = [], dict(env)
        for name, before in env.items():
            now = after.get(name)
            if isinstance(before, Tensor) and isinstance(now, Tensor) and now.info.layout != before.info.layout:
                expr, info = convert(name, before.info, now.info.layout)
                lines.append(f"{name} = {expr}")
                env[name] = Tensor(name, info, before.producer)
        if lines:
            self.prefix[id(stmt)] = lines
        return env


def _first_layer(tr: SubclassTranslator, call: cst.FunctionDef):
    """The layer applied first to the input (decides integer inputs for Embedding)."""
    for stmt in call.body.body if call is not None else ():
        for node in _calls(stmt):
            ref = tr.interp.env.get(code(node.func)) if isinstance(node.func, cst.Attribute) else None
            if isinstance(ref, DeferredLayer):
                return None  # its arguments read the input: not an Embedding's
            if isinstance(ref, LayerRef):
                return ref.site
    return None


def _layer_list(call: cst.Call, interp) -> bool:
    """keras.Sequential([Layer(...), ...]) with a literal list of layer constructors only."""
    if len(call.args) != 1 or call.args[0].keyword is not None or not isinstance(call.args[0].value, cst.List | cst.Tuple):
        return False
    elements = call.args[0].value.elements
    return bool(elements) and all(
        isinstance(e.value, cst.Call) and interp.names.layer_class(e.value.func) is not None for e in elements
    )


def _kept_arguments(init: cst.FunctionDef | None) -> dict[str, str]:
    """{argument: `self.attribute`} for `self.attribute = argument` in __init__."""
    kept: dict[str, str] = {}
    if init is None:
        return kept
    for stmt in init.body.body:
        small = single(stmt)
        if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.value, cst.Name):
            target = small.targets[0].target
            if isinstance(target, cst.Attribute) and code(target.value) == "self":
                kept.setdefault(small.value.value, f"self.{target.attr.value}")
    return kept


def _arg_reads(call: cst.Call) -> set[str]:
    """Names a call's arguments read (`x` in `layers.Conv2D(int(x.shape[-1] * r), 1)`)."""
    return set().union(*(_reads(a.value) for a in call.args))


def _reads(node: cst.CSTNode) -> set[str]:
    """Names an expression reads (`a.b` reads `a`; keywords are not reads)."""
    return {n.value for n in names_in(node)}


def _bound_names(fn: cst.FunctionDef) -> set[str]:
    """The parameters of `fn` and the names its body assigns."""
    found = {p.name.value for p in fn.params.params[1:]}

    class V(cst.CSTVisitor):
        def visit_AssignTarget(self, node) -> None:
            found.update(n.value for n in names_in(node.target))

        def visit_For(self, node) -> None:
            found.update(n.value for n in names_in(node.target))

    fn.body.visit(V())
    return found


def _calls(stmt) -> list[cst.Call]:
    found: list[cst.Call] = []

    class V(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            found.append(node)

    stmt.visit(V())
    return list(reversed(found))


class _Rewriter(cst.CSTTransformer):
    """Applies the recorded statement replacements and the Keras -> torch class surface."""

    def __init__(self, tr: SubclassTranslator):
        self.tr = tr
        self.depth = 0
        self.in_forward = False

    def on_leave(self, original, updated):
        if isinstance(original, cst.If) and id(original) in self.tr.tests:
            updated = updated.with_changes(test=self.tr.tests[id(original)])
        if id(original) in self.tr.replace and isinstance(original, cst.BaseStatement):
            new = self.tr.replace[id(original)]
            if new is None:
                return cst.RemoveFromParent()
            if isinstance(updated, cst.If | cst.For):
                return updated.with_changes(leading_lines=new.leading_lines)
            return new
        if isinstance(original, cst.For) and id(original) in self.tr.prefix:
            before = [cst.parse_statement(line) for line in self.tr.prefix[id(original)]]
            return cst.FlattenSentinel([*before, updated])
        return super().on_leave(original, updated)

    def leave_If(self, original, updated):
        """An `if` whose layers all became inline code (Add, activations) leaves nothing to
        guard in __init__: dropped, rather than kept as `if ...: pass`."""
        if updated.orelse is None and _only_pass(updated.body) and not _only_pass(original.body):
            return cst.RemoveFromParent()
        return updated

    def leave_ClassDef(self, original, updated):
        if original is not self.tr.cls:
            return updated
        keep = [new for old, new in zip(original.decorators, updated.decorators) if self.tr.fx.names.of(_deco(old)) is None]
        return updated.with_changes(bases=[cst.Arg(cst.parse_expression("nn.Module"))], decorators=keep)

    def visit_FunctionDef(self, node) -> bool:
        self.in_forward = node.name.value == "call"
        return True

    def leave_FunctionDef(self, original, updated):
        name = original.name.value
        if name in KERAS_ONLY_METHODS:
            self.tr.fx.diag(original, f"Keras-only method {name}() dropped", "PM002", "note")
            return cst.RemoveFromParent()
        if name == "call":
            body = _prune_unread(updated.body)
            first = body.body[0] if body.body else None
            if first is not None and all(line.comment is None for line in first.leading_lines):
                body = body.with_changes(body=[first.with_changes(leading_lines=[]), *body.body[1:]])
            updated = updated.with_changes(body=body)
            self.in_forward = False
            return updated.with_changes(name=cst.Name("forward"), params=_forward_params(original.params, updated.params))
        if name == "__init__" and self.tr.needs_in_channels:
            params = [updated.params.params[0], cst.Param(cst.Name("in_channels")), *updated.params.params[1:]]
            updated = updated.with_changes(params=updated.params.with_changes(params=params))
        if name == "__init__" and self.tr.moved:
            extra = [self.tr.replace.get(id(st), st) for st in self.tr.moved]
            body = [*updated.body.body, *(st for st in extra if st is not None)]
            updated = updated.with_changes(body=updated.body.with_changes(body=body))
        if name == "__init__" and updated.params.star_kwarg is not None:
            params = updated.params
            new = params.with_changes(
                star_kwarg=None,
                params=_no_trailing_comma(list(params.params)),
                kwonly_params=_no_trailing_comma(list(params.kwonly_params)),
            )
            return updated.with_changes(params=new)
        return updated

    def leave_Name(self, original, updated):
        if self.in_forward and original.value == "training":
            return cst.parse_expression("self.training")
        return updated

    # `training` is renamed only where it is read: parameter, keyword and attribute names stay
    def leave_Param(self, original, updated):
        return updated.with_changes(name=original.name)

    def leave_Arg(self, original, updated):
        return updated.with_changes(keyword=original.keyword) if original.keyword else updated

    def leave_Attribute(self, original, updated):
        return updated.with_changes(attr=original.attr)

    def leave_Call(self, original, updated):
        func = code(original.func)
        if func.startswith("super(") and func.endswith(".__init__"):
            return updated.with_changes(func=cst.parse_expression("super().__init__"), args=[])
        return updated


_SAFE_CALLS = {"str", "int", "float", "abs", "min", "max", "len", "round", "tuple", "list"}


def _prune_unread(block: cst.IndentedBlock) -> cst.IndentedBlock:
    """forward() without assignments nothing reads any more (a layer's name prefix, the
    channel axis of the Keras layout): values without side effects only."""
    while True:
        names = _Names()
        block.visit(names)
        if names.assigned <= names.reads:  # nothing to drop (the common case): no rewrite pass
            return block
        pruned = _PruneAssigns(names.reads)
        new = block.visit(pruned)
        if not pruned.dropped:
            return new
        block = new


class _Names(cst.CSTVisitor):
    """Names a block reads, and the plain names it assigns (one pass)."""

    def __init__(self):
        self.reads: set[str] = set()
        self.assigned: set[str] = set()

    def visit_AssignTarget(self, node) -> bool:
        if isinstance(node.target, cst.Name):
            self.assigned.add(node.target.value)
            return False
        return True

    def visit_Attribute(self, node) -> bool:
        node.value.visit(self)  # `a.b` reads `a`, not `b`
        return False

    def visit_Arg(self, node) -> bool:
        node.value.visit(self)  # a keyword is not a read
        return False

    def visit_Name(self, node) -> None:
        self.reads.add(node.value)


class _PruneAssigns(cst.CSTTransformer):
    def __init__(self, reads: set[str]):
        self.reads = reads
        self.dropped = False

    def leave_SimpleStatementLine(self, original, updated):
        small = single(updated)
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name)):
            return updated
        if small.targets[0].target.value in self.reads or not _pure(small.value):
            return updated
        self.dropped = True
        return cst.RemoveFromParent()

    def leave_If(self, original, updated):
        orelse = updated.orelse
        if isinstance(orelse, cst.Else) and not orelse.body.body:
            orelse = None
        body = updated.body
        if not body.body:
            if orelse is None and _pure(updated.test):
                return cst.RemoveFromParent()
            body = body.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
        return updated.with_changes(body=body, orelse=orelse)


def _pure(node) -> bool:
    """No side effects: no calls but to a few builtins."""
    return not any(isinstance(n, cst.Call) and not (isinstance(n.func, cst.Name) and n.func.value in _SAFE_CALLS)
                   for n in walk(node))


def _only_pass(block) -> bool:
    return all(isinstance(st, cst.SimpleStatementLine) and all(isinstance(b, cst.Pass) for b in st.body)
               for st in block.body)


def _forward_params(original: cst.Parameters, updated: cst.Parameters) -> cst.Parameters:
    """call()'s parameters without `training` and `mask` (forward() reads `self.training`),
    keyword-only ones included (`def call(self, *args, training=None, **kwargs)`)."""
    def kept(old: list, new: list) -> list:
        return _no_trailing_comma([n for o, n in zip(old, new) if o.name.value not in ("training", "mask")])

    params = kept(original.params, updated.params)
    kwonly = kept(original.kwonly_params, updated.kwonly_params)
    star = updated.star_arg
    if not kwonly and isinstance(star, cst.ParamStar):  # a bare `*` needs a keyword-only parameter after it
        star = cst.MaybeSentinel.DEFAULT
    return updated.with_changes(params=params, kwonly_params=kwonly, star_arg=star)


def _no_trailing_comma(params: list) -> list:
    if params:
        params[-1] = params[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return params


def _deco(d: cst.Decorator):
    return d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator
