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

from ..errors import Diagnostic
from ..rules import RuleSet, load_rules
from .context import Translator
from .emit import translate_file
from .source import Package, package_root, read_file

_TRANSLATORS: dict[tuple, Translator] = {}


def translator_for(root: Path | None, translated: frozenset, rules: RuleSet) -> Translator:
    key = (str(root), translated, id(rules))
    if key not in _TRANSLATORS:
        if len(_TRANSLATORS) > 8:
            _TRANSLATORS.clear()
        tops = {name.split(".")[0] for name in translated} or None
        _TRANSLATORS[key] = Translator(rules, Package(root, tops=tops))
    return _TRANSLATORS[key]


def translate_torch(source: str, path: str, *, translated: set[str] | None = None, rules: RuleSet | None = None,
                    parsed: cst.Module | None = None):
    """Translate PyTorch source `source` (read from `path`) to Keras 3."""
    from ..keras_reader import ModelInfo
    from ..translate import TranslationResult

    rules = rules or load_rules()
    root, dotted = package_root(Path(path)) if Path(path).is_file() else (None, None)
    names = frozenset(translated or ({dotted} if dotted else set()))
    tr = translator_for(root, names, rules) if root is not None else Translator(rules, Package(None))
    src = read_file(path, source, dotted or Path(path).stem)
    tr.package.add(src)
    if root is None:
        tr.package._files[src.dotted] = src
    result = translate_file(tr, src, set(names) if root is not None else None)
    if not result.changed:
        return TranslationResult(path, "unchanged", source)
    wrapper = MetadataWrapper(src.tree, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    diagnostics = []
    for items, severity in ((result.todos, "todo"), (result.notes, "note")):
        seen = set()
        for node, message in items:
            pos = positions.get(node) if node is not None else None
            if node is not None and pos is None:
                continue  # a node of another file of the package: that file reports it
            line, col = (pos.start.line, pos.start.column + 1) if pos else (1, 1)
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


def dotted_names(paths: list[str]) -> set[str]:
    """The dotted module names of the files of one run that are in packages."""
    out = set()
    for p in paths:
        _, dotted = package_root(Path(p))
        if dotted:
            out.add(dotted)
    return out
