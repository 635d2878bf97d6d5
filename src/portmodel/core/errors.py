"""Errors and diagnostics shared by every stage.

A `PortmodelError` is a user-facing failure: the CLI prints it as one line and exits 2.
A `Diagnostic` is a finding attached to a file position that does not stop the run.
"""

from __future__ import annotations

from dataclasses import dataclass


class PortmodelError(Exception):
    """A clear, user-facing error: names the file and what to do."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        super().__init__(message)

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        return where + self.args[0]


class RuleError(PortmodelError):
    """A rule file is malformed (names the file and the key)."""


@dataclass(frozen=True)
class Diagnostic:
    path: str
    line: int
    col: int
    code: str
    message: str
    severity: str = "todo"  # "todo" (not translated) | "warning" | "note"

    def format(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"


def run_safely(path: str, work):
    """`(work(), None, None)`, or `(None, error, traceback)` when one file's work fails.

    The one place a run over many files (translate, lint) keeps a file's failure to that file:
    a `PortmodelError` (bad input) gives its own message; any other exception is a bug of
    ours and gives `path: internal error: TypeError: ... (please report)` with the traceback
    (shown with --verbose, kept in the migration report). KeyboardInterrupt still stops the run.
    """
    import traceback

    try:
        return work(), None, None
    except PortmodelError as exc:
        return None, str(exc), None
    except Exception as exc:  # noqa: BLE001 - one file's bug must not stop the others
        return None, f"{path}: internal error: {type(exc).__name__}: {exc} (please report)", traceback.format_exc()
