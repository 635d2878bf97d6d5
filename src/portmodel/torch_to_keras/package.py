"""A file of a package ported with the modules it needs: the package-local modules that
define model code it imports (transitively) are translated with it, written as a package of
their own beside the port (`torchvision_keras/models/resnet.py`, `.../ops/misc.py`), so the
relative imports between them hold and imports of the package's other modules (non-model
code) still read the original."""

from __future__ import annotations

from pathlib import Path

from ..core.files import package_root
from ..core.fsutil import write_text
from ..core.parsing import walk
from ..core.rules import RuleSet
from .api import translate_torch
from .context import Translator
from .source import Package

SUFFIX = "_keras"


def model_modules(path: str, rules: RuleSet) -> tuple[Path, list[str]]:
    """(the package's parent folder, the dotted names of `path`'s module and of the modules of
    the same package defining model classes it imports, transitively, with the modules of
    their own folders they import: `models/_api.py`'s registry is then the port's own, not
    the original's, where `register_model` would find every name taken)."""
    root, dotted = package_root(Path(path))
    if root is None:
        return None, []
    top = dotted.split(".")[0]
    tr = Translator(rules, Package(root, tops={top}))
    order, todo = [], [dotted]
    while todo:
        name = todo.pop(0)
        if name in order:
            continue
        src = tr.package.file(name)
        if src is None:
            continue
        order.append(name)
        used = _names_in_code(tr, src)
        for local, qual in src.names.items():
            if qual.split(".")[0] != top:
                continue
            found = tr.package.definition(qual)
            if found is None or found[0].dotted in order:
                continue
            sibling = found[0].dotted.rpartition(".")[0] == src.package
            if sibling or (local in used and _defines_modules(tr, found[0])):
                todo.append(found[0].dotted)
    return root, order


def _names_in_code(tr: Translator, src) -> set[str]:
    """Names read inside the file's module classes and functions (not its weights enums and
    other plain classes, which keep reading the original package)."""
    import libcst as cst

    nodes = list(src.functions.values())
    for name, node in src.classes.items():
        info = tr.class_info(f"{src.dotted}.{name}")
        if info is not None and info.role != "plain":
            nodes.append(node)
    return {n.value for node in nodes for n in walk(node) if isinstance(n, cst.Name)}


def _defines_modules(tr: Translator, src) -> bool:
    for name in src.classes:
        info = tr.class_info(f"{src.dotted}.{name}")
        if info is not None and info.role != "plain":
            return True
    return False


def write_port(path: str, out_dir: str, rules: RuleSet):
    """Translate `path` and the model modules it needs into `out_dir/<package>_keras/...`;
    returns (the TranslationResult of `path`, the dotted name of its port, every result)."""
    root, modules = model_modules(path, rules)
    results = {}
    for name in modules:
        file = root.joinpath(*name.split(".")).with_suffix(".py")
        if not file.is_file():
            file = root.joinpath(*name.split("."), "__init__.py")
        results[name] = translate_torch(file.read_text(encoding="utf-8"), str(file), translated=set(modules),
                                        rules=rules)
    out = Path(out_dir)
    top = modules[0].split(".")[0]
    for name, res in results.items():
        parts = name.split(".")
        parts[0] += SUFFIX
        folder = out.joinpath(*parts[:-1])
        for i in range(1, len(parts)):  # empty package markers: the original __init__ would import everything
            init = out.joinpath(*parts[:i], "__init__.py")
            if not init.exists():
                write_text(str(init), "")
        write_text(str(folder / f"{parts[-1]}.py"), res.code)
    first = modules[0].split(".")
    first[0] = top + SUFFIX
    return results[modules[0]], ".".join(first), results
