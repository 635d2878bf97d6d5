"""Find the files a command works on: folders walked recursively, .gitignore honoured."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .config import Config
from .errors import PortmodelError

SUFFIXES = (".py", ".ipynb")
_SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".tox", ".mypy_cache", "build", "dist"}


def _git_files(folder: Path) -> list[Path] | None:
    """Tracked and untracked-but-not-ignored files under `folder`, or None outside git."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "."],
            cwd=folder, capture_output=True, check=True, timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [folder / name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]


def discover(paths: list[str], config: Config | None = None, suffixes=SUFFIXES) -> list[str]:
    """Python files (and notebooks) named or found below the given folders, sorted."""
    found: list[str] = []
    for raw in paths:
        path = Path(raw)
        if raw == "-":
            found.append(raw)
        elif path.is_dir():
            files = _git_files(path)
            if files is None:
                files = [f for f in path.rglob("*") if not (_SKIP_DIRS & set(f.relative_to(path).parts))]
            found += sorted(str(f) for f in files if f.suffix in suffixes and f.is_file())
        elif path.is_file():
            found.append(raw)
        else:
            raise PortmodelError("file not found", raw)
    if config is not None:
        found = [f for f in found if f == "-" or not config.is_excluded(f)]
    return list(dict.fromkeys(found))
