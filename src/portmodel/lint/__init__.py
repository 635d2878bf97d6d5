"""`portmodel lint`: checks for code still tied to the old framework and for numeric traps.

Each check lives in its own module under `lint/checks/`, registered by `@register`; its
docstring (sections What / Why / Example / Fix) is its documentation (docs/lint.md is
generated from it) and its VALID / INVALID / FIXED examples run as tests. Fix safety:
`safe` (applied by --fix, behaviour unchanged), `unsafe` (--unsafe-fixes), `manual`.
"""

from . import checks  # noqa: F401  (registration)
from .check import (
    CHECKS,
    Check,
    Finding,
    LintContext,
    kwargs_of,
    register,
    suppressed,
    unwritten_defaults,
    with_keywords,
)

__all__ = [
    "CHECKS",
    "Check",
    "Finding",
    "LintContext",
    "kwargs_of",
    "register",
    "suppressed",
    "unwritten_defaults",
    "with_keywords",
]
