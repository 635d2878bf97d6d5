"""Atomic file output: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import PortmodelError


@contextmanager
def atomic_path(path: str | os.PathLike, *, force: bool = True):
    """Yield a temporary path next to `path`; rename it over `path` only on success."""
    target = Path(path)
    if target.exists() and not force:
        raise PortmodelError("output exists; pass --force to overwrite it", str(target))
    folder = target.parent if str(target.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise PortmodelError(f"cannot write output folder: {exc.strerror}", str(folder)) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str, *, force: bool = True) -> None:
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
