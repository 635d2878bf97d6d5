"""portmodel: port deep-learning models between Keras and PyTorch (source, weights, proof).

The Python API (docs/api.md), loaded on first use so that `import portmodel` stays cheap
(no torch, TensorFlow or libcst until a function needs them):

    import portmodel
    result = portmodel.translate("model.py", to="torch")      # a TranslationResult
    port = portmodel.to_keras(torch_module, torch.randn(2, 3, 32, 32))
    port.model, port.source, port.report, port.max_abs

`translate`, `port`, `verify`, `convert` and `lint` are also the names of portmodel's
modules: `portmodel.translate` is that module, and calling it calls `portmodel.api.translate`
(the same for the other four), so `import portmodel.translate` keeps working.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what the names are to a type checker; at run time, __getattr__ below
    from .api import (
        ConvertResult,
        LintResult,
        ModelPort,
        PortResult,
        TranslationResult,
        VerifyReport,
        WeightsResult,
        convert,
        keras_source,
        lint,
        port,
        to_keras,
        to_torch,
        transfer_weights,
        translate,
        translate_many,
        verify,
    )
    from .core.errors import PortmodelError

# the API's functions that share their name with a module of the package
_CALLABLE_MODULES = ("translate", "port", "verify", "convert", "lint")
_API = ("to_keras", "to_torch", "keras_source", "transfer_weights", "translate_many", "ConvertResult", "LintResult",
        "ModelPort", "PortResult", "TranslationResult", "VerifyReport", "WeightsResult")

__all__ = [
    "ConvertResult", "LintResult", "ModelPort", "PortResult", "PortmodelError", "TranslationResult", "VerifyReport",
    "WeightsResult", "__version__", "convert", "keras_source", "lint", "port", "to_keras", "to_torch",
    "transfer_weights", "translate", "translate_many", "verify",
]


def _api():
    from . import api

    return api


class _ApiModule(types.ModuleType):
    """A module of the package that is also the API function of its name."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(_api(), self.__name__.rpartition(".")[2])(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect

        return inspect.signature(getattr(_api(), self.__name__.rpartition(".")[2]))


class _Package(types.ModuleType):
    """The package: a submodule named like an API function becomes callable as it is bound
    (the import system sets it as an attribute of the package)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CALLABLE_MODULES and isinstance(value, types.ModuleType) and type(value) is types.ModuleType:
            value.__class__ = _ApiModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name == "PortmodelError":
        from .core.errors import PortmodelError

        return PortmodelError
    if name in _CALLABLE_MODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name in _API:
        return getattr(_api(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
