"""Translate one PyTorch source file to Keras 3 (static: the input is never imported or run).

Per file: find the nn.Module classes; the ones no other code of the file instantiates are
models, the others components (blocks). Each model is interpreted (`torch_reader`) with
its default constructor arguments and, given `--input-shape`, its forward on symbolic
tensors. The recorded rewrites are applied in place, so comments, docstrings, helpers and
non-model code stay as they are: `nn.Module` -> `keras.Model` (`keras.layers.Layer` for
components), torch.nn constructors -> Keras layers, `forward` -> `call`, `self.training`
-> `training`, weight-initialisation code dropped (the checkpoint provides the weights).
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.metadata import MetadataWrapper, PositionProvider

from .errors import Diagnostic
from .hooks import Untranslatable
from .imports import sort_block
from .keras_layout import KTensor, boundary_layout
from .keras_names import ImportTable
from .keras_reader import ModelInfo, code
from .static_eval import UNKNOWN
from .torch_reader import (
    META_BATCH,
    MODULE_LIST,
    SEQUENTIAL,
    SEQUENTIAL_INIT,
    Instance,
    Interpreter,
    Leaf,
    Seq,
    TorchFile,
    _Return,
    sequential_elements,
)

TODO = "# portmodel: TODO"
# attributes Keras layers and models own: a torch attribute of that name gets a trailing _
KERAS_RESERVED = frozenset(
    ["layers", "weights", "variables", "trainable_weights", "non_trainable_weights", "losses", "metrics", "input", "output", "inputs", "outputs", "dtype", "path", "compute_dtype", "variable_dtype", "dtype_policy", "metrics_names", "distribute_strategy", "quantization_mode", "name", "trainable", "built", "optimizer", "submodules", "supports_masking", "stateful", "input_spec"]
)
TORCH_ROOTS = ("torch",)
def keras_imports(used: set[str]) -> list[str]:
    """The Keras imports the generated code needs (by the names it uses)."""
    lines = ["import keras"] if "keras" in used else []
    names = [n for n in ("layers", "ops") if n in used]
    if names:
        lines.append(f"from keras import {', '.join(names)}")
    return lines


def translate_torch(module: cst.Module, source: str, path: str, input_shape, rules):
    """Translate parsed PyTorch source; returns a TranslationResult."""
    from .translate import TranslationResult

    if "torch" not in source:
        return TranslationResult(path, "unchanged", source)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = {}
    diagnostics: list[Diagnostic] = []

    def diag(node, message: str, code_: str = "PM001", severity: str = "todo") -> None:
        if not positions:
            positions.update(wrapper.resolve(PositionProvider))
        p = positions.get(node)
        line, col = (p.start.line, p.start.column + 1) if p else (1, 1)
        diagnostics.append(Diagnostic(path, line, col, code_, message, severity))

    tf = TorchFile(wrapper.module, ImportTable(wrapper.module), rules, diag)
    tf.scan()
    if not tf.classes:
        return TranslationResult(path, "unchanged", source)
    components = tf.components()
    models: list[ModelInfo] = []
    it = Interpreter(tf)
    for name, info in tf.classes.items():
        if name in components:
            continue
        try:
            inst, factory = _construct_model(it, tf, info)
        except Untranslatable as exc:
            tf.mark_todo(info.node, f"{name}: {exc}")
            continue
        except _Return:
            continue
        except Exception as exc:  # noqa: BLE001 - a bug of ours must not lose the user's file
            tf.mark_todo(info.node, f"{name}: internal error {type(exc).__name__}: {exc} (please report it)")
            continue
        # a model built by a factory (`vgg11_bn()`) is ported and loaded through it
        models.append(ModelInfo(factory or name, factory or name, "subclassed", _registration_order(inst)))
        if not input_shape:
            diag(info.methods.get("forward", info.node), "the model's input shape is unknown; pass --input-shape")
            continue
        try:
            _run_model(it, inst, tuple(input_shape))
        except (Untranslatable, _Return) as exc:
            tf.mark_todo(info.methods.get("forward", info.node), str(exc) or "forward() could not be followed")
        except Exception as exc:  # noqa: BLE001 - a bug of ours must not lose the user's file
            tf.mark_todo(
                info.methods.get("forward", info.node),
                f"internal error {type(exc).__name__}: {exc} (please report it)",
            )
    for name in components - tf.reached:
        if name in tf.classes:
            tf.mark_todo(tf.classes[name].node, f"class {name} is not used by any model of this file; not translated")
    rewriter = _Rewriter(tf, components)
    new_module = wrapper.module.visit(rewriter).visit(_DropDeadLocals(_reads_by_function(wrapper.module)))
    text = _tidy_imports(new_module, tf.bound, _used_in(wrapper.module))
    diagnostics = list(dict.fromkeys(diagnostics))
    return TranslationResult(path, "converted", text, diagnostics, models)


def _construct_model(it: Interpreter, tf: TorchFile, info) -> tuple[Instance, str | None]:
    """(the model as `Class()`, None), or, when its constructor needs arguments, as the
    file's first factory function builds it (`def vgg11(**kwargs): return VGG(make_layers(cfg),
    **kwargs)`) and that function's name."""
    try:
        return it.instantiate(info, [], {}), None
    except Untranslatable:
        for fn in tf.functions.values():
            if all(p.default is not None for p in fn.params.params) and m.findall(
                fn, m.Return(value=m.Call(func=m.Name(info.name)))
            ):
                inst = it.run_factory(fn)
                if isinstance(inst, Instance) and inst.cls is info:
                    return inst, fn.name.value
        raise


def _run_model(it: Interpreter, inst: Instance, shape: tuple) -> None:
    import torch

    forward = inst.cls.methods.get("forward")
    if forward is None:
        raise Untranslatable(f"{inst.cls.name} has no forward()")
    params = [p for p in forward.params.params[1:] if p.default is None]
    shapes = list(shape) if shape and isinstance(shape[0], tuple | list) else [shape]
    if len(params) != len(shapes):
        raise Untranslatable(f"forward() takes {len(params)} inputs; give one input shape for each")
    dtype = torch.int64 if _first_leaf_is_embedding(inst) else torch.float32
    inputs = []
    for p, s in zip(params, shapes):
        meta = torch.empty((META_BATCH, *s), dtype=dtype, device="meta")
        inputs.append(KTensor(p.name.value, meta, boundary_layout(meta.dim())))
    it.run_forward(inst, inputs)


def _leaves(value, out: list) -> list:
    if isinstance(value, Leaf):
        out.append(value)
    elif isinstance(value, Seq) or hasattr(value, "items") and isinstance(value.items, list):
        for v in value.items:
            _leaves(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _leaves(v, out)
    elif isinstance(value, Instance):
        for v in value.attrs.values():
            _leaves(v, out)
    return out


def _first_leaf_is_embedding(inst: Instance) -> bool:
    leaves = _leaves(inst, [])
    return bool(leaves) and leaves[0].cls == "Embedding"


def _registration_order(inst: Instance) -> list[str]:
    return [k for k, v in inst.attrs.items() if _leaves(v, [])]


TRAINING_BY_HAND = (
    "in Keras, model.compile(optimizer=keras.optimizers..., loss=...) and model.fit(...) take its place "
    "(portmodel translates training code Keras -> PyTorch only)"
)


class _Rewriter(cst.CSTTransformer):
    """Applies the recorded rewrites and the nn.Module -> Keras class surface."""

    def __init__(self, tf: TorchFile, components: set[str]):
        self.tf = tf
        self.components = components
        self.cls: str | None = None
        self.method: str | None = None
        self.flagged: list[str | None] = []
        self.renamed: set[tuple[str, str]] = set()
        self.passes_kwargs = False
        self.followed: list[bool] = []  # per enclosing function: did the interpreter go into it?

    # -- statements ------------------------------------------------------------------------
    def visit_SimpleStatementLine(self, node) -> bool:
        self.flagged.append(None)
        return True

    def leave_SimpleStatementLine(self, original, updated):
        conflict = self.flagged.pop()
        return self._statement(original, updated, conflict)

    def visit_For(self, node) -> bool:
        self.flagged.append(None)
        return True

    def leave_For(self, original, updated):
        return self._statement(original, updated, self.flagged.pop())

    def visit_If(self, node) -> bool:
        self.flagged.append(None)
        return True

    def leave_If(self, original, updated):
        return self._statement(original, updated, self.flagged.pop())

    def _statement(self, original, updated, conflict):
        key = id(original)
        if conflict is None and self.followed and self.followed[-1] and key not in self.tf.visited:
            conflict = self._still_torch(original, updated)
        if conflict is not None and key not in self.tf.todo:
            self.tf.diag(original, conflict)  # a call inside it: reported like every TODO
        reason = self.tf.todo.get(key) or conflict
        texts = self.tf.stmt_texts.get(key)
        if texts is not None and reason is None:
            if len(texts) > 1:
                reason = "this statement needs different Keras code on different uses; not translated"
                self.tf.diag(original, reason)
            else:
                (text,) = texts
                if text is None:
                    return cst.RemoveFromParent()
                if isinstance(original, cst.SimpleStatementLine):
                    small = cst.parse_statement(self.tf.keras_text(text) + "\n").body[0].visit(_RenameReserved())
                    updated = updated.with_changes(body=[small])
        if reason is not None:
            comment = cst.EmptyLine(comment=cst.Comment(f"{TODO} {reason}"))
            return updated.with_changes(leading_lines=[*updated.leading_lines, comment])
        return updated

    # -- expressions -----------------------------------------------------------------------
    def leave_Call(self, original, updated):
        qual = self.tf.qualified(original.func) or ""
        if qual.startswith("torch.optim.") and self.flagged:
            self.flagged[-1] = f"{qual} is PyTorch training code, left as written: {TRAINING_BY_HAND}"
        texts = self.tf.call_texts.get(id(original))
        if not texts and self._torch_constructor(original):
            texts = self._unreached(original)
        if not texts:
            return updated
        general = self.tf.general_texts.get(id(original), set())
        if len(texts) > 1 and len(general) == 1 and None not in general:
            texts = general  # one call, uses that need different idiomatic code: the form right for all
        if len(texts) > 1 and (merged := self._merged(original)) is not None:
            texts = {merged}  # uses differing in an argument: a condition on what decides it
        if len(texts) > 1:
            if self.flagged:
                self.flagged[-1] = "this layer needs different Keras code on different uses; not translated"
            return updated
        (text,) = texts
        if text == SEQUENTIAL:
            return _keras_sequential(updated)
        if text == SEQUENTIAL_INIT:  # keras.Sequential subclass: the layers as one list
            self.passes_kwargs = True
            listing = _keras_sequential(updated).args[0].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            return cst.parse_expression("super().__init__(_, **kwargs)").with_changes(
                args=[listing, cst.Arg(cst.Name("kwargs"), star="**")]
            )
        if text == MODULE_LIST:
            return updated.args[0].value if updated.args else cst.List([])
        return cst.parse_expression(self.tf.keras_text(text))

    def _merged(self, node: cst.Call) -> str | None:
        """One Keras constructor for the uses of `node`, their differing arguments written
        as conditions on the constants in scope (those the torch call reads first)."""
        from .variants import merge_calls

        uses = self.tf.call_uses.get(id(node), [])
        if len({t for t, _ in uses}) < 2:
            return None
        reads = [n.value for n in m.findall(node, m.Name()) if isinstance(n, cst.Name)]
        try:
            calls = [cst.parse_expression(t) for t, _ in uses]
        except cst.ParserSyntaxError:
            return None
        if not all(isinstance(c, cst.Call) for c in calls):
            return None
        return merge_calls(calls, [v for _, v in uses], list(dict.fromkeys(reads)))

    def _torch_constructor(self, node: cst.Call) -> bool:
        qual = self.tf.qualified(node.func) or ""
        return qual.startswith("torch.nn.") and qual.count(".") == 2 and qual.rsplit(".", 1)[1][:1].isupper()

    def _unreached(self, node: cst.Call) -> set[str] | None:
        """An nn.X(...) the models never construct (a branch not taken for them): its rule
        still applies when its arguments are constants; otherwise the statement is a TODO."""
        from .torch_reader import _literal

        args = [_literal(a.value) for a in node.args]
        kwargs = {a.keyword.value: v for a, v in zip(node.args, args) if a.keyword is not None}
        positional = [v for a, v in zip(node.args, args) if a.keyword is None]
        cls = self.tf.qualified(node.func).rsplit(".", 1)[1]
        if all(a.star == "" for a in node.args) and UNKNOWN not in args:
            try:
                Interpreter(self.tf).construct(node, cls, positional, kwargs, {})
                return self.tf.call_texts.get(id(node))
            except Untranslatable:
                pass
        if self.flagged and cls.endswith("Loss"):
            self.flagged[-1] = f"nn.{cls} is PyTorch training code, left as written: {TRAINING_BY_HAND}"
        elif self.flagged:
            self.flagged[-1] = f"nn.{cls} here is not built by the model translated (a branch not taken?); translate it by hand"
        return None

    def leave_Attribute(self, original, updated):
        if self.method == "forward" and code(original) == "self.training":
            return cst.Name("training")
        if self.cls is not None and code(original.value) == "self" and original.attr.value in KERAS_RESERVED:
            key = (self.cls, original.attr.value)
            if key not in self.renamed:
                self.renamed.add(key)
                self.tf.diag(original, f"self.{key[1]} renamed self.{key[1]}_: Keras reserves the name", "PM002", "note")
            return updated.with_changes(attr=cst.Name(original.attr.value + "_"))
        return updated

    # -- classes and methods -----------------------------------------------------------------
    def visit_ClassDef(self, node) -> bool:
        if node.name.value in self.tf.classes:
            self.cls = node.name.value
        return True

    def leave_ClassDef(self, original, updated):
        name = original.name.value
        if name not in self.tf.classes or name not in self.tf.reached or id(original) in self.tf.todo:
            self.cls = None
            return self._statement(original, updated, None) if id(original) in self.tf.todo else updated
        base = "keras.layers.Layer" if name in self.components else "keras.Model"
        keras_bases = {"torch.nn.Module": base, "torch.nn.Sequential": "keras.Sequential"}
        bases = [
            cst.Arg(cst.parse_expression(keras_bases[q])) if (q := self.tf.qualified(old.value)) in keras_bases else new
            for old, new in zip(original.bases, updated.bases)
        ]
        self.cls = None
        return updated.with_changes(bases=bases)

    def visit_FunctionDef(self, node) -> bool:
        if self.cls is not None:
            self.method = node.name.value
        self.followed.append(any(id(s) in self.tf.visited for s in node.body.body))
        return True

    def _still_torch(self, original, updated) -> str | None:
        """A statement of a function the translator followed but not this far (after an
        early return, in a branch not taken) that still names torch after the rewrite."""
        if isinstance(original, cst.SimpleStatementLine):
            names = m.findall(updated, m.Name())
            if any((self.tf.qualified(n) or "").startswith("torch") for n in names):
                return "not reached when the model was followed (after an early return, or a branch not taken); translate it by hand"
        return None

    def leave_FunctionDef(self, original, updated):
        self.followed.pop()
        if self.cls is None:
            return updated
        self.method = None
        decorators = [d for d in updated.decorators if "torch" not in code(d)]
        updated = updated.with_changes(decorators=decorators, returns=self._no_torch_annotation(updated.returns))
        params = [p.with_changes(annotation=self._no_torch_annotation(p.annotation)) for p in updated.params.params]
        if original.name.value == "forward":
            if _reads_training(original):
                last = params[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                params = [*params[:-1], last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                          cst.Param(cst.Name("training"), default=cst.Name("None"),
                                    equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))]
            updated = updated.with_changes(name=cst.Name("call"))
        new_params = updated.params.with_changes(params=params)
        if original.name.value == "__init__" and updated.params.star_kwarg is None and self.passes_kwargs:
            # Keras passes name/trainable/dtype when it rebuilds a saved model (.keras)
            if params:
                params[-1] = params[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            new_params = updated.params.with_changes(params=params, star_kwarg=cst.Param(cst.Name("kwargs"), star="**"))
        self.passes_kwargs = False
        return updated.with_changes(params=new_params)

    def _no_torch_annotation(self, annotation):
        """None for an annotation naming anything from torch (`Tensor`, `List[nn.Module]`)."""
        if annotation is None:
            return None
        names = m.findall(annotation.annotation, m.Name() | m.Attribute())
        return None if any((self.tf.qualified(n) or "").startswith("torch") for n in names) else annotation

    def leave_AnnAssign(self, original, updated):
        """`layers: List[nn.Module] = []` -> `layers: List[keras.layers.Layer] = []`; other
        torch annotations are dropped (`x: Tensor = ...` -> `x = ...`)."""
        if self.cls is None or self._no_torch_annotation(updated.annotation) is not None:
            return updated
        tf = self.tf

        class ModuleToLayer(cst.CSTTransformer):
            def leave_Attribute(self, original, updated):
                return cst.parse_expression("keras.layers.Layer") if tf.qualified(original) == "torch.nn.Module" else updated

            def leave_Name(self, original, updated):
                return cst.parse_expression("keras.layers.Layer") if tf.qualified(original) == "torch.nn.Module" else updated

        annotation = updated.annotation.with_changes(annotation=original.annotation.annotation.visit(ModuleToLayer()))
        if self._no_torch_annotation(annotation) is not None:
            return updated.with_changes(annotation=annotation)
        if updated.value is None:
            return cst.RemoveFromParent()
        return cst.Assign([cst.AssignTarget(updated.target)], updated.value)

    def leave_Expr(self, original, updated):
        """`super().__init__()` in a translated __init__ hands Keras' keyword arguments on."""
        call = updated.value
        if (
            self.cls is not None
            and self.method == "__init__"
            and isinstance(call, cst.Call)
            and code(call.func).startswith("super(")
            and code(call.func).endswith(".__init__")
            and not call.args
        ):
            self.passes_kwargs = True
            return updated.with_changes(value=cst.parse_expression("super().__init__(**kwargs)"))
        return updated


class _Reads(cst.CSTVisitor):
    """Names a function reads (assignment targets are writes, not reads)."""

    def __init__(self):
        self.names: set[str] = set()

    def visit_AssignTarget(self, node) -> bool:
        return not isinstance(node.target, cst.Name)  # `x = ...` writes x; `x[i] = ...` reads it

    def visit_Name(self, node) -> None:
        self.names.add(node.value)


def _reads_by_function(module: cst.Module) -> dict[str, set[str]]:
    """Per function (by its dotted name), the names its body reads."""
    out: dict[str, set[str]] = {}

    class V(cst.CSTVisitor):
        def __init__(self):
            self.stack: list[str] = []

        def visit_ClassDef(self, node) -> None:
            self.stack.append(node.name.value)

        def leave_ClassDef(self, node) -> None:
            self.stack.pop()

        def visit_FunctionDef(self, node) -> None:
            self.stack.append(node.name.value)
            reads = _Reads()
            node.body.visit(reads)
            out[".".join(self.stack)] = reads.names

        def leave_FunctionDef(self, node) -> None:
            self.stack.pop()

    module.visit(V())
    return out


class _DropDeadLocals(cst.CSTTransformer):
    """`in_channels = v`, kept only to feed a torch constructor argument Keras infers, is dead
    in the port: a plain assignment of a call-free value to a local the function read before
    the translation and reads no longer goes."""

    def __init__(self, before: dict[str, set[str]]):
        self.before = before
        self.stack: list[str] = []
        self.dead: list[set[str]] = []

    def visit_ClassDef(self, node) -> None:
        self.stack.append(node.name.value)

    def leave_ClassDef(self, original, updated):
        self.stack.pop()
        return updated

    def visit_FunctionDef(self, node) -> None:
        self.stack.append(node.name.value)
        reads = _Reads()
        node.body.visit(reads)
        self.dead.append(self.before.get(".".join(self.stack), set()) - reads.names)

    def leave_FunctionDef(self, original, updated):
        self.stack.pop()
        self.dead.pop()
        return updated

    def leave_SimpleStatementLine(self, original, updated):
        if not self.dead or len(updated.body) != 1 or not isinstance(updated.body[0], cst.Assign):
            return updated
        if any(line.comment for line in updated.leading_lines) or updated.trailing_whitespace.comment:
            return updated  # a comment says something about it: keep both
        assign = updated.body[0]
        names = [t.target.value for t in assign.targets if isinstance(t.target, cst.Name)]
        if names and len(names) == len(assign.targets) and set(names) <= self.dead[-1] and not m.findall(
            assign.value, m.Call()
        ):
            return cst.RemoveFromParent()
        return updated


class _RenameReserved(cst.CSTTransformer):
    """`self.output` -> `self.output_` in generated statements, as in the rest of the class."""

    def leave_Attribute(self, original, updated):
        if code(original.value) == "self" and original.attr.value in KERAS_RESERVED:
            return updated.with_changes(attr=cst.Name(original.attr.value + "_"))
        return updated


def _keras_sequential(call: cst.Call) -> cst.Call:
    """nn.Sequential(a, b) -> keras.Sequential([a, b]), keeping the source's line breaks."""
    elements = sequential_elements(call)
    if not isinstance(elements, list):  # nn.Sequential(*layers)
        return cst.parse_expression("keras.Sequential(_)").with_changes(args=[cst.Arg(elements)])
    if len(elements) == len(call.args) and all(a.star == "" and a.keyword is None for a in call.args):
        items = [cst.Element(a.value, comma=a.comma) for a in call.args]
        closing = call.args[-1].whitespace_after_arg if call.args else cst.SimpleWhitespace("")
        listing = cst.List(
            items,
            lbracket=cst.LeftSquareBracket(whitespace_after=call.whitespace_before_args),
            rbracket=cst.RightSquareBracket(whitespace_before=closing),
        )
    elif _ordered_dict_list(call) is not None:  # OrderedDict([("name", layer), ...]): the layers
        inner = _ordered_dict_list(call)
        listing = inner.with_changes(
            elements=[el.with_changes(value=v) for el, v in zip(inner.elements, elements)]
        ) if len(inner.elements) == len(elements) else cst.List([cst.Element(e) for e in elements])
    else:
        listing = cst.List([cst.Element(e) for e in elements])
    return cst.parse_expression("keras.Sequential(_)").with_changes(args=[cst.Arg(listing)])


def _ordered_dict_list(call: cst.Call):
    if len(call.args) == 1 and isinstance(call.args[0].value, cst.Call) and call.args[0].value.args:
        inner = call.args[0].value.args[0].value
        if code(call.args[0].value.func).endswith("OrderedDict") and isinstance(inner, cst.List):
            return inner
    return None


def _reads_training(fn: cst.FunctionDef) -> bool:
    found = []

    class V(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            if code(node) == "self.training":
                found.append(node)

    fn.visit(V())
    return bool(found)




# -- imports ------------------------------------------------------------------------------


def _is_torch_import(small) -> bool:
    if isinstance(small, cst.Import):
        return any(code(a.name).split(".")[0] in TORCH_ROOTS for a in small.names)
    if isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
        return code(small.module).split(".")[0] in TORCH_ROOTS
    return False


def _used_in(module: cst.Module) -> set[str]:
    from .translate import _used_names

    return _used_names(module.code)


def _tidy_imports(module: cst.Module, bound: set[str], used_before: set[str]) -> str:
    """Drop the imports only the PyTorch code used (torch, OrderedDict...), add the Keras
    ones the code needs, isort the block."""
    from .translate import _prune_import, _used_names

    text = module.code
    used = _used_names(text)
    dropped = used_before - used

    def only_torch_used(small) -> bool:
        if _is_torch_import(small):
            return True
        names = [] if isinstance(small.names, cst.ImportStar) else small.names
        return bool(names) and all(
            (code(a.asname.name) if a.asname else code(a.name).split(".")[0]) in dropped for a in names
        )

    body = list(module.body)
    slot = None
    new_body = []
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(s, cst.Import | cst.ImportFrom) and only_torch_used(s) for s in stmt.body
        ):
            if slot is None and any(_is_torch_import(s) for s in stmt.body):
                slot = len(new_body)
            kept = _prune_import(stmt, used, only_torch_used)
            if kept.strip():
                new_body.append(cst.parse_statement(kept))
            continue
        new_body.append(stmt)
    needed = keras_imports(used - bound)
    if slot is None:
        slot = _first_code_index(new_body)
    imports = [cst.parse_statement(line + "\n") for line in needed]
    new_body[slot:slot] = imports
    out = module.with_changes(body=new_body)
    return _sort_imports(out)


def _first_code_index(body: list) -> int:
    for i, stmt in enumerate(body):
        small = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else None
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString) and i == 0:
            continue
        if isinstance(small, cst.ImportFrom) and small.module is not None and code(small.module) == "__future__":
            continue
        return i
    return len(body)


def _sort_imports(module: cst.Module) -> str:
    """isort the first contiguous run of plain import statements (if every one is simple)."""
    body = list(module.body)
    start = next((i for i, s in enumerate(body) if _is_plain_import(s)), None)
    if start is None:
        return module.code
    end = start
    while end < len(body) and _is_plain_import(body[end]):
        end += 1
    lines = [code(s.with_changes(leading_lines=[])).strip("\n") for s in body[start:end]]
    ordered = sort_block(lines)
    if ordered is None:
        return module.code
    first = body[start]
    new = [cst.parse_statement(line + "\n") if line else None for line in ordered]
    stmts = []
    blank = False
    for s in new:
        if s is None:
            blank = True
            continue
        if blank:
            s = s.with_changes(leading_lines=[cst.EmptyLine()])
            blank = False
        stmts.append(s)
    stmts[0] = stmts[0].with_changes(leading_lines=first.leading_lines)
    rest = body[end:]
    if rest and not rest[0].leading_lines:
        rest[0] = rest[0].with_changes(leading_lines=[cst.EmptyLine()])
    return module.with_changes(body=[*body[:start], *stmts, *rest]).code


def _is_plain_import(stmt) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Import | cst.ImportFrom)
        and not any(line.comment for line in stmt.leading_lines[1:])
    )
