"""What a translation gives back, whichever the direction."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Diagnostic


@dataclass
class ModelInfo:
    """What the translation made of one model (used by weights/verify/port)."""

    source: str  # builder function, class or variable name in the source file
    target: str  # the class the port defines
    style: str  # sequential | functional | subclassed
    order: list[str] = field(default_factory=list)  # torch attributes, registration order


@dataclass
class TranslationResult:
    """One file's translation: the code (None where it failed), diagnostics with positions,
    the models found."""

    path: str
    status: str  # converted | failed | unchanged
    code: str | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    models: list[ModelInfo] = field(default_factory=list)
    translated: int | None = None  # layers and ops translated, where the engine counts them

    @property
    def todos(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "todo"]

