"""What the translation of a package shares: the rules, the files read, and a summary of
each function and class once it has been translated (its callers need them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from ..core.imports import dotted
from ..core.parsing import walk
from ..core.rules import RuleSet
from .kinds import UNKNOWN, Layer, Local, Seq
from .source import Package, SourceFile
from .values import DYN, Summary, Tensor, Value

TORCH_MODULE = "torch.nn.Module"
CONTAINERS = {
    "torch.nn.Sequential": "sequential",
    "torch.nn.ModuleList": "list",
    "torch.nn.ModuleDict": "dict",
    "torch.nn.Module": "module",
}


@dataclass(frozen=True)
class KerasNames:
    """How a translated file names keras.layers and keras.ops (`layers.X`, or `keras.layers.X`
    where the file binds `layers`/`ops` itself)."""

    layers: str = "layers"
    ops: str = "ops"

    @classmethod
    def for_file(cls, src: SourceFile) -> KerasNames:
        bound = _bound_names(src.text)
        return cls(
            "keras.layers" if "layers" in bound else "layers",
            "keras.ops" if "ops" in bound else "ops",
        )

    def requalify(self, text: str) -> str:
        """Rule templates say `layers.X` / `ops.x`: in this file's names."""
        if self.layers != "layers":
            text = re.sub(r"(?<![\w.])layers\.", self.layers + ".", text)
        if self.ops != "ops":
            text = re.sub(r"(?<![\w.])ops\.", self.ops + ".", text)
        return text


def _bound_names(text: str) -> set[str]:
    """Every name the file binds anywhere (read with Python's parser: faster than a libcst walk)."""
    import ast

    out: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
        elif isinstance(node, ast.alias):
            out.add((node.asname or node.name).split(".")[0])
    return out


@dataclass
class ClassInfo:
    """A class of the package: its role and the attributes its __init__ gives instances."""

    qual: str
    src: SourceFile
    node: cst.ClassDef
    role: str  # module | sequential | list | dict | plain
    bases: list[str]  # qualified names of the bases (package classes or torch)
    torch_base: str | None = None  # a torch.nn layer it extends (`class LayerNorm2d(nn.LayerNorm)`)
    attrs: dict[str, Value] = field(default_factory=dict)
    assigned: dict[str, list] = field(default_factory=dict)  # every value each attribute is given
    items: Value | None = None  # what super().__init__(*items) of a Sequential subclass received
    methods: dict[str, cst.FunctionDef] = field(default_factory=dict)
    ready: bool = False
    weight_reads: set = field(default_factory=set)  # `self.x` whose `.weight`/`.bias` a method reads


class Translator:
    """The shared state of one translation run (a file, or the files of a package)."""

    def __init__(self, rules: RuleSet, package: Package):
        self.rules = rules
        self.package = package
        self.summaries: dict[str, Summary] = {}
        self.running: set[str] = set()
        self.classes: dict[str, ClassInfo | None] = {}
        self.translated: dict[str, cst.FunctionDef] = {}  # emitted functions, by key
        self.input_ranks: list[int] | None = None  # the ranks of a model's inputs, where given

    # -- definitions -----------------------------------------------------------------------

    def definition(self, qual: str):
        return self.package.definition(qual)

    def class_info(self, qual: str) -> ClassInfo | None:
        if qual in self.classes:
            return self.classes[qual]
        self.classes[qual] = None  # a cycle of bases reads as a plain class
        found = self.definition(qual)
        if found is None or not isinstance(found[1], cst.ClassDef):
            return None
        src, node = found
        bases = []
        for arg in node.bases:
            text = dotted(arg.value)
            head, _, rest = text.partition(".")
            q = src.qualify(head)
            bases.append(f"{q}.{rest}" if q and rest else (q or text))
        role, torch_base = "plain", None
        for b in bases:
            if b in CONTAINERS:
                role = CONTAINERS[b]
                break
            if b.startswith("torch.nn.") and self.rules.torch_layer(b.rsplit(".", 1)[1]) is not None:
                role, torch_base = "module", b.rsplit(".", 1)[1]
                break
            base = self.class_info(b)
            if base is not None and base.role != "plain":
                role, torch_base = base.role, base.torch_base
                break
        methods = {
            s.name.value: s for s in node.body.body if isinstance(s, cst.FunctionDef)
        }
        info = ClassInfo(qual, src, node, role, bases, torch_base, methods=methods)
        info.weight_reads = _weight_reads(methods)
        self.classes[qual] = info
        return info

    def base_infos(self, info: ClassInfo) -> list[ClassInfo]:
        out = []
        for b in info.bases:
            base = self.class_info(b)
            if base is not None:
                out.append(base)
        return out

    def method(self, info: ClassInfo, name: str) -> tuple[ClassInfo, cst.FunctionDef] | None:
        """The class (or base) defining method `name`."""
        if name in info.methods:
            return info, info.methods[name]
        for base in self.base_infos(info):
            found = self.method(base, name)
            if found:
                return found
        return None

    # -- kinds -----------------------------------------------------------------------------

    def torch_kind(self, cls: str) -> Layer | None:
        rule = self.rules.torch_layer(cls)
        if rule is None:
            return None
        return Layer(cls)

    def module_kind(self, qual: str):
        info = self.class_info(qual)
        if info is None:
            return UNKNOWN
        if info.role == "sequential":
            return Seq(None, qual)
        return Local(qual)


def _weight_reads(methods: dict) -> set[str]:
    """Attributes whose layer's weights a method other than __init__ reads (`self.qkv.weight`):
    Keras builds a layer's variables when it is first called, so these are built in __init__."""
    out = set()
    for name, fn in methods.items():
        if name == "__init__":
            continue
        for n in walk(fn):
            if isinstance(n, cst.Attribute) and n.attr.value in ("weight", "bias") \
                    and isinstance(n.value, cst.Attribute) and isinstance(n.value.value, cst.Name) \
                    and n.value.value.value == "self":
                out.add(n.value.attr.value)
    return out


def relative_path(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


__all__ = ["DYN", "ClassInfo", "KerasNames", "Tensor", "Translator"]
