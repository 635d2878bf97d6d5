"""Find the files a command works on: folders walked recursively, .gitignore honoured.

As in ruff, what is named on the command line is included: `.gitignore` filters what a walk
finds below a named folder, never the named file or folder itself (a vendored package, a
folder inside a virtualenv). A named folder holding no Python file is an error.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .config import Config
from .errors import PortmodelError

SUFFIXES = (".py", ".ipynb")
_SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".tox", ".mypy_cache", "build", "dist"}


def _git_files(folder: Path) -> list[Path] | None:
    """Tracked and untracked-but-not-ignored files under `folder`, or None outside git and
    where git ignores `folder` itself (then it is walked as outside git)."""
    try:
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", "--", "."], cwd=folder, capture_output=True, timeout=60, check=False,
        ).returncode == 0
        if ignored:
            return None
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
            inside = sorted(str(f) for f in files if f.suffix in suffixes and f.is_file())
            if not inside:
                raise PortmodelError(f"no Python file ({', '.join(suffixes)}) in this folder or below it", raw)
            found += inside
        elif path.is_file():
            found.append(raw)
        else:
            raise PortmodelError("file not found", raw)
    if config is not None:
        found = [f for f in found if f == "-" or not config.is_excluded(f)]
    return list(dict.fromkeys(found))


def package_root(path: Path) -> tuple[Path | None, str | None]:
    """(the folder that holds the top package, the file's dotted module name), or (None, None)
    when the file is not in a package."""
    path = path.resolve()
    parts = [path.stem] if path.stem != "__init__" else []
    folder = path.parent
    if not (folder / "__init__.py").exists():
        return None, None
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)
