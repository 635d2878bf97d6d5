"""Entry point of the code-directed PyTorch -> Keras translator: one file in, a
`TranslationResult` out (code, diagnostics with positions, the models found).

A file inside a package is read with its package (imports of sibling modules resolve to
their definitions); `translated` names the modules translated in the same run, so that
imports between them stay relative and imports of the rest point at the original package.
One `Translator` per package and run is kept in the process, so the modules several files
import are summarised once.
"""

from __future__ import annotations

from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from ..core.errors import Diagnostic
from ..core.files import package_root
from ..core.parsing import walk
from ..core.result import ModelInfo, TranslationResult
from ..core.rules import RuleSet
from .context import Translator
from .emit import translate_file
from .interpret import code_of
from .source import Package, read_file

_TRANSLATORS: dict[tuple, Translator] = {}


def translator_for(root: Path | None, translated: frozenset, rules: RuleSet) -> Translator:
    key = (str(root), translated, id(rules))
    if key not in _TRANSLATORS:
        if len(_TRANSLATORS) > 8:
            _TRANSLATORS.clear()
        tops = {name.split(".")[0] for name in translated} or None
        _TRANSLATORS[key] = Translator(rules, Package(root, tops=tops))
    return _TRANSLATORS[key]


def translate_torch(source: str, path: str, *, translated: set[str] | None = None, rules: RuleSet,
                    parsed: cst.Module | None = None, input_shape=None):
    """Translate PyTorch source `source` (read from `path`) to Keras 3. `input_shape` (torch's
    layout, batch excluded; a list of them for several inputs), where given, fixes the rank of
    the model's inputs, so the port's `call` takes them without a run-time rank test."""
    root, dotted = package_root(Path(path)) if Path(path).is_file() else (None, None)
    names = frozenset(translated or ({dotted} if dotted else set()))
    tr = translator_for(root, names, rules) if root is not None else Translator(rules, Package(None))
    known = tr.package._files.get(dotted) if dotted else None  # read already, as a sibling's import
    src = known if known is not None and known.text == source else read_file(
        path, source, dotted or Path(path).stem, parsed)
    tr.package.add(src)
    tr.input_ranks = _ranks(input_shape)
    if root is None:
        tr.package._files[src.dotted] = src
    result = translate_file(tr, src, set(names) if root is not None else None)
    if not result.changed:
        return TranslationResult(path, "unchanged", source)
    locate = _Locator(src)
    diagnostics = []
    for items, severity in ((result.todos, "todo"), (result.notes, "note")):
        seen = set()
        for node, message in items:
            where = locate(node) if node is not None else (1, 1)
            if where is None:
                continue  # a node of another file of the package: that file reports it
            line, col = where
            key = (line, message)
            if key in seen:
                continue
            seen.add(key)
            diagnostics.append(Diagnostic(path, line, col, "PM001" if severity == "todo" else "PM002", message,
                                          severity))
    diagnostics.sort(key=lambda d: (d.line, d.col))
    models = [ModelInfo(name, name, "subclassed" if kind == "class" else "factory") for name, kind in result.models]
    status = "converted" if result.code != source else "unchanged"
    return TranslationResult(path, status, result.code, diagnostics, models, translated=result.translated)


def _ranks(input_shape) -> list[int] | None:
    if not input_shape:
        return None
    shapes = input_shape if isinstance(input_shape[0], tuple | list) else [input_shape]
    return [len(shape) + 1 for shape in shapes]


class _Locator:
    """Line and column of a node of the file: libcst's positions, computed for the whole file
    only when a node's text is not found once in the source (cheaper for most files)."""

    def __init__(self, src):
        self.src = src
        self.nodes = None
        self.positions = None

    def __call__(self, node):
        if self.nodes is None:
            self.nodes = {id(n) for n in walk(self.src.tree)}
        if id(node) not in self.nodes:
            return None
        text = code_of(node).strip("\n")
        first = text.lstrip().split("\n", 1)[0]
        at = self.src.text.find(first) if first else -1
        if at >= 0 and self.src.text.find(first, at + 1) < 0:
            line = self.src.text.count("\n", 0, at) + 1
            return line, at - (self.src.text.rfind("\n", 0, at) + 1) + 1
        if self.positions is None:
            self.positions = MetadataWrapper(self.src.tree, unsafe_skip_copy=True).resolve(PositionProvider)
        pos = self.positions.get(node)
        return (pos.start.line, pos.start.column + 1) if pos else (1, 1)


def dotted_names(paths: list[str]) -> set[str]:
    """The dotted module names of the files of one run that are in packages."""
    out = set()
    for p in paths:
        _, dotted = package_root(Path(p))
        if dotted:
            out.add(dotted)
    return out
