"""Translate one PyTorch file to Keras 3: every class and function once, as code.

`FileTranslation` answers the questions a `Run` asks about names, attributes, calls and
subscripts (what a torch name becomes, which module kinds an attribute holds, what a call
builds or computes), summarises functions for their callers, and writes the file: module
classes become Keras `Layer`/`Model` subclasses (`forward` -> `call`), torch layers their
Keras layers (`nn_layers`), torch ops `keras.ops` (`tensor_ops`), torch classes used as
values small functions with torch's signature, and the imports follow.
"""

from __future__ import annotations

from dataclasses import replace

import libcst as cst

from ..core.parsing import walk
from ..core.rules import REQUIRED
from . import tensor_ops
from .context import ClassInfo, KerasNames, Translator
from .initializers import initializer_statement, variable_initializer
from .interpret import HARD, SOFT, WEAK, Outcome, R, Run, Todo, _expr, code_of
from .kinds import UNKNOWN, Bag, Layer, Seq, join
from .kinds import Local as LocalKind
from .kinds import apply as apply_kind
from .layout import concrete, convert, spatial_ones
from .nn_layers import _NOT_LITERAL, WRITERS, Args, NotWritable, literal
from .source import SourceFile
from .tensor_ops import shape_code, shape_index
from .values import (
    CL,
    DYN,
    Bound,
    Builder,
    Const,
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

# torch functions that become plain Python (or nothing) in Keras
_PLAIN_CALLS = {
    "torch.jit.is_scripting": "False",
    "torch.jit.is_tracing": "False",
    "torch.is_grad_enabled": "True",
}
_DROPPED_STATEMENTS = {  # module-level or statement calls with no Keras meaning
    "torch.fx.wrap": "torch.fx registration (no Keras counterpart)",
    "torch._C._log_api_usage_once": "torch usage logging",
}
_DROPPED_DECORATORS = ("torch.jit.unused", "torch.jit.ignore", "torch.jit.export", "torch.no_grad",
                       "torch.jit.script_method")
_TORCH_HOOK_METHODS = {"_load_from_state_dict", "_save_to_state_dict", "extra_repr", "_apply",
                       "_register_load_state_dict_pre_hook"}
_ANNOTATIONS = {
    "torch.Tensor": "keras.KerasTensor",
    "torch.nn.Module": "keras.layers.Layer",
    "torch.Size": "tuple",
    "torch.dtype": "str",
    "torch.device": "str",
}


class FileTranslation:
    def __init__(self, tr: Translator, src: SourceFile, translated_modules: set[str] | None = None):
        self.tr = tr
        self.src = src
        self.k = KerasNames.for_file(src)
        self.adapters: dict[str, str] = {}  # torch class -> adapter function name
        self.support: set[str] = set()
        self.imports: set[str] = set()
        self.todos: list = []
        self.notes: list = []
        self.translated_modules = translated_modules
        self.attr_renames: dict[tuple[str, str], str] = {}
        self.temps = 0
        self.used_keras = False
        self.count = 0  # torch layers and ops this file's code has written in Keras

    # -- names -------------------------------------------------------------------------------

    def global_name(self, run: Run, name: str, qual: str) -> R:
        if qual.split(".")[0] == "torch":
            return R(name, TorchRef(qual))
        if qual in ("functools.partial", "collections.OrderedDict", "typing.cast"):
            return R(name, TorchRef(qual))
        found = self.tr.definition(qual)
        if found is not None:
            return R(name, Local(qual))
        const = self.tr.package.constant(qual)
        if const is not None:
            return R(name, DYN)
        return R(name, DYN)

    def torch_value(self, run: Run, qual: str, code: str) -> R:
        """A torch name used as a value (not called): a layer class becomes its adapter."""
        cls = _nn_class(qual)
        if cls and self.tr.rules.torch_layer(cls) is not None:
            return R(self.adapter(cls), Builder(self.tr.torch_kind(cls)))
        if qual in _ANNOTATIONS:
            return R(_ANNOTATIONS[qual], DYN)
        if qual in ("torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict"):
            keras = {"torch.nn.Sequential": "keras.Sequential", "torch.nn.ModuleList": "list",
                     "torch.nn.ModuleDict": "LayerDict"}[qual]
            if keras == "LayerDict":
                self.support.add("LayerDict")
            return R(keras, Builder(UNKNOWN))
        return R(code, TorchRef(qual))

    def adapter(self, cls: str) -> str:
        self.adapters[cls] = cls
        return cls

    def annotation(self, node):
        """A type annotation with torch types mapped (`nn.Module` -> `keras.layers.Layer`)."""
        if isinstance(node, cst.SimpleString):  # "OrderedDict[str, torch.Tensor]"
            try:
                inner = cst.parse_expression(node.evaluated_value)
            except (cst.ParserSyntaxError, Exception):  # noqa: BLE001 - not an expression: as written
                return node
            mapped = code_of(self.annotation(inner))
            quote = node.quote
            return node if mapped == node.evaluated_value else cst.SimpleString(f"{quote}{mapped}{quote}")
        new = node
        for n in list(walk(node)):
            if isinstance(n, cst.Name | cst.Attribute):
                text = code_of(n)
                head, _, rest = text.partition(".")
                q = self.src.qualify(head)
                if q is None or q.split(".")[0] != "torch":
                    continue
                full = f"{q}.{rest}" if rest else q
                if full in _ANNOTATIONS:
                    keras = _ANNOTATIONS[full]
                elif _nn_class(full):
                    keras = "keras.layers.Layer"
                else:
                    continue
                if any(n is c for c in walk(new)):  # not inside a node replaced already
                    new = new.deep_replace(n, _expr(keras))
        return new

    # -- attributes ----------------------------------------------------------------------------

    def attribute(self, run: Run, node: cst.Attribute) -> R:
        fact = run.env.get(f"<fact {code_of(node)}>")
        if fact is not None:  # inside `if isinstance(self.conv_proj, nn.Conv2d):`
            inner = self.attribute_plain(run, node)
            return R(inner.code, fact)
        return self.attribute_plain(run, node)

    def attribute_plain(self, run: Run, node: cst.Attribute) -> R:
        base = run.ev(node.value)
        attr = node.attr.value
        b = base.v
        if isinstance(b, TorchRef):
            return self.torch_value(run, f"{b.qual}.{attr}", code_of(node))
        if isinstance(b, Instance):
            return self.instance_attr(run, base, b, attr, node)
        if isinstance(b, Tensor):
            if attr == "shape":
                shape = Shape(b, base.code)
                return R(shape_code(run, shape), shape)
            if attr == "ndim":
                return R(f"len({base.code}.shape)", DYN)
            if attr == "T":
                return R(f"{self.k.ops}.transpose({run.as_layout(base, T, SOFT)})", Tensor(T, b.rank))
            if attr in ("dtype",):
                return R(f"{base.code}.dtype", DYN)
            if attr == "device":
                return R("None", Const(None))
            if attr in ("is_cuda", "requires_grad"):
                return R("False", Const(False))
            return R(f"{base.code}.{attr}", Bound(b, attr, base.code))
        if isinstance(b, Module):
            return self.module_attr(run, base, b, attr, node)
        if isinstance(b, Weight) and attr in ("shape",):
            return R(f"{base.code}.shape", DYN)
        code = code_of(node) if base.code == code_of(node.value) else f"{base.code}.{attr}"
        if isinstance(b, Local):
            return R(code, self.class_attr(b.key, attr))
        if isinstance(b, Items) and attr in ("append", "extend", "insert", "items", "values", "keys", "pop"):
            return R(code, Bound(Tensor(), attr, base.code))
        return R(code, DYN)

    def class_attr(self, qual: str, attr: str) -> Value:
        info = self.tr.class_info(qual)
        if info is None:
            return DYN
        return Local(f"{qual}.{attr}") if self.tr.method(info, attr) else DYN

    def instance_attr(self, run: Run, base: R, inst: Instance, attr: str, node) -> R:
        info = self.tr.class_info(inst.cls)
        if attr == "training":
            run.training = True
            return R("training", DYN)
        if info is not None:
            found = self.tr.method(info, attr)
            if found is not None:
                return R(f"{base.code}.{attr}", Local(f"{found[0].qual}.{attr}"))
            if attr in _MODULE_API and attr not in info.attrs:
                return R(f"{base.code}.{attr}", Bound(Tensor(), attr, base.code))
            if info.role == "dict" and attr in ("items", "values", "keys"):
                each = self.get_attr(info, "<items>")
                each = each if each is not DYN else Module(UNKNOWN)
                return R(f"{base.code}.{attr}", Bound(Tensor(), f"dict.{attr}", base.code))
            if info.torch_base is not None and attr in ("weight", "bias"):
                return R(f"{base.code}.{self.torch_weight(info.torch_base, attr)}", Tensor(T))
            value = self.get_attr(info, attr)
            name = self.attr_name(inst.cls, attr)
            return R(f"{base.code}.{name}", value)
        return R(code_of(node), DYN)

    def module_attr(self, run: Run, base: R, mod: Module, attr: str, node) -> R:
        kind = mod.kind
        if isinstance(kind, Layer) and attr in ("weight", "bias"):
            return R(self.weight_code(kind, attr, base.code), Weight(kind, attr, base.code))
        if isinstance(kind, Layer) and attr in _LAYER_ATTRS:
            keras = _LAYER_ATTRS[attr]
            if keras is None:
                for name, code, fn in kind.args:
                    if name == attr and fn in (None, id(run.fn)):
                        return R(code, DYN)
                raise Todo(f"`.{attr}` of a Keras layer is known only once it is built")
            return R(f"{base.code}.{keras}", DYN)
        if isinstance(kind, LocalKind):
            info = self.tr.class_info(kind.cls)
            if info is not None:
                found = self.tr.method(info, attr)
                if found is not None:
                    return R(f"{base.code}.{attr}", Local(f"{found[0].qual}.{attr}"))
                self.ready(info)
                return R(f"{base.code}.{self.attr_name(kind.cls, attr)}", self.get_attr(info, attr))
        if isinstance(kind, Seq) and kind.names and attr in kind.names and kind.items:
            return R(f"{base.code}.{attr}", Module(kind.items[kind.names.index(attr)]))
        if attr in ("append", "extend", "add_module", "items", "values", "keys", "children", "modules",
                    "named_children", "named_modules", "parameters", "insert"):
            return R(f"{base.code}.{attr}", Bound(Tensor(), attr, base.code))
        return R(f"{base.code}.{attr}", DYN)

    def get_attr(self, info: ClassInfo, attr: str) -> Value:
        self.ready(info)
        if attr in info.attrs:
            return info.attrs[attr]
        for base in self.tr.base_infos(info):
            if attr in base.attrs:
                return base.attrs[attr]
        return DYN

    def set_attr(self, cls: str, name: str, value: Value) -> None:
        info = self.tr.class_info(cls)
        if info is None:
            return
        old = info.attrs.get(name)
        info.attrs[name] = value if old is None else join(old, value)
        info.assigned.setdefault(name, []).append(value)

    def attr_name(self, cls: str, name: str) -> str:
        """Attributes Keras reserves (`layers`, `weights`...) take a trailing underscore."""
        info = self.tr.class_info(cls)
        if info is not None and info.role != "plain" and name in _RESERVED:
            return name + "_"
        return name

    def ready(self, info: ClassInfo) -> None:
        """Run a class's __init__ (once), so its attributes are known."""
        if info.ready:
            return
        info.ready = True
        for base in self.tr.base_infos(info):
            self.file_of(base.src).ready(base)
        init = info.methods.get("__init__")
        if init is not None:
            self.file_of(info.src).outcome(f"{info.qual}.__init__", init, info)

    def file_of(self, src: SourceFile) -> FileTranslation:
        if src is self.src:
            return self
        files = self.tr_files()
        if src.path not in files:
            files[src.path] = FileTranslation(self.tr, src, self.translated_modules)
        return files[src.path]

    def tr_files(self) -> dict:
        if not hasattr(self.tr, "files"):
            self.tr.files = {}
        self.tr.files.setdefault(self.src.path, self)
        return self.tr.files

    # -- functions -----------------------------------------------------------------------------

    def outcome(self, key: str, fn: cst.FunctionDef, owner: ClassInfo | None) -> Outcome:
        cache = self.tr.summaries
        if key in cache:
            return cache[key]
        params = _param_names(fn, owner)
        if key in self.tr.running:
            return Outcome(Summary(params), None)
        self.tr.running.add(key)
        try:
            first = Run(self, fn, owner, {}, emit=True)
            first_node = first.run()
            decided = first.decided()
            model = owner is not None and fn.name.value == "forward" and self.is_model(owner)
            if not decided and not model:  # no parameter's layout to decide: the first pass wrote the code
                second, node = first, first_node
            else:
                second = Run(self, fn, owner, decided, emit=True)
                second.param_ranks = {v: r for v, r in first.ranks.items() if decided.get(v) == CL}
                if model:
                    second.boundary = dict(first.ranks)
                    for i, rank in enumerate(self.tr.input_ranks or []):
                        second.boundary[i] = rank
                    # where only axis arguments decided an input, it stays as the port receives it
                    for var in first.weak_only():
                        if _external(second.boundary.get(var)) is not None:
                            decided[var] = _external(second.boundary[var])
                node = second.run()
        finally:
            self.tr.running.discard(key)
        layouts = {}
        for i, name in enumerate(second.params):
            layouts[name] = decided.get(i)
            if second.boundary is not None and concrete(decided.get(i)) and second.boundary.get(i) is not None:
                layouts[name] = _external(second.boundary.get(i))
        returns = DYN
        for i, v in enumerate(second.returns):
            returns = v if i == 0 else join(returns, v)
        summary = Summary(second.params, layouts, returns, second.training)
        out = Outcome(summary, node, second.todos, second.notes)
        cache[key] = out
        return out

    def is_model(self, info: ClassInfo) -> bool:
        """A class nothing else in its file builds (the model itself, not a block of it)."""
        import re

        name = info.node.name.value
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        return not any(other != name and pattern.search(code_of(node)) for other, node in info.src.classes.items())

    def function_key(self, qual: str) -> tuple[str, cst.FunctionDef, ClassInfo | None, FileTranslation] | None:
        found = self.tr.definition(qual)
        if found is not None and isinstance(found[1], cst.FunctionDef):
            src, node = found
            return qual, node, None, self.file_of(src)
        cls, _, method = qual.rpartition(".")
        info = self.tr.class_info(cls)
        if info is not None:
            hit = self.tr.method(info, method)
            if hit is not None:
                owner, node = hit
                return f"{owner.qual}.{method}", node, owner, self.file_of(owner.src)
        return None

    def summary(self, qual: str) -> Summary | None:
        found = self.function_key(qual)
        if found is None:
            return None
        key, node, owner, file = found
        if owner is not None:
            file.ready(owner)
        return file.outcome(key, node, owner).summary

    def class_summary(self, cls: str, x: Tensor):
        """(layout the class's forward wants, its output for input `x`)."""
        s = self.summary(f"{cls}.forward")
        if s is None:
            info = self.tr.class_info(cls)
            if info is not None and info.role == "sequential":
                self.ready(info)
                if isinstance(info.items, Items):
                    kinds = _kinds_of(info.items)
                    return apply_kind(Seq(kinds), x, self.class_summary)
            return None, x
        wants = s.layouts.get(s.params[0]) if s.params else None
        return wants, _substitute(s.returns, {0: x})

    # -- calls -----------------------------------------------------------------------------------

    def arguments(self, run: Run, node: cst.Call) -> tuple[list[R], dict[str, R], list[str], bool]:
        codes: list[str] = []
        positional: list[R] = []
        keywords: dict[str, R] = {}
        texts: list[str] = []
        starred = False
        for arg in node.args:
            r = run.ev(arg.value)
            codes.append(r.code)
            if arg.keyword is not None:
                keywords[arg.keyword.value] = r
                texts.append(f"{arg.keyword.value}={r.code}")
            elif arg.star:
                starred = True
                texts.append(f"{arg.star}{r.code}")
                if arg.star == "*" and isinstance(r.v, Items) and r.v.items is not None:
                    positional += [R("", v) for v in r.v.items]
                elif arg.star == "*":
                    positional.append(R(r.code, Items(None, r.v.each if isinstance(r.v, Items) else DYN)))
            else:
                positional.append(r)
                texts.append(r.code)
        self.last_codes = codes
        return positional, keywords, texts, starred

    def same_call(self, node: cst.Call, func_code: str) -> str:
        """The call as written, with the function and the arguments the last `arguments()`
        translated replaced (line breaks and comments kept)."""
        new = node
        if func_code != code_of(node.func):
            new = new.with_changes(func=_expr(func_code))
        args = list(new.args)
        for i, (arg, code) in enumerate(zip(node.args, self.last_codes)):
            if code != code_of(arg.value):
                args[i] = arg.with_changes(value=_expr(code))
        return code_of(new.with_changes(args=args))

    def call_text(self, node: cst.Call, func_code: str, texts: list[str]) -> str:
        """`same_call` from argument texts (`k=v`, `*v`), extra texts appended as arguments."""
        codes = []
        for arg, text in zip(node.args, texts):
            if arg.keyword is not None:
                text = text.split("=", 1)[1]
            elif arg.star:
                text = text[len(arg.star):]
            codes.append(text)
        self.last_codes = codes
        out = self.same_call(node, func_code)
        extra = texts[len(node.args):]
        if extra:
            new = _expr(out)
            args = list(new.args)
            if args:
                args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            for i, text in enumerate(extra):
                key, _, value = text.partition("=")
                args.append(cst.Arg(_expr(value), keyword=cst.Name(key),
                                    equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
                                    comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if i < len(extra) - 1
                                    else cst.MaybeSentinel.DEFAULT))
            out = code_of(new.with_changes(args=args))
        return out

    def callee(self, run: Run, node) -> R:
        """The called expression: a torch name stays the name (not its builder function)."""
        q = _qualified(node, self.src) if _dotted_name(node) else None
        if q is not None and (q.split(".")[0] == "torch" or q in ("functools.partial", "collections.OrderedDict",
                                                                    "typing.cast")):
            head = code_of(node).split(".")[0]
            if head not in run.env:
                return R(code_of(node), TorchRef(q))
        return run.ev(node)

    def call(self, run: Run, node: cst.Call) -> R:
        func = self.callee(run, node.func)
        f = func.v
        if isinstance(f, TorchRef):
            return self.torch_call(run, node, func, f.qual)
        if isinstance(f, Bound):
            return self.method_call(run, node, func, f)
        if isinstance(f, Local):
            return self.local_call(run, node, func, f.key)
        if isinstance(f, Module):
            return self.module_call(run, node, func, f.kind)
        if isinstance(f, Builder):
            _pos, _kw, _texts, _ = self.arguments(run, node)
            return R(self.same_call(node, func.code), Module(f.kind if f.kind is not None else UNKNOWN))
        if isinstance(f, Tensor):  # a parameter called: a builder, a module or a function given as argument
            pos, kw, _texts, _ = self.arguments(run, node)
            tensors = [r for r in [*pos, *kw.values()] if isinstance(r.v, Tensor) and r.code]
            code = self.same_call(node, func.code)
            if tensors and not isinstance(f.layout, Var):
                return R(code, tensors[0].v)
            return R(code, Module(UNKNOWN) if not tensors else tensors[0].v)
        pos, kw, _texts, _ = self.arguments(run, node)
        for r in [*pos, *kw.values()]:  # a callable the code does not fix, called on tensors
            v = r.v.each if isinstance(r.v, Items) else r.v
            if isinstance(v, Tensor) and r.code:
                return R(self.same_call(node, func.code), v)
        return R(self.same_call(node, func.code), DYN)

    def torch_call(self, run: Run, node: cst.Call, func: R, qual: str) -> R:
        if qual.startswith("builtins."):
            return self.builtin_call(run, node, func, qual[len("builtins."):])
        if qual in _PLAIN_CALLS:
            return R(_PLAIN_CALLS[qual], Const(_PLAIN_CALLS[qual] == "True"))
        if qual == "functools.partial":
            pos, kw, texts, _ = self.arguments(run, node)
            inner = pos[0].v if pos else DYN
            kind = inner.kind if isinstance(inner, Builder) else (
                self.tr.module_kind(inner.key) if isinstance(inner, Local) else None)
            return R(self.same_call(node, func.code), Builder(kind))
        if qual == "typing.cast":
            pos, kw, texts, _ = self.arguments(run, node)
            return pos[1] if len(pos) > 1 else R(texts[-1])
        if qual == "collections.OrderedDict":
            pos, kw, texts, _ = self.arguments(run, node)
            value = pos[0].v if pos else Items((), keys=())
            value = value if isinstance(value, Items) else Items(None)
            pairs = value.items if value.items is not None and value.keys is None else None
            if pairs is not None and all(isinstance(p, Items) and p.items and len(p.items) == 2 for p in pairs):
                keys = tuple(p.items[0].value if isinstance(p.items[0], Const) else None for p in pairs)
                return R(self.same_call(node, func.code), Items(tuple(p.items[1] for p in pairs),
                                                                _common_each_values([p.items[1] for p in pairs]), keys))
            if value.keys is not None:
                return R(self.same_call(node, func.code), value)
            each = value.each.items[1] if isinstance(value.each, Items) and value.each.items and \
                len(value.each.items) == 2 else value.each
            return R(self.same_call(node, func.code), Items(None, each, keys=()))
        if qual == "torch.jit.annotate":
            pos, _, _, _ = self.arguments(run, node)
            return pos[1] if len(pos) > 1 else R("None", Const(None))
        if qual in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            pos, kw, texts, _ = self.arguments(run, node)
            value = pos[0] if pos else kw.get("data")
            trainable = kw.get("requires_grad")
            extra = f", trainable={trainable.code}" if trainable is not None else ""
            return R(f"keras.Variable({value.code}{extra})", Tensor(T))
        if qual in ("torch.nn.Sequential",):
            return self.sequential(run, node)
        if qual in ("torch.nn.ModuleList", "torch.nn.ModuleDict"):
            return self.module_container(run, node, qual)
        cls = _nn_class(qual)
        if cls is not None and self.tr.rules.torch_layer(cls) is not None:
            return self.layer(run, node, cls)
        if qual.startswith("torch.optim.") or (cls or "").endswith("Loss"):
            raise Todo(f"PyTorch training code, left as written ({qual.removeprefix('torch.')}): train the Keras "
                       "model with compile()/fit() or a Keras training loop")
        rule = self.tr.rules.ops.get(qual)
        if rule is not None:
            pos, kw, texts, _ = self.arguments(run, node)
            run.file.count += 1 if run.emit else 0
            return tensor_ops.apply(run, rule, pos, kw, qual)
        if qual.startswith("torch.nn.init."):
            raise Todo(f"{qual.removeprefix('torch.nn.')}: only inside a loop over self.modules() (or on a layer's weight)")
        raise Todo(f"{qual} has no rule yet")

    def weight_test(self, run: Run, node: cst.Comparison) -> R | None:
        """`layer.bias is not None` -> `layer.use_bias`: a Keras layer says whether it will have
        a variable before it is built (and has none until then)."""
        if len(node.comparisons) != 1 or code_of(node.comparisons[0].comparator) != "None":
            return None
        op = node.comparisons[0].operator
        if not isinstance(op, cst.Is | cst.IsNot):
            return None
        left = run.ev(node.left)
        if not isinstance(left.v, Weight) or not isinstance(left.v.layer, Layer):
            return None
        keras_var = variable_initializer(self, left.v.layer, left.v.name).removesuffix("_initializer")
        flag = {"bias": "use_bias", "beta": "center", "gamma": "scale"}.get(keras_var)
        owner = left.v.owner
        if flag is None:
            return R("True" if isinstance(op, cst.IsNot) else "False", Const(isinstance(op, cst.IsNot)))
        return R(f"{owner}.{flag}" if isinstance(op, cst.IsNot) else f"not {owner}.{flag}", DYN)

    def builtin_call(self, run: Run, node: cst.Call, func: R, name: str) -> R:
        if name == "super":
            return R(code_of(node), DYN)
        if name == "isinstance" and len(node.args) == 2:
            classes = self.isinstance_classes(node.args[1].value)
            if classes:  # torch layer classes: the Keras classes they become (not their builders)
                keras = sorted({self.keras_class(c) for c in classes})
                second = keras[0] if len(keras) == 1 else f"({', '.join(keras)})"
                return R(f"isinstance({run.ev(node.args[0].value).code}, {second})", DYN)
        pos, _kw, _texts, _ = self.arguments(run, node)
        code = self.same_call(node, func.code)
        if name == "isinstance" and len(pos) == 2:
            if isinstance(pos[1].v, TorchRef) and pos[1].v.qual == "torch.Tensor":
                x = pos[0].code
                return R(f"({self.k.ops}.is_tensor({x}) or isinstance({x}, keras.KerasTensor))", DYN)
            return R(code, DYN)
        if name in ("list", "tuple") and pos:
            v = pos[0].v
            return R(code, v if isinstance(v, Items) else Items(None, v.each if isinstance(v, Items) else DYN))
        if name in ("range", "enumerate", "zip", "reversed", "sorted"):
            if name == "enumerate" and pos and isinstance(pos[0].v, Items):
                return R(code, Items(None, Items((DYN, pos[0].v.each))))
            return R(code, Items(None, DYN))
        if name == "len":
            return R(code, DYN)
        if name in ("getattr",) and len(pos) >= 2 and isinstance(pos[0].v, Instance):
            return R(code, DYN)
        if name in ("int", "float", "round", "max", "min", "sum", "abs", "bool", "str"):
            if name == "sum" and pos and isinstance(pos[0].v, Items) and isinstance(pos[0].v.each, Tensor):
                return R(code, pos[0].v.each)
            if name in ("int", "float") and pos and isinstance(pos[0].v, Tensor) and not isinstance(pos[0].v.layout, Var):
                return R(code, DYN)
            return R(code, DYN)
        return R(code, DYN)

    def isinstance_classes(self, node) -> list[str]:
        """torch.nn layer classes an isinstance() test names (`nn.Conv2d`, `(nn.BatchNorm2d, nn.GroupNorm)`)."""
        items = [el.value for el in node.elements] if isinstance(node, cst.Tuple) else [node]
        out = []
        for item in items:
            q = _qualified(item, self.src) if _dotted_name(item) else None
            cls = _nn_class(q) if q else None
            if cls is None or self.tr.rules.torch_layer(cls) is None:
                return []
            out.append(cls)
        return out

    def keras_class(self, cls: str) -> str:
        """The Keras layer class a torch.nn layer becomes (`Conv2d` -> `layers.Conv2D`)."""
        rule = self.tr.rules.torch_layer(cls)
        for name in rule.keras:
            if name.lower() == cls.lower():
                return f"{self.k.layers}.{name}"
        return f"{self.k.layers}.{rule.keras[0]}"

    def facts(self, run: Run, test) -> dict:
        """What an `if` test tells its body: `isinstance(m, nn.Conv2d)` -> m is a Conv2d."""
        out = {}
        parts = [test]
        while parts:
            t = parts.pop()
            if isinstance(t, cst.BooleanOperation) and isinstance(t.operator, cst.And):
                parts += [t.left, t.right]
            elif isinstance(t, cst.BooleanOperation) and isinstance(t.operator, cst.Or):
                left, right = self.facts(run, t.left), self.facts(run, t.right)
                for key in set(left) & set(right):
                    if key.startswith("<isinstance"):
                        out[key] = left[key] | right[key]
                        out[key.split(" ", 1)[1][:-1]] = left[key.split(" ", 1)[1][:-1]]
            elif isinstance(t, cst.Call) and code_of(t.func) == "isinstance" and len(t.args) == 2 \
                    and isinstance(t.args[0].value, cst.Attribute):
                classes = self.isinstance_classes(t.args[1].value)
                if classes:
                    out[f"<fact {code_of(t.args[0].value)}>"] = self.refined(run, t.args[0].value, classes[0])
            elif isinstance(t, cst.Call) and code_of(t.func) == "isinstance" and len(t.args) == 2 \
                    and isinstance(t.args[0].value, cst.Name):
                var = t.args[0].value.value
                classes = self.isinstance_classes(t.args[1].value)
                if classes:
                    out[f"<isinstance {var}>"] = set(classes)
                    out[var] = Module(self.tr.torch_kind(classes[0]))
                    continue
                cls = run.peek(t.args[1].value)
                if isinstance(cls, Local) and self.tr.class_info(cls.key) is not None:
                    out[var] = Module(self.tr.module_kind(cls.key))
        return out

    def refined(self, run: Run, node: cst.Attribute, cls: str) -> Module:
        """`self.x` inside `if isinstance(self.x, nn.Conv2d):`: the Conv2d the code assigned to it
        (or, for `self.heads.pre_logits`, the one it put in a dict under that name)."""
        for v in reversed(run.named_modules.get(node.attr.value, [])):
            if isinstance(v, Module) and isinstance(v.kind, Layer) and v.kind.cls == cls:
                return v
        base = run.peek(node.value)
        if isinstance(base, Instance):
            info = self.tr.class_info(base.cls)
            for v in (info.assigned.get(node.attr.value, []) if info else []):
                if isinstance(v, Module) and isinstance(v.kind, Layer) and v.kind.cls == cls:
                    return v
        return Module(self.tr.torch_kind(cls))

    def sequential(self, run: Run, node: cst.Call) -> R:
        pos, _kw, texts, _starred = self.arguments(run, node)
        if len(node.args) == 1 and node.args[0].star == "*":
            arg = run.ev(node.args[0].value)
            return R(f"keras.Sequential({arg.code})", Module(Seq(_kinds_of(arg.v))))
        if len(node.args) == 1 and not node.args[0].star and node.args[0].keyword is None:
            only = run.ev(node.args[0].value)
            if isinstance(only.v, Items) and only.v.keys is not None:  # named layers
                self.support.add("NamedSequential")
                names = only.v.keys if only.v.items is not None and all(isinstance(k, str) for k in only.v.keys) else None
                return R(f"NamedSequential({only.code})", Module(Seq(_kinds_of(only.v), names=names)))
        items = tuple(r.v for r in pos)
        texts = self.chain(run, node, list(items), texts)
        return R(f"keras.Sequential([{', '.join(texts)}])", Module(Seq(_kinds_of(Items(items)))))

    def chain(self, run: Run, node, items: list, texts: list[str]) -> list[str]:
        """A Sequential's layers with a `layers.Permute` where a layer takes another layout than
        the one before it gives (a Keras Sequential cannot convert between its layers)."""
        cur = Tensor(Var(-1))
        out = []
        for value, text in zip(items, texts):
            kind = value.kind if isinstance(value, Module) else UNKNOWN
            wants, after = apply_kind(kind, cur, self.class_summary)
            if wants in (CL, T) and concrete(cur.layout) and cur.layout != wants and cur.rank and cur.rank > 2:
                n = cur.rank - 1
                dims = (n, *range(1, n)) if wants == T else (*range(2, n + 1), 1)
                out.append(f"{self.k.layers}.Permute({dims})")
                gives = "channels last" if cur.layout == CL else "in torch order"
                takes = "channels last" if wants == CL else "in torch order"
                run.notes.append((node, (f"a layers.Permute{dims} between two layers of a Sequential: the first "
                                         f"gives its output {gives}, the next takes it {takes}")))
                wants, after = apply_kind(kind, cur.with_(layout=wants), self.class_summary)
            if after.rank is None and cur.rank is not None and (kind == UNKNOWN or wants is None):
                after = after.with_(rank=cur.rank)
            out.append(text)
            cur = after
        return out

    def module_container(self, run: Run, node: cst.Call, qual: str) -> R:
        pos, _kw, _texts, _ = self.arguments(run, node)
        arg = pos[0] if pos else None
        if qual.endswith("ModuleList"):
            if arg is None:
                return R("[]", Module(Bag(UNKNOWN)))
            code = arg.code if code_of(node.args[0].value).startswith("[") else f"list({arg.code})"
            return R(code, Module(Bag(_one_kind(arg.v))))
        self.support.add("LayerDict")
        if arg is None:
            return R("LayerDict()", Module(Bag(UNKNOWN)))
        return R(f"LayerDict({arg.code})", Module(Bag(_one_kind(arg.v))))

    def layer(self, run: Run, node: cst.Call, cls: str) -> R:
        rule = self.tr.rules.torch_layer(cls)
        pos, kw, texts, starred = self.arguments(run, node)
        ft = rule.from_torch
        if ft is None or ft.write is None or cls not in ft.signatures:
            raise Todo(f"nn.{cls} has no PyTorch -> Keras writer yet")
        signature = ft.signatures[cls]
        if starred:  # arguments the code computes as a whole: torch's signature at run time
            return R(f"{self.adapter(cls)}({', '.join(texts)})", Module(self.tr.torch_kind(cls)))
        names = [n for n, _ in signature]
        given: dict[str, str] = {}
        for name, r in zip(names, pos):
            given[name] = r.code
        if len(pos) > len(names):
            raise Todo(f"nn.{cls}: more positional arguments than its signature")
        for key, r in kw.items():
            if key not in names:
                raise Todo(f"nn.{cls}: unknown argument '{key}'")
            given[key] = r.code
        defaults = {n: d for n, d in signature if d is not REQUIRED}
        written = self.write_layer(ft.write, cls, given, defaults)
        self.support.update(written.support)
        run.file.count += 1 if run.emit else 0
        run.dropped_arguments = True
        for note in written.notes:
            run.notes.append((node, note))
        # constructor arguments, for reads of `layer.in_channels` (literal ones anywhere, the
        # others in the function that wrote them)
        args_known = tuple((k, v, None if _is_literal(v) else id(run.fn)) for k, v in given.items())
        return R(written.code, Module(replace(written.kind, args=args_known)))

    def write_layer(self, write: str, cls: str, given: dict[str, str], defaults: dict):
        """The rule's writer on the arguments; an argument written as a conditional of values
        (`padding="same" if stride == 1 else 0`) makes the layer a conditional of layers, each
        the idiomatic form of its branch."""
        for name, code in given.items():
            node = _expr(code)
            if isinstance(node, cst.IfExp):
                body = self.write_layer(write, cls, {**given, name: code_of(node.body)}, defaults)
                orelse = self.write_layer(write, cls, {**given, name: code_of(node.orelse)}, defaults)
                written = replace(body, code=f"{body.code} if {code_of(node.test)} else {orelse.code}",
                                  support=body.support + orelse.support)
                return written
        args = Args(cls, given, defaults, self.k.layers)
        try:
            written = WRITERS[write](args)
        except NotWritable as exc:
            raise Todo(str(exc)) from None
        self.imports.update(args.imports)
        return written

    def adapter_code(self, cls: str) -> str:
        """`def BatchNorm2d(num_features, eps=1e-05, ...)`: torch's signature, the Keras layer."""
        rule = self.tr.rules.torch_layer(cls)
        signature = rule.from_torch.signatures[cls]
        params, given = [], {}
        kwonly = False
        for name, default in signature:
            if name in ("device", "dtype", "_weight", "_freeze") and default is not REQUIRED:
                continue
            params.append(name if default is REQUIRED else f"{name}={default!r}")
            given[name] = name
        del kwonly
        args = Args(cls, given, {n: d for n, d in signature if d is not REQUIRED}, self.k.layers)
        try:
            written = WRITERS[rule.from_torch.write](args)
            body = f"return {written.code}"
            self.support.update(written.support)
            self.imports.update(args.imports)
        except NotWritable as exc:
            body = f"raise NotImplementedError({str(exc)!r})"
        params.append("**kwargs")
        return (f"\n\ndef {cls}({', '.join(params)}):\n"
                f"    \"\"\"torch.nn.{cls}'s signature, building the Keras layer (portmodel).\"\"\"\n"
                f"    {body}\n")

    def weight_code(self, kind: Layer, name: str, owner: str) -> str:
        """`linear.weight` as a tensor in torch's shape: the Keras variable, its axes moved back
        (`ops.transpose(linear.kernel)`). Reads that only test it (`is None`) are rewritten
        before (`weight_test`)."""
        rule = self.tr.rules.torch_layer(kind.cls)
        for w in rule.weights if rule else ():
            if name in w.to and len(w.to) == 1 and not w.transform and not w.chunk:
                var = f"{owner}.{w.keras.split('/')[-1]}"
                if w.permute and list(w.permute) != sorted(w.permute):
                    return f"{self.k.ops}.transpose({var}, {tuple(w.permute)})"
                return var
        return f"{owner}.{name}"

    def torch_weight(self, cls: str, name: str) -> str:
        """The Keras variable holding torch layer `cls`'s parameter `name` (`weight` -> `gamma`)."""
        rule = self.tr.rules.torch_layer(cls)
        for w in rule.weights:
            if name in w.to and not w.permute and not w.transform:
                return w.keras
        raise Todo(f"`self.{name}` of a subclass of nn.{cls}: its Keras variable has another shape")

    def method_call(self, run: Run, node: cst.Call, func: R, bound: Bound) -> R:
        name = bound.name
        if name.startswith("dict."):
            pos, kw, texts, _ = self.arguments(run, node)
            owner = run.peek(node.func.value) if isinstance(node.func, cst.Attribute) else None
            each = Module(UNKNOWN)
            if isinstance(owner, Instance):
                info = self.tr.class_info(owner.cls)
                found = self.get_attr(info, "<items>") if info else DYN
                each = found if isinstance(found, Module) else each
            item = Items((DYN, each)) if name == "dict.items" else (each if name == "dict.values" else DYN)
            return R(self.same_call(node, func.code), Items(None, item))
        if name in _MODULE_API:
            keras = _MODULE_API[name]
            if keras is None:
                raise Todo(f".{name}() of a module has no Keras counterpart")
            return R(f"{bound.receiver}.{keras}", Items(None, Module(UNKNOWN)))
        if name in ("append", "extend", "insert"):
            pos, kw, texts, _ = self.arguments(run, node)
            target = node.func.value if isinstance(node.func, cst.Attribute) else None
            if target is not None and pos:
                current = run.peek(target)
                if isinstance(current, Module) and isinstance(current.kind, Seq):
                    return R(f"{bound.receiver}.add({', '.join(texts)})", DYN)
                if isinstance(target, cst.Name) and isinstance(current, Items):
                    added = pos[-1].v
                    if name == "extend":
                        items = added.items if isinstance(added, Items) and added.items is not None else None
                        run.env[target.value] = Items(
                            current.items + items if current.items is not None and items is not None else None,
                            join(current.each, added.each if isinstance(added, Items) else DYN) if current.items is None
                            else _common_each(current, added))
                    else:
                        run.env[target.value] = Items(
                            current.items + (added,) if current.items is not None and name == "append" else None,
                            join(current.each, added) if current.items else added)
            return R(f"{bound.receiver}.{name}({', '.join(texts)})", DYN)
        if name in ("items", "values", "keys"):
            pos, kw, texts, _ = self.arguments(run, node)
            recv = run.peek(node.func.value) if isinstance(node.func, cst.Attribute) else DYN
            each = recv.each if isinstance(recv, Items) else DYN
            if name == "items":
                each = Items((DYN, each))
            return R(f"{bound.receiver}.{name}({', '.join(texts)})", Items(None, each))
        if name in ("backward",):
            raise Todo("PyTorch training code, left as written (.backward()): train the Keras model with "
                       "compile()/fit() or a Keras training loop")
        rule = self.tr.rules.ops.get(f"Tensor.{name}")
        if rule is None:
            if not concrete(bound.tensor.layout):  # not known to be a tensor: a method of whatever it is
                pos, kw, texts, _ = self.arguments(run, node)
                return R(self.same_call(node, func.code), DYN)
            raise Todo(f"tensor method .{name}() has no rule yet")
        pos, kw, texts, _ = self.arguments(run, node)
        receiver = R(bound.receiver, bound.tensor)
        return tensor_ops.apply(run, rule, [receiver, *pos], kw, f"Tensor.{name}")

    def local_call(self, run: Run, node: cst.Call, func: R, qual: str) -> R:
        info = self.tr.class_info(qual)
        if info is not None:  # a class of the package: built as written
            pos, kw, texts, _ = self.arguments(run, node)
            code = self.same_call(node, func.code)
            if info.role == "plain":
                return R(code, DYN)
            return R(code, Module(self.tr.module_kind(qual)))
        summary = self.summary(qual)
        pos, kw, texts, _starred = self.arguments(run, node)
        if summary is None:
            return R(self.same_call(node, func.code), DYN)
        if summary.training and "training" not in kw:
            texts.append("training=training")
            run.training = True
        texts = self.fit_arguments(run, summary, node, pos, kw, texts)
        bound = {i: r.v for i, r in enumerate(pos)}
        for key, r in kw.items():
            if key in summary.params:
                bound[summary.params.index(key)] = r.v
        return R(self.call_text(node, func.code, texts), _substitute(summary.returns, bound))

    def fit_arguments(self, run: Run, summary: Summary, node: cst.Call, pos: list[R], kw: dict[str, R],
                      texts: list[str]) -> list[str]:
        """Each tensor argument in the layout the callee's parameter wants."""
        out = list(texts)
        i = 0
        for arg in node.args:
            if arg.star or arg.keyword is not None:
                if arg.keyword is not None and arg.keyword.value in summary.layouts:
                    want = summary.layouts[arg.keyword.value]
                    r = kw[arg.keyword.value]
                    if want is not None and isinstance(r.v, Tensor):
                        idx = next(j for j, t in enumerate(out) if t.startswith(f"{arg.keyword.value}="))
                        out[idx] = f"{arg.keyword.value}={run.as_layout(r, want)}"
                i += 1
                continue
            if i < len(summary.params):
                want = summary.layouts.get(summary.params[i])
                r = pos[i]
                if want is not None and isinstance(r.v, Tensor | Items):
                    out[i] = self.in_layout(run, r, want)
            i += 1
        return out

    def in_layout(self, run: Run, r: R, want, rank: int | None = None) -> str:
        if isinstance(r.v, Items) and isinstance(r.v.each, Tensor):
            each = r.v.each
            if isinstance(each.layout, Var):
                run.demand(each.layout, want, HARD, rank)
                return r.code
            if concrete(each.layout) and each.layout != want and each.rank != 2:
                return f"[{run.as_layout(R('t', each), want)} for t in {r.code}]"
            return r.code
        return run.as_layout(r, want, HARD, rank)

    def module_call(self, run: Run, node: cst.Call, func: R, kind) -> R:
        pos, kw, texts, _ = self.arguments(run, node)
        if isinstance(kind, Layer) and kind.call in ("mha", "mha_seq_first"):
            return self.attention_call(run, func, pos, kw, kind)
        if isinstance(kind, Layer) and kind.call in ("rnn", "rnn_seq_first"):
            if len(pos) > 1 or kw:
                raise Todo(f"nn.{kind.cls} called with an initial state has no Keras form yet")
            x = run.as_layout(pos[0], T, HARD)
            seq_first = kind.call == "rnn_seq_first"
            out = f"{func.code}({self._seq(x, seq_first)})"
            seq = self._seq(out, seq_first)
            return R(f"({seq}, None)", Items((Tensor(T, 3), DYN)), pair=(seq, "None"))
        if not pos:
            return R(self.call_text(node, func.code, texts), DYN)
        x = pos[0]
        xv = x.v if isinstance(x.v, Tensor) else (x.v.each if isinstance(x.v, Items) and isinstance(x.v.each, Tensor) else Tensor(T))
        wants, out = apply_kind(kind, xv, self.class_summary)
        if kind == UNKNOWN or wants is None:
            out = xv if isinstance(x.v, Tensor) else out
        if isinstance(kind, Layer) and kind.wants == "flat":
            if isinstance(xv.layout, Var) or (xv.layout == CL and not spatial_ones(xv)):
                texts[0] = run.as_layout(x, T, SOFT)
            wants = None
            out = Tensor(T, 2)
        elif wants is not None:
            texts[0] = self.in_layout(run, x, wants, _first_rank(kind, self))
        if isinstance(kind, LocalKind):
            s = self.summary(f"{kind.cls}.forward")
            if s is not None and s.training and "training" not in kw:
                texts.append("training=training")
                run.training = True
        elif isinstance(kind, Seq) and kind.cls is None and _reads_training(kind, self):
            texts.append("training=training")
            run.training = True
        return R(self.call_text(node, func.code, texts), out)

    def attention_call(self, run: Run, func: R, pos: list[R], kw: dict[str, R], kind: Layer) -> R:
        names = ["query", "key", "value"]
        qkv = {n: (pos[i] if i < len(pos) else kw.get(n)) for i, n in enumerate(names)}
        if any(v is None for v in qkv.values()):
            raise Todo("nn.MultiheadAttention called without query, key and value")
        seq_first = kind.call == "mha_seq_first"

        def arg(r: R) -> str:
            code = run.as_layout(r, T, HARD)
            return f"{self.k.ops}.transpose({code}, (1, 0, 2))" if seq_first else code

        extra = []
        for key in ("attn_mask", "key_padding_mask"):
            if key in kw and kw[key].code != "None":
                raise Todo(f"nn.MultiheadAttention({key}=...) has no Keras form yet")
        need = kw.get("need_weights")
        weights = need is None or need.code != "False"
        call = f"{func.code}({arg(qkv['query'])}, {arg(qkv['value'])}, {arg(qkv['key'])}"
        if weights:
            call += ", return_attention_scores=True"
        call += ", ".join([""] + extra) + ")"
        if weights:
            out = f"{self.temp(run, call)}"
            result = f"({self._seq(out + '[0]', seq_first)}, {self.k.ops}.mean({out}[1], axis=1))"
        else:
            result = f"({self._seq(call, seq_first)}, None)"
            return R(result, Items((Tensor(T, 3), Tensor(T))), pair=(self._seq(call, seq_first), "None"))
        return R(result, Items((Tensor(T, 3), Tensor(T))))

    def _seq(self, code: str, seq_first: bool) -> str:
        return f"{self.k.ops}.transpose({code}, (1, 0, 2))" if seq_first else code

    # -- subscripts and operators --------------------------------------------------------------

    def subscript(self, run: Run, node: cst.Subscript) -> R:
        base = run.ev(node.value)
        b = base.v
        if isinstance(b, Shape):
            if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
                return shape_index(run, b, run.ev(node.slice[0].slice.value))
            return R(f"{shape_code(run, b)}{code_of(node)[len(code_of(node.value)):]}", Items(None, DYN))
        if isinstance(b, Tensor):
            return self.tensor_index(run, node, base)
        r = run.generic(node)
        if isinstance(b, Items):
            index = node.slice[0].slice if len(node.slice) == 1 else None
            if isinstance(index, cst.Index):
                i = run.peek(index.value)
                if isinstance(i, Const) and b.items is not None and isinstance(i.value, int) \
                        and -len(b.items) <= i.value < len(b.items):
                    return R(r.code, b.items[i.value])
                return R(r.code, b.each)
            return R(r.code, b)
        if isinstance(b, Module) and isinstance(b.kind, Seq | Bag):
            index = node.slice[0].slice if len(node.slice) == 1 else None
            if isinstance(b.kind, Seq) and isinstance(index, cst.Index):
                keras = f"{base.code}.layers[{run.ev(index.value).code}]"
                return R(keras, Module(_seq_item(b.kind)))
            return R(r.code, Module(b.kind.each if isinstance(b.kind, Bag) else UNKNOWN))
        return R(r.code, DYN)

    def tensor_index(self, run: Run, node: cst.Subscript, base: R) -> R:
        t = base.v
        elements = [e.slice for e in node.slice]
        if len(elements) == 1 and isinstance(elements[0], cst.Index):
            index = run.ev(elements[0].value)
            if isinstance(index.v, Tensor):  # x[indices]: a gather along torch's first axis
                code = run.as_layout(base, T, SOFT) if t.layout == CL else base.code
                return R(f"{self.k.ops}.take({code}, {index.code}, axis=0)", Tensor(T))
        n_ellipsis = sum(isinstance(e, cst.Index) and isinstance(e.value, cst.Ellipsis) for e in elements)
        parts = []
        for e in elements:
            if isinstance(e, cst.Index):
                parts.append(run.ev(e.value).code)
            else:
                parts.append(code_of(run.generic(e).code) if False else _slice_text(run, e))
        if isinstance(t.layout, Var):
            run.demand(t.layout, CL, WEAK)
            if len(elements) > 1 and isinstance(elements[1], cst.Index) and n_ellipsis == 0 \
                    and isinstance(elements[0], cst.Slice) and not _adds_axes(elements):
                # x[:, c] has no channel axis left: torch's order whatever x's layout
                return R(code_of(node), Tensor(T))
        layout = t.layout
        if layout == CL and n_ellipsis == 0 and t.rank is not None and len(parts) <= t.rank and not _adds_axes(elements):
            full = parts + [":"] * (t.rank - len(parts))
            keras = [full[0], *full[2:], full[1]]
            while keras and keras[-1] == ":":
                keras.pop()
            dropped_channel = isinstance(elements[1], cst.Index) if len(elements) > 1 else False
            new_layout = T if dropped_channel else CL
            code = f"{base.code}[{', '.join(keras) or ':'}]"
            return R(code, Tensor(new_layout, None))
        if layout == CL and len(parts) == 1 and n_ellipsis == 0:
            return R(f"{base.code}[{parts[0]}]", Tensor(CL))
        if layout == CL and n_ellipsis == 0 and len(parts) == 2 and isinstance(elements[1], cst.Index) \
                and parts[0] == ":":
            # x[:, c]: torch's channel axis, the last one here
            return R(f"{base.code}[..., {parts[1]}]", Tensor(T))
        code = run.as_layout(base, T, SOFT) if layout == CL else base.code
        return R(f"{code}[{', '.join(parts)}]", Tensor(T if concrete(layout) else layout))

    def binary(self, run: Run, node: cst.BinaryOperation) -> R:
        left, right = run.ev(node.left), run.ev(node.right)
        lv, rv = left.v, right.v
        lt, rt = isinstance(lv, Tensor), isinstance(rv, Tensor)
        lcode, rcode = left.code, right.code
        out: Value = DYN
        if isinstance(node.operator, cst.MatrixMultiply):
            lcode, rcode = run.as_layout(left, T), run.as_layout(right, T)
            out = Tensor(T)
        elif lt and rt:
            ll, rl = lv.layout, rv.layout
            if concrete(ll) and concrete(rl) and ll != rl and lv.rank != 2 and rv.rank != 2:
                want = CL if CL in (ll, rl) else T
                lcode, rcode = run.as_layout(left, want), run.as_layout(right, want)
                out = Tensor(want, lv.rank or rv.rank)
            elif isinstance(ll, Var) and concrete(rl):
                run.demand(ll, rl, WEAK)
                out = rv
            elif isinstance(rl, Var) and concrete(ll):
                run.demand(rl, ll, WEAK)
                out = lv
            else:
                out = lv if lv.rank is not None or concrete(ll) else rv
                if lv.ones != rv.ones:
                    out = out.with_(ones=lv.ones & rv.ones)
        elif lt:
            out = lv
        elif rt:
            out = rv
        elif isinstance(lv, Items) and isinstance(rv, Items) and isinstance(node.operator, cst.Add):
            items = lv.items + rv.items if lv.items is not None and rv.items is not None else None
            out = Items(items, join(lv.each, rv.each))
        elif isinstance(lv, Const) and isinstance(rv, Const):
            out = _fold(node.operator, lv.value, rv.value)
        promote = _PROMOTING.get(type(node.operator))
        if promote and ((lt and lv.integer) or (rt and rv.integer)) and not (
                (lt and lv.integer or isinstance(lv, Const) and isinstance(lv.value, int)) and
                (rt and rv.integer or isinstance(rv, Const) and isinstance(rv.value, int))):
            # torch promotes an integer tensor with a float; a TensorFlow tensor's operator does not
            out = out.with_(integer=False) if isinstance(out, Tensor) else out
            return R(f"{self.k.ops}.{promote}({lcode}, {rcode})", out)
        new = node
        if lcode != code_of(node.left):
            new = new.with_changes(left=_expr(lcode))
        if rcode != code_of(node.right):
            new = new.with_changes(right=_expr(rcode))
        return R(code_of(new), out)

    # -- statements the port writes differently ----------------------------------------------

    def statement_call(self, run: Run, small: cst.Expr, node: cst.Call):
        """Calls made for their effect (`self.add_module(...)`, `nn.init.x_(...)`,
        `super().__init__(...)`, in-place tensor methods); NotImplemented: an ordinary call."""
        func = node.func
        if isinstance(func, cst.Attribute):
            attr = func.attr.value
            recv = func.value
            if attr == "__init__" and isinstance(recv, cst.Call) and code_of(recv.func) == "super":
                return self.super_init(run, small, node)
            base = run.peek(recv)
            if isinstance(base, Instance) and attr == "add_module":
                pos, _kw, texts, _ = self.arguments(run, node)
                info = self.tr.class_info(base.cls)
                if info is not None and info.role == "sequential":
                    info.items = Items(None, join(info.items.each if isinstance(info.items, Items) else pos[1].v, pos[1].v))
                    return small.with_changes(value=_expr(f"{run.ev(recv).code}.add({texts[1]})"))
                if info is not None and info.role == "dict":  # LayerDict keeps torch's add_module
                    self.set_attr(base.cls, "<items>", pos[1].v)
                    return small.with_changes(value=_expr(self.same_call(node, run.ev(node.func).code)))
                return small.with_changes(value=_expr(f"setattr({run.ev(recv).code}, {texts[0]}, {texts[1]})"))
            if isinstance(base, Instance) and attr == "register_buffer":
                return self.buffer(run, small, node)
            if isinstance(base, Module) and attr == "add_module":
                pos, _kw, texts, _ = self.arguments(run, node)
                if isinstance(base.kind, Seq) and isinstance(recv, cst.Name) and len(pos) > 1:
                    items = (base.kind.items or ()) + (_one_kind(pos[1].v),)
                    run.env[recv.value] = Module(replace(base.kind, items=items))
                if isinstance(base.kind, Seq):
                    return small.with_changes(value=_expr(f"{run.ev(recv).code}.add({texts[1]})"))
                return small.with_changes(value=_expr(f"setattr({run.ev(recv).code}, {texts[0]}, {texts[1]})"))
            if isinstance(base, Module) and attr in ("load_state_dict", "load_weights"):
                run.notes.append((small, ("a PyTorch checkpoint loaded into the model: convert it with "
                                          "`portmodel weights` and load the result with model.load_weights(...)")))
                message = ("this Keras port does not load PyTorch checkpoints: convert one with "
                           "`portmodel weights` and load it with model.load_weights(...)")
                return cst.parse_statement(f"raise NotImplementedError({message!r})\n").body[0]
            if isinstance(base, Tensor) and attr.endswith("_") and not attr.endswith("__"):
                return self.in_place(run, small, node, attr)
            if isinstance(base, Weight) and attr.endswith("_"):
                return self.in_place(run, small, node, attr)
        q = _qualified(func, self.src)
        if q is not None and q.startswith("torch.nn.init."):
            return self.init_call(run, small, node, q)
        if q in _DROPPED_STATEMENTS:
            run.notes.append((small, f"{q}(...) removed: {_DROPPED_STATEMENTS[q]}"))
            return None
        if q == "torch._assert":
            pos, _kw, _texts, _ = self.arguments(run, node)
            return cst.Assert(test=_expr(pos[0].code), msg=_expr(pos[1].code) if len(pos) > 1 else None)
        return NotImplemented

    def sequential_attribute(self, run: Run, small: cst.Assign, r: R):
        """`self.norm = nn.BatchNorm2d(c)` in an nn.Sequential subclass: torch runs the modules
        assigned in order; a Keras Sequential runs what is added to it. And a layer whose
        weights the class reads without calling it is built where it is made."""
        if len(small.targets) != 1 or not isinstance(r.v, Module):
            return None
        t = small.targets[0].target
        if not isinstance(t, cst.Attribute):
            return None
        base = run.peek(t.value)
        if not isinstance(base, Instance):
            return None
        info = self.tr.class_info(base.cls)
        if info is not None and t.attr.value in info.weight_reads and isinstance(r.v.kind, Layer):
            shape = _build_shape(r.v.kind)
            if shape is None:
                raise Todo(f"the weights of `self.{t.attr.value}` are read before Keras builds it")
            return cst.Expr(_expr(f"{code_of(t)}.build({shape})"))
        if info is None or info.role != "sequential":
            return None
        old = info.items.items if isinstance(info.items, Items) and info.items.items is not None else ()
        info.items = Items(old + (r.v,))
        target = code_of(t.with_changes(attr=cst.Name(self.attr_name(base.cls, t.attr.value))))
        return cst.Expr(_expr(f"{run.ev(t.value).code}.add({target})"))

    def super_init(self, run: Run, small: cst.Expr, node: cst.Call):
        info = run.owner
        pos, kw, texts, _starred = self.arguments(run, node)
        if info is None:
            return small
        bases = self.tr.base_infos(info)
        package_base = next((b for b in bases if b.role != "plain"), None)
        if package_base is not None:  # a class of the package: its __init__ runs as written
            self.ready(package_base)
            if package_base.items is not None:
                info.items = package_base.items
            for k, v in package_base.attrs.items():
                info.attrs.setdefault(k, v)
            extra = ["**kwargs"] if _takes_kwargs(info, run.fn) and "**kwargs" not in texts else []
            return small.with_changes(value=_expr(f"super().__init__({', '.join(texts + extra)})"))
        name = _layer_name(info) + (", **kwargs" if _takes_kwargs(info, run.fn) else "")
        if info.role == "sequential":
            if len(node.args) == 1 and node.args[0].star == "*":
                arg = run.ev(node.args[0].value)
                info.items = arg.v if isinstance(arg.v, Items) else Items(None)
                return small.with_changes(value=_expr(f"super().__init__({arg.code}{name})"))
            if len(pos) == 1 and isinstance(pos[0].v, Items) and pos[0].v.keys is not None:
                info.items = Items(None, pos[0].v.each)  # an OrderedDict of named layers
                return small.with_changes(value=_expr(f"super().__init__(list({pos[0].code}.values()){name})"))
            info.items = Items(tuple(r.v for r in pos))
            texts = self.chain(run, node, list(info.items.items), texts)
            return small.with_changes(value=_expr(f"super().__init__([{', '.join(texts)}]{name})"))
        if info.torch_base is not None:  # class X(nn.LayerNorm): the Keras layer's constructor
            return self.torch_base_init(run, small, node, info, pos, kw, texts)
        return small.with_changes(value=_expr(f"super().__init__({name.lstrip(', ')})"))

    def torch_base_init(self, run, small, node, info: ClassInfo, pos, kw, texts):
        cls = info.torch_base
        raise Todo(f"a subclass of nn.{cls}: its Keras base layer takes other arguments (not yet)")

    def buffer(self, run: Run, small: cst.Expr, node: cst.Call):
        pos, kw, _texts, _ = self.arguments(run, node)
        if not pos or not isinstance(pos[0].v, Const):
            raise Todo("register_buffer with a computed name")
        name = pos[0].v.value
        value = pos[1] if len(pos) > 1 else kw.get("tensor")
        persistent = kw.get("persistent")
        owner = run.peek(node.func.value)
        if isinstance(owner, Instance):
            self.set_attr(owner.cls, name, Tensor(T))
        recv = run.ev(node.func.value).code
        if persistent is not None and persistent.code == "False":  # not in the checkpoint: a value
            value_code = value.code
        else:
            value_code = f"keras.Variable({value.code}, trainable=False, name={name!r})"
        return cst.Assign([cst.AssignTarget(_expr(f"{recv}.{name}"))], _expr(value_code))

    def in_place(self, run: Run, small: cst.Expr, node: cst.Call, attr: str):
        """`x.div_(s)` -> `x = x / s`: Keras tensors are values."""
        plain = attr[:-1]
        target = node.func.value
        if not isinstance(target, cst.Name | cst.Attribute | cst.Subscript):
            raise Todo(f"in-place .{attr}() on an expression: Keras tensors are values; assign it first")
        if isinstance(target, cst.Subscript) and plain in _SLICE_METHODS:  # x[a:b].zero_()
            pos, _kw, _texts, _ = self.arguments(run, node)
            value = "0" if plain == "zero" else pos[0].code
            return self.index_update(run, target, value, _SLICE_METHODS[plain])
        if plain in ("zero", "fill", "normal", "uniform", "bernoulli"):
            raise Todo(f"in-place .{attr}() on a tensor: Keras tensors are values")
        rule = self.tr.rules.ops.get(f"Tensor.{plain}")
        if rule is None:
            raise Todo(f"in-place .{attr}() has no rule")
        recv = run.ev(target)
        pos, kw, _texts, _ = self.arguments(run, node)
        r = tensor_ops.apply(run, rule, [recv, *pos], kw)
        run.bind(target, r)
        return cst.Assign([cst.AssignTarget(target)], _expr(r.code))

    def init_call(self, run: Run, small, node: cst.Call, qual: str):
        return initializer_statement(self, run, small, node, qual)

    def boundary_prelude(self, run: Run) -> list:
        """`x = ops.moveaxis(x, -1, 1)` at the top of a model's `call` where the code holds an
        input in another layout than the port's inputs come in."""
        out = []
        for i, name in enumerate(run.params):
            v = run.env.get(name)
            if not isinstance(v, Tensor) or not concrete(v.layout):
                continue
            code, _ = boundary_code(name, v.with_(rank=run.boundary.get(i)), self.k.ops)
            if code != name:
                out.append(cst.parse_statement(f"{name} = {code}\n"))
        return out

    def index_update(self, run: Run, target: cst.Subscript, value: str, op: str | None):
        """`x[i] = v` / `x[i] += v`: `x = index_update(x, np.s_[i], v)` (support code)."""
        base = run.ev(target.value)
        if not isinstance(base.v, Tensor) or base.v.layout == CL:
            raise Todo("assigning into a channels-last tensor slice")
        if not isinstance(target.value, cst.Name | cst.Attribute):
            raise Todo("assigning into a slice of an expression")
        self.support.add("index_update")
        self.imports.add("import numpy as np")
        index = ", ".join(_slice_text(run, e.slice) if isinstance(e.slice, cst.Slice) else run.ev(e.slice.value).code
                          for e in target.slice)
        extra = f", {op!r}" if op else ""
        run.bind(target.value, R(base.code, base.v))
        return cst.Assign([cst.AssignTarget(target.value)],
                          _expr(f"index_update({base.code}, np.s_[{index}], {value}{extra})"))

    def returned(self, run: Run, r: R) -> R:
        """A module's `call` returns a tensor of its input's rank in its input's layout (so a
        block that ends in torch's order, as a channel shuffle does, still chains in a
        Sequential with blocks that take channels-last tensors); a model's, in the layout
        the port's inputs and outputs have (`boundary_code`)."""
        if run.owner is None or run.fn.name.value != "forward" or not isinstance(r.v, Tensor):
            return r
        if run.boundary is not None:
            code, value = boundary_code(r.code, r.v, self.k.ops, out=True)
            if r.v.rank is None and code != r.code and not r.code.isidentifier():
                name = run.temp(r.code)  # read three times by the run-time test
                code, value = boundary_code(name, r.v, self.k.ops, out=True)
            return R(code, value)
        layout = run.layouts.get(0)
        rank = run.param_ranks.get(0)
        if concrete(layout) and rank is not None and concrete(r.v.layout) and r.v.layout != layout \
                and r.v.rank == rank:
            return R(run.as_layout(r, layout), r.v.with_(layout=layout, ones=frozenset()))
        return r

    # -- temporaries ---------------------------------------------------------------------------

    def temp(self, run: Run, code: str) -> str:
        return run.temp(code)


_SLICE_METHODS = {"zero": None, "fill": None, "add": "add", "mul": "multiply", "sub": "subtract", "div": "divide"}

_PROMOTING = {cst.Add: "add", cst.Subtract: "subtract", cst.Multiply: "multiply", cst.Divide: "divide"}

_LAYER_ATTRS = {  # attributes of torch layers -> the Keras layer's (None: only from the constructor call)
    "out_features": "units", "out_channels": "filters", "kernel_size": "kernel_size", "stride": "strides",
    "dilation": "dilation_rate", "groups": "groups", "eps": "epsilon", "p": "rate",
    "in_features": None, "in_channels": None, "num_features": None, "normalized_shape": None,
}

_MODULE_API = {  # nn.Module methods -> Keras Layer
    "modules": "_flatten_layers()",
    "children": "_flatten_layers(include_self=False, recursive=False)",
    "named_modules": None,
    "named_children": None,
}

_RESERVED = frozenset({
    "layers", "weights", "variables", "trainable_weights", "non_trainable_weights", "trainable_variables",
    "non_trainable_variables", "losses", "metrics", "name", "dtype", "input", "output", "built", "trainable",
    "optimizer", "input_spec", "supports_masking", "compute_dtype", "variable_dtype", "dtype_policy", "path",
    "inputs", "outputs", "stateless", "quantization_mode",
})


def _nn_class(qual: str) -> str | None:
    for prefix in ("torch.nn.modules.", "torch.nn."):
        if qual.startswith(prefix):
            rest = qual[len(prefix):]
            name = rest.rsplit(".", 1)[-1]
            return name if name[:1].isupper() else None
    return None


_BUILD_FROM = {"Linear": ("in_features", 0), "Conv1d": ("in_channels", 1), "Conv2d": ("in_channels", 2),
               "Conv3d": ("in_channels", 3), "LayerNorm": ("normalized_shape", 0), "Embedding": (None, 0)}


def _build_shape(kind: Layer) -> str | None:
    """The input shape that builds a Keras layer as torch's constructor did (`(None, dim)`)."""
    spec = _BUILD_FROM.get(kind.cls)
    if spec is None:
        return None
    name, spatial = spec
    if name is None:
        return "(None,)"
    code = next((c for n, c, _ in kind.args if n == name), None)
    if code is None:
        return None
    return "(" + ", ".join(["None"] * (1 + spatial) + [code]) + ")"


def _external(rank: int | None):
    """The layout of a model's input of `rank` outside the port: channels last for images."""
    if rank is None:
        return None
    return CL if rank in (4, 5) else T


def boundary_code(code: str, t: Tensor, ops: str, out: bool = False) -> tuple[str, Tensor]:
    """A model's input (or, `out`, output) between the layout the code holds it in and the
    port's convention (images, rank 4 and 5, channels last; everything else in torch's order,
    as `verify` and `port` feed and read them). Where the code does not fix the rank, the
    conversion is decided at run time."""
    layout = t.layout
    if not concrete(layout) or t.rank is None:  # a rank the code and --input-shape leave open: as held
        return code, t
    rank = t.rank
    if rank is not None:
        want = _external(rank)
        if rank <= 2 or want == layout:
            return code, t
        if out:
            return convert(code, layout, want, ops), t.with_(layout=want)
        return convert(code, want, layout, ops), t
    image = f"len({code}.shape) in (4, 5)"
    if out:
        other = convert(code, layout, CL if layout == T else T, ops)
        text = f"{other} if {image} else {code}" if layout == T else f"{code} if {image} else {other}"
        return text, t
    if layout == CL:
        return f"{code} if {image} else {convert(code, T, CL, ops)}", t
    return f"{convert(code, CL, T, ops)} if {image} else {code}", t


def _takes_kwargs(info, fn: cst.FunctionDef) -> bool:
    """The class's `__init__` gets Keras' `**kwargs` (name, dtype, trainable: what
    `from_config` passes back) where torch's had none of its own."""
    return fn.name.value == "__init__" and fn.params.star_kwarg is None and info.role != "plain"


def _layer_name(info) -> str:
    """`, name="dense_layer"` for a class named `_DenseLayer`: Keras derives a layer's default
    name from its class, and a leading underscore makes an invalid one."""
    cls = info.node.name.value
    if not cls.startswith("_"):
        return ""
    import re

    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", cls.lstrip("_")).lower()
    return f', name=f"{snake}_{{keras.backend.get_uid({snake!r})}}"'


def _first_rank(kind, ft) -> int | None:
    """The rank of the tensors the first layer that wants a layout takes (Conv2d: 4)."""
    if isinstance(kind, Layer):
        return kind.rank if kind.wants is not None else None
    if isinstance(kind, Seq) and kind.items:
        for item in kind.items:
            r = _first_rank(item, ft)
            if r is not None:
                return r
    if isinstance(kind, LocalKind):
        s = ft.summary(f"{kind.cls}.forward")
        info = ft.tr.class_info(kind.cls)
        if info is not None and info.role == "sequential" and isinstance(info.items, Items):
            return _first_rank(Seq(_kinds_of(info.items)), ft)
        del s
    return None


def _is_literal(code: str) -> bool:
    return literal(code) is not _NOT_LITERAL


def _dotted_name(node) -> bool:
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


def _qualified(node, src: SourceFile) -> str | None:
    text = code_of(node)
    head, _, rest = text.partition(".")
    q = src.qualify(head)
    if q is None:
        return None
    return f"{q}.{rest}" if rest else q


def _param_names(fn: cst.FunctionDef, owner) -> list[str]:
    names = [p.name.value for p in [*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params]]
    return names[1:] if owner is not None and names else names


def _kinds_of(v: Value) -> tuple | None:
    if isinstance(v, Items):
        if v.items is None:
            return (_one_kind(v.each),) if not isinstance(v.each, type(DYN)) else None
        return tuple(_one_kind(i) for i in v.items)
    return None


def _one_kind(v: Value):
    if isinstance(v, Module):
        return v.kind
    if isinstance(v, Items):
        return _one_kind(v.each)
    return UNKNOWN


def _common_each_values(values: list) -> Value:
    out = values[0] if values else DYN
    for v in values[1:]:
        out = join(out, v)
    return out


def _seq_item(kind: Seq):
    return kind.items[0] if kind.items else UNKNOWN


def _common_each(a: Items, b) -> Value:
    return join(a.each, b.each if isinstance(b, Items) else DYN)


def _substitute(v: Value, bound: dict[int, Value]) -> Value:
    """A callee's returned value with its parameters' layouts replaced by the caller's."""
    if isinstance(v, Tensor) and isinstance(v.layout, Var):
        arg = bound.get(v.layout.n)
        if isinstance(arg, Tensor):
            return v.with_(layout=arg.layout, rank=v.rank if v.rank is not None else arg.rank)
        if isinstance(arg, Items) and isinstance(arg.each, Tensor):
            return v.with_(layout=arg.each.layout)
        return v.with_(layout=T) if arg is not None else v
    if isinstance(v, Items) and v.items is not None:
        return Items(tuple(_substitute(i, bound) for i in v.items), _substitute(v.each, bound), v.keys)
    if isinstance(v, Items):
        return Items(None, _substitute(v.each, bound), v.keys)
    return v


def _fold(op, a, b) -> Value:
    import operator

    table = {cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul,
             cst.FloorDivide: operator.floordiv, cst.Divide: operator.truediv, cst.Modulo: operator.mod,
             cst.Power: operator.pow}
    fn = table.get(type(op))
    try:
        return Const(fn(a, b)) if fn else DYN
    except Exception:  # noqa: BLE001 - a failing fold is only an unknown value
        return DYN


def _slice_text(run: Run, s) -> str:
    if isinstance(s, cst.Slice):
        parts = [run.ev(p).code if p is not None else "" for p in (s.lower, s.upper)]
        text = f"{parts[0]}:{parts[1]}"
        if s.step is not None:
            text += f":{run.ev(s.step).code}"
        return text
    return code_of(s)


def _adds_axes(elements) -> bool:
    return any(isinstance(e, cst.Index) and isinstance(e.value, cst.Name) and e.value.value == "None" for e in elements)


def _is_ordered_dict(node, src: SourceFile) -> bool:
    return isinstance(node, cst.Call) and _qualified(node.func, src) == "collections.OrderedDict"


def _dict_values(node: cst.Call):
    if not node.args:
        return []
    arg = node.args[0].value
    if isinstance(arg, cst.List | cst.Tuple):
        out = []
        for el in arg.elements:
            if isinstance(el.value, cst.Tuple) and len(el.value.elements) == 2:
                out.append(el.value.elements[1].value)
            else:
                return None
        return out
    return None


def _reads_training(kind, ft) -> bool:
    return False


__all__ = ["HARD", "SOFT", "Bag", "FileTranslation", "KerasNames", "LocalKind"]
