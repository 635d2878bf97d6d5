"""Which functions of a Keras file build models, and which of their parameters are tensors.

keras.applications writes models as functions: a builder (`def ResNet(stack_fn, preact,
..., include_top=True, ...)`) makes `layers.Input`, applies layers and helpers to tensors
and ends in `Functional(inputs, x)` / `keras.Model(inputs, outputs)`; helpers take a tensor
and return one (`def residual_block_v1(x, filters, ...)`), and some are passed as values
(`stack_fn`). This module finds them all, statically: a parameter is a tensor where the
function applies a layer or a tensor helper to it, and a parameter is a *module maker* where
the function calls it on a tensor. It iterates until nothing changes, so helpers calling
helpers (in any order in the file) are found.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from ...core.files import package_root
from ...core.parsing import parse_python
from ..names import ImportTable, canonical

MODEL = "keras.Model"
# keras.layers' functional forms of the merge layers: `layers.add([x, y])` is `layers.Add()([x, y])`
MERGE_FUNCTIONS = {"add": "Add", "subtract": "Subtract", "multiply": "Multiply", "average": "Average",
                   "maximum": "Maximum", "minimum": "Minimum", "concatenate": "Concatenate"}
INPUT = "keras.Input"
SEQUENTIAL = ("keras.Sequential", "keras.models.sequential.Sequential")


@dataclass
class Function:
    node: cst.FunctionDef
    parent: Function | None
    params: list[str]
    nested: dict[str, Function] = field(default_factory=dict)
    tensor_params: list[str] = field(default_factory=list)
    makers: set[str] = field(default_factory=set)  # parameters called on tensors
    builder: bool = False  # makes a keras.Model from its own Inputs
    aliases: dict[str, Function] = field(default_factory=dict)  # locals bound to a tensor helper
    # locals bound to layer factories (`block = {0: MBConvBlock, 1: FusedMBConvBlock}[kind]`)
    factories: dict[str, list[Function]] = field(default_factory=dict)
    layer_values: set[str] = field(default_factory=set)  # locals bound to a layer not applied yet
    layer_lists: set[str] = field(default_factory=set)  # lists such layers are appended to

    @property
    def name(self) -> str:
        return self.node.name.value

    @functools.cached_property
    def nodes(self) -> list[cst.CSTNode]:
        """The function's own nodes (not those of functions and classes nested in it), walked
        once: the analysis reads them many times over."""
        return list(own_nodes(self.node.body))

    @property
    def is_model(self) -> bool:
        return self.builder or bool(self.tensor_params)

    @property
    def made(self) -> Function | None:
        """A layer factory's layer: the nested model function it returns (`def Block(...):
        def apply(inputs): ...; return apply`), else None."""
        for node in self.nodes:
            if isinstance(node, cst.Return) and isinstance(node.value, cst.Name):
                inner = self.nested.get(node.value.value)
                if inner is not None and inner.is_model:
                    return inner
        return None


class FileFunctions:
    """Every function of a file (nested ones too), with what the analysis found."""

    def __init__(self, module: cst.Module, table: ImportTable, layer_names: set[str], path: str | None = None,
                 others: dict | None = None):
        self.table = table
        self.layer_names = layer_names  # Keras layer classes the rules know
        # spatial sizes bookkept in `__init__` (`x_size`): set where the file's code reads one there
        # (`wants_sizes`, found while writing), which translates the file again with them
        self.sizes = False
        self.wants_sizes = False
        # the ranks of helpers' tensor arguments: given (a helper's node -> param -> rank, where its
        # callers agree on one other than an image's), and seen at the calls while writing, which
        # translates the file again where they tell more (a sequence's helper: Dense moves its axes)
        self.param_ranks: dict = {}
        self.seen_ranks: dict = {}
        self.top: dict[str, Function] = {}
        self.all: list[Function] = []
        # modules of the same package this file calls into (`resnet.stack_residual_blocks_v2`)
        self.root, self.dotted = package_root(Path(path)) if path and Path(path).is_file() else (None, None)
        self.others = {} if others is None else others  # dotted module -> FileFunctions (shared, read once)
        if self.dotted:
            self.others.setdefault(self.dotted, self)
        self.layer_types: set[str] = set()  # the file's Keras Layer subclasses
        self.layer_ports: dict = {}  # their ports (code.layer_class.LayerClass), once written
        for stmt in module.body:
            if isinstance(stmt, cst.FunctionDef):
                self.top[stmt.name.value] = self._collect(stmt, None)
            elif isinstance(stmt, cst.ClassDef) and any(is_layer_base(self.keras(b.value)) for b in stmt.bases):
                self.layer_types.add(stmt.name.value)
        # `data_augmentation = keras.Sequential([...])` at module level, applied in a builder: kept
        # as Keras (the data pipeline may use it too), and a module class where applied
        self.module_sequentials: dict[str, cst.Call] = {}
        for stmt in module.body:
            small = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 else None
            if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name) \
                    and self.sequential(small.value) is not None:
                self.module_sequentials[small.targets[0].target.value] = small.value
        for fn in self.all:
            fn.builder = self._builds_model(fn)
        while self._step():
            pass

    def _collect(self, node: cst.FunctionDef, parent: Function | None) -> Function:
        p = node.params
        params = [a.name.value for a in (*p.posonly_params, *p.params, *p.kwonly_params)]
        fn = Function(node, parent, params)
        self.all.append(fn)
        for inner in fn.nodes:
            if isinstance(inner, cst.FunctionDef):
                fn.nested[inner.name.value] = self._collect(inner, fn)
        return fn

    # -- names -----------------------------------------------------------------------------

    def keras(self, node: cst.CSTNode) -> str | None:
        """The canonical Keras name `node` refers to (`keras.layers.Conv2D`), if any."""
        q = self.table.qualified(node)
        return canonical(q) if q else None

    def layer_class(self, call: cst.CSTNode) -> str | None:
        """`layers.Conv2D(...)` -> "Conv2D" where the rules know the class."""
        if not isinstance(call, cst.Call):
            return None
        name = self.keras(call.func)
        if name and name.startswith("keras.layers.") and name.rsplit(".", 1)[1] in self.layer_names:
            return name.rsplit(".", 1)[1]
        return None

    def unapplied_layer(self, node: cst.CSTNode) -> bool:
        """A layer built and not applied yet (`layers.Activation("linear", name=...)`, or one of
        the file's Layer subclasses: `StochasticDepth(rate)`)."""
        return isinstance(node, cst.Call) and (self.layer_class(node) is not None or (
            isinstance(node.func, cst.Name) and node.func.value in self.layer_types))

    def sequential(self, node: cst.CSTNode) -> list[cst.CSTNode] | None:
        """`keras.Sequential([layers.Conv2D(...), ...], name=...)`: its layers, else None."""
        if not isinstance(node, cst.Call) or self.keras(node.func) not in SEQUENTIAL or not node.args \
                or node.args[0].keyword is not None or not isinstance(node.args[0].value, cst.List | cst.Tuple):
            return None
        items = [e.value for e in node.args[0].value.elements]
        return items if items and all(self.unapplied_layer(e) for e in items) else None

    def applied_layer(self, node: cst.CSTNode) -> tuple[list[cst.Arg], cst.CSTNode, str] | None:
        """`layers.Conv2D(...)(x)` -> (the constructor's arguments, the input, "Conv2D");
        the functional forms of merge layers too (`layers.add([x, y], name=...)`)."""
        if not isinstance(node, cst.Call) or not node.args:
            return None
        if isinstance(node.func, cst.Call):
            cls = self.layer_class(node.func)
            return (list(node.func.args), node.args[0].value, cls) if cls else None
        name = self.keras(node.func)
        cls = MERGE_FUNCTIONS.get(name.rsplit(".", 1)[1]) if name and name.startswith("keras.layers.") else None
        if cls in self.layer_names and node.args[0].keyword is None:
            return list(node.args[1:]), node.args[0].value, cls
        return None

    def is_input(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.Call) and self.keras(node.func) == INPUT

    def is_model(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.Call) and self.keras(node.func) == MODEL

    def lookup(self, fn: Function | None, name: str) -> Function | None:
        """The function a name calls from inside `fn` (nested first, then module level)."""
        while fn is not None:
            if name in fn.nested:
                return fn.nested[name]
            if name in fn.params:
                return None
            fn = fn.parent
        return self.top.get(name)

    def helper(self, fn: Function, call: cst.CSTNode) -> Function | None:
        """The tensor helper `call` calls, if it is one (by its name, a local bound to it:
        `activation = hard_swish` ... `activation(x)`, or a module of the same package:
        `resnet.stack_residual_blocks_v2(x, ...)`)."""
        target = self.callee(fn, call)
        return target if target is not None and target.tensor_params else None

    def callee(self, fn: Function, call: cst.CSTNode) -> Function | None:
        """The function of this file or of its package that `call` calls."""
        if not isinstance(call, cst.Call):
            return None
        if isinstance(call.func, cst.Name):
            name = call.func.value
            target = self.lookup(fn, name) if name not in fn.aliases else fn.aliases[name]
            if target is not None or name in fn.params:
                return target
        return self.foreign(call.func)

    def made(self, fn: Function, call: cst.CSTNode) -> list[Function]:
        """The layers a layer-factory call applies (`Block(filters, name=...)(x)`: Block's
        `apply`; a local bound to one of several factories: each one's), else []."""
        if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Call):
            return []
        factory = call.func
        if isinstance(factory.func, cst.Name) and factory.func.value in fn.factories:
            return [f.made for f in fn.factories[factory.func.value]]
        target = self.callee(fn, factory)
        made = target.made if target is not None else None
        return [made] if made is not None else []

    def foreign(self, node: cst.CSTNode) -> Function | None:
        """A module-level function of another module of this file's package."""
        q = self.table.qualified(node)
        if not q or not self.root or "." not in q:
            return None
        module, name = q.rsplit(".", 1)
        if module.rpartition(".")[0] != self.dotted.rpartition(".")[0]:
            return None  # a module of the same folder only (keras.applications' siblings)
        if module not in self.others:
            path = self.root.joinpath(*module.split(".")).with_suffix(".py")
            self.others[module] = None
            if path.is_file():
                self.others[module] = _sibling(path, frozenset(self.layer_names), self.others)
        other = self.others.get(module)
        return other.top.get(name) if other is not None else None

    def _aliases(self, fn: Function) -> None:
        for node in fn.nodes:
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "append" \
                    and isinstance(node.func.value, cst.Name) and len(node.args) == 1 and (
                    _name(node.args[0].value) in fn.layer_values or self.sequential(node.args[0].value)):
                fn.layer_lists.add(node.func.value.value)  # `downsample_layers.append(stem)`
            if not (isinstance(node, cst.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0].target, cst.Name)):
                continue
            name = node.targets[0].target.value
            if isinstance(node.value, cst.Name):
                target = self.lookup(fn, node.value.value)
                if target is not None and target.tensor_params:
                    fn.aliases.setdefault(name, target)
            if self.unapplied_layer(node.value) or self.sequential(node.value) is not None:
                fn.layer_values.add(name)
            choices = [self.lookup(fn, leaf) for leaf in _choices(node.value)]
            if choices and name not in fn.factories and all(c is not None and c.made is not None for c in choices):
                fn.factories[name] = choices

    # -- analysis ----------------------------------------------------------------------------

    def _builds_model(self, fn: Function) -> bool:
        calls = [n for n in fn.nodes if isinstance(n, cst.Call)]
        return any(self.is_model(c) for c in calls) and any(self.is_input(c) for c in calls)

    def _step(self) -> bool:
        changed = False
        for fn in self.all:
            before = len(fn.aliases) + len(fn.factories) + len(fn.layer_values) + len(fn.layer_lists)
            self._aliases(fn)
            changed |= len(fn.aliases) + len(fn.factories) + len(fn.layer_values) + len(fn.layer_lists) != before
            tensors = set(fn.tensor_params) | self.local_tensors(fn)
            for node in fn.nodes:
                for name in self._tensor_args(fn, node, tensors):
                    if name in fn.params and name not in fn.tensor_params:
                        fn.tensor_params.append(name)
                        changed = True
                if (
                    isinstance(node, cst.Call)
                    and isinstance(node.func, cst.Name)
                    and node.func.value in fn.params
                    and node.func.value not in fn.makers
                    and node.args
                    and _name(node.args[0].value) in tensors
                ):
                    fn.makers.add(node.func.value)
                    changed = True
        if changed:
            for fn in self.all:  # parameters keep their order in the signature
                fn.tensor_params.sort(key=fn.params.index)
        return changed

    def _tensor_args(self, fn: Function, node: cst.CSTNode, tensors: set[str]) -> list[str]:
        """Names `node` uses as tensors: a layer's inputs, a helper's tensor arguments, a
        name copied into a tensor variable (`x = inputs`)."""
        if not fn.builder and isinstance(node, cst.Assign) and isinstance(node.value, cst.Name) and any(
                isinstance(t.target, cst.Name) and t.target.value in tensors for t in node.targets):
            return [node.value.value]
        applied = self.applied_layer(node)
        if applied is None and isinstance(node, cst.Call) and node.args and (
                isinstance(node.func, cst.Name) and node.func.value in fn.layer_values
                or isinstance(node.func, cst.Call) and self.unapplied_layer(node.func)
                or _listed(node.func) in fn.layer_lists):
            applied = ([], node.args[0].value, "")
        if applied is not None:
            value = applied[1]
            items = value.elements if isinstance(value, cst.List | cst.Tuple) else [value]
            return [n for i in items for n in _operands(i.value if isinstance(i, cst.BaseElement) else i)]
        target = self.helper(fn, node)
        made = self.made(fn, node) if target is None else []
        if made:
            target = made[0]
        if target is not None:
            out = []
            for i, arg in enumerate(node.args):
                if arg.keyword is not None:
                    param = arg.keyword.value
                else:
                    param = target.params[i] if arg.star == "" and i < len(target.params) else None
                if param in target.tensor_params:
                    out.append(_name(arg.value))
            return [n for n in out if n]
        return []

    def local_tensors(self, fn: Function) -> set[str]:
        """Names the function assigns a tensor to (layers applied, helpers, Inputs)."""
        found: set[str] = set(fn.tensor_params)
        while True:
            before = len(found)
            for node in fn.nodes:
                if isinstance(node, cst.Assign) and self.is_tensor(fn, node.value, found):
                    for t in node.targets:
                        if isinstance(t.target, cst.Name):
                            found.add(t.target.value)
            if len(found) == before:
                return found

    def is_tensor(self, fn: Function, node: cst.CSTNode, tensors: set[str]) -> bool:
        if isinstance(node, cst.Name):
            return node.value in tensors
        if self.applied_layer(node) or self.is_input(node) or self.helper(fn, node) or self.made(fn, node):
            return True
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and (
                node.func.value in fn.makers or node.func.value in fn.layer_values
                or node.func.value in self.module_sequentials and node.func.value not in fn.params):
            return True
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Call) and self.unapplied_layer(node.func):
            return True  # one of the file's Layer subclasses applied: `CustomScaleLayer(scale)([x, up])`
        if isinstance(node, cst.Call) and _listed(node.func) in fn.layer_lists:
            return True  # `downsample_layers[i](x)`
        if isinstance(node, cst.BinaryOperation):
            return self.is_tensor(fn, node.left, tensors) or self.is_tensor(fn, node.right, tensors)
        if isinstance(node, cst.IfExp):
            return self.is_tensor(fn, node.body, tensors) or self.is_tensor(fn, node.orelse, tensors)
        if isinstance(node, cst.List | cst.Tuple) and node.elements:
            return all(self.is_tensor(fn, e.value, tensors) for e in node.elements)
        return False


_SIBLINGS: dict[tuple, FileFunctions | None] = {}  # (path, mtime, layer names) -> its analysis, per process


def _sibling(path: Path, layer_names: frozenset, others: dict) -> FileFunctions | None:
    """Another module of the folder, read and analysed once per process (a tree translation
    reads resnet.py for resnet_v2.py and again as itself)."""
    key = (str(path), path.stat().st_mtime_ns, layer_names)
    if key not in _SIBLINGS:
        try:
            tree = parse_python(path.read_text(encoding="utf-8"), str(path))
        except Exception:  # noqa: BLE001 - a module that does not parse resolves nothing
            _SIBLINGS[key] = None
        else:
            _SIBLINGS[key] = FileFunctions(tree, ImportTable(tree), set(layer_names), str(path), others)
    return _SIBLINGS[key]


def own_nodes(node: cst.CSTNode):
    """Every node under `node`, not entering nested functions, classes or lambdas (a nested
    def itself is yielded)."""
    stack = _children(node)
    while stack:
        n = stack.pop()
        yield n
        if not isinstance(n, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            stack.extend(_children(n))


_FIELDS: dict[type, tuple[str, ...]] = {}


def _children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """`node.children`, read from its fields (libcst's property visits the node: the engine's
    walks spent most of their time there)."""
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(node.__dataclass_fields__)
    out = []
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            out.append(value)
        elif isinstance(value, list | tuple):
            out.extend(v for v in value if isinstance(v, cst.CSTNode))
    return out


def is_layer_base(name: str | None) -> bool:
    """A canonical Keras name of the Layer class (`keras.layers.Layer`, `keras.layers.layer.Layer`)."""
    return bool(name) and name.startswith("keras.") and name.rsplit(".", 1)[1] == "Layer"


def _listed(node) -> str | None:
    """`layers_list[i]` -> "layers_list"."""
    return node.value.value if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) else None


def _choices(node) -> list[str]:
    """The names a value picks from (`{0: A, 1: B}[k]`, `A if c else B`): [] for anything else."""
    if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Dict):
        node = node.value
    if isinstance(node, cst.Dict):
        values = [e.value for e in node.elements if isinstance(e, cst.DictElement)]
        return [v.value for v in values] if values and all(isinstance(v, cst.Name) for v in values) else []
    if isinstance(node, cst.IfExp):
        both = _choices(node.body), _choices(node.orelse)
        return both[0] + both[1] if all(both) else []
    return [node.value] if isinstance(node, cst.Name) else []


def _operands(node) -> list[str]:
    """Names a layer's input is computed from by arithmetic (`layers.ReLU(6.0)(x + 3.0)`)."""
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, cst.BinaryOperation):
        return _operands(node.left) + _operands(node.right)
    return []


def _name(node) -> str | None:
    return node.value if isinstance(node, cst.Name) else None
