"""Translate one source file to the other framework: Keras -> PyTorch
(`portmodel.keras_to_torch`) or PyTorch -> Keras (`portmodel.torch_to_keras`)."""

from __future__ import annotations

import re

import libcst as cst

from .core.errors import Diagnostic, PortmodelError
from .core.parsing import TOO_DEEP, parse_python
from .core.result import ModelInfo, TranslationResult
from .core.rules import RuleSet
from .keras_to_torch.api import translate_keras
from .keras_to_torch.code import translate_code
from .rulebook import load_rules
from .torch_to_keras.api import translate_torch

__all__ = ["ModelInfo", "TranslationResult", "guess_target", "translate_source"]


_TORCH_IMPORT = re.compile(r"^\s*(import torch|from torch[ .])", re.MULTILINE)
_KERAS_IMPORT = re.compile(r"^\s*(import (keras|tensorflow|tf_keras)|from (keras|tensorflow|tf_keras)[ .])", re.MULTILINE)


def guess_target(source: str) -> str:
    """'keras' for a file that imports torch and no Keras, else 'torch'."""
    return "keras" if _TORCH_IMPORT.search(source) and not _KERAS_IMPORT.search(source) else "torch"


ENGINES = (None, "auto", "first", "code")  # Keras -> PyTorch translators (None: auto)


def translate_source(
    source: str, path: str = "<string>", *, input_shape=None, rules: RuleSet | None = None, to: str | None = None,
    parsed: cst.Module | None = None, translated: set[str] | None = None, engine: str | None = None,
) -> TranslationResult:
    """Translate Keras source text to PyTorch (`to="torch"`), or PyTorch source to Keras
    (`to="keras"`); by default, away from the framework the file imports. `parsed`: the
    source already parsed (by `parse_python`), when the caller has it.

    PyTorch -> Keras (`portmodel.torch_to_keras`) translates every class and function once, as
    code; `translated`: the modules of the same run (their imports of each other stay relative).
    Keras -> PyTorch: `engine="code"` picks the code-directed engine (`keras_to_torch.code`),
    which translates builders and helpers for every value of their arguments; "first" the
    first engine, which follows the model its default arguments build; "auto" (None, the
    default) the first engine, or the code engine's translation where the first leaves TODOs
    and the code engine fewer (a note says so)."""
    rules = rules or load_rules()
    to = to or guess_target(source)
    module = parsed if parsed is not None else parse_python(source, path)
    try:
        if to == "keras":
            return translate_torch(source, path, translated=translated, rules=rules, parsed=module,
                                   input_shape=input_shape)
        if engine not in ENGINES:
            raise PortmodelError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}", path)
        if engine == "code":
            return translate_code(module, source, path, rules, translated=translated)
        first = translate_keras(module, source, path, input_shape, rules)
        functions = any(isinstance(stmt, cst.FunctionDef) for stmt in module.body)
        if engine == "first" or not first.todos and (first.models or not functions):
            return first  # the code engine may find models where the first finds none (`resnet.ResNet(...)`)
        code = translate_code(module, source, path, rules, translated=translated)
        fewer = len(code.todos) < len(first.todos)
        more = len(code.todos) <= len(first.todos) and len(code.models) > len(first.models)
        if code.status != "converted" or not (fewer or more):
            return first
        code.diagnostics.insert(0, Diagnostic(path, 1, 1, "PM002", (
            f"translated by the code engine (builders and helpers as code): the first engine left "
            f"{len(first.todos)} TODO(s) and found {len(first.models)} model(s), this one {len(code.todos)} and "
            f"{len(code.models)} (`--engine first` for the first's)"), "note"))
        return code
    except RecursionError:  # a pathological but parseable file: report it, never crash
        raise PortmodelError(TOO_DEEP, path) from None

