"""`[tool.portmodel]` in pyproject.toml: what is being migrated, and which checks apply.

```toml
[tool.portmodel]
from = "keras"                 # the framework being migrated away from
to = "torch"
migrated = ["src/models/**"]   # here any use of the source framework is an error (PM100/PM101)
enable = ["PM"]                # code prefixes, ruff-style
disable = []
exclude = ["legacy/**"]
[tool.portmodel.per-file-ignores]
"tests/**" = ["PM3"]
```
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import PortmodelError

FRAMEWORKS = ("keras", "torch")


@dataclass
class Config:
    source: str = "keras"
    target: str = "torch"
    migrated: list[str] = field(default_factory=list)
    enable: list[str] = field(default_factory=lambda: ["PM"])
    disable: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    root: Path = field(default_factory=Path.cwd)
    selected: set[str] | None = None  # the codes the command line chose (select_rules), else None

    def relative(self, path: str) -> str:
        try:
            return PurePosixPath(Path(path).resolve().relative_to(self.root.resolve())).as_posix()
        except ValueError:
            return PurePosixPath(path).as_posix()

    def is_migrated(self, path: str) -> bool:
        return matches(self.relative(path), self.migrated)

    def is_excluded(self, path: str) -> bool:
        return matches(self.relative(path), self.exclude)

    def select_rules(self, select: list[str] | None, ignore: list[str] | None, extend_select: list[str] | None,
                     codes) -> None:
        """The command line's selection over the config's, as ruff layers them: `select`
        replaces the selection (the config's `enable` and `disable`), `extend_select` adds
        to it, `ignore` removes from it; `per-file-ignores` still apply. `codes`: every rule
        code; a selector that names none is an error."""
        if not (select or ignore or extend_select):
            return
        codes = sorted(codes)
        for selector in [*(select or []), *(ignore or []), *(extend_select or [])]:
            if selector != "ALL" and not any(c.startswith(selector) for c in codes):
                raise PortmodelError(f"unknown rule selector '{selector}' (codes: {', '.join(codes)})")

        def picked(selectors: list[str]) -> set[str]:
            return {c for c in codes if any(s == "ALL" or c.startswith(s) for s in selectors)}

        chosen = picked(select) if select else {c for c in codes if self._configured(c)}
        self.selected = (chosen | picked(extend_select or [])) - picked(ignore or [])

    def _configured(self, code: str) -> bool:
        return any(code.startswith(p) for p in self.enable) and not any(code.startswith(p) for p in self.disable)

    def enabled(self, code: str, path: str) -> bool:
        if not (code in self.selected if self.selected is not None else self._configured(code)):
            return False
        rel = self.relative(path)
        return not any(
            code.startswith(p) for glob, prefixes in self.per_file_ignores.items() if matches(rel, [glob]) for p in prefixes
        )


def matches(rel: str, globs: list[str]) -> bool:
    """Glob match with `**` for any depth (`src/models/**` matches everything below)."""
    for glob in globs:
        if fnmatch.fnmatch(rel, glob) or fnmatch.fnmatch(rel, glob.replace("/**", "/*")):
            return True
        if glob.endswith("/**") and rel.startswith(glob[:-3] + "/"):
            return True
    return False


def load_config(start: str | Path = ".") -> Config:
    """The nearest pyproject.toml's [tool.portmodel] (defaults when there is none)."""
    here = Path(start).resolve()
    for folder in [here, *here.parents]:
        path = folder / "pyproject.toml"
        if path.is_file():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise PortmodelError(f"invalid TOML: {exc}", str(path)) from None
            section = data.get("tool", {}).get("portmodel")
            if section is not None:
                return _parse(section, folder, path)
    return Config(root=here if here.is_dir() else here.parent)


def _parse(section: dict, root: Path, path: Path) -> Config:
    known = {"from", "to", "migrated", "enable", "disable", "exclude", "per-file-ignores"}
    unknown = set(section) - known
    if unknown:
        raise PortmodelError(f"[tool.portmodel]: unknown key '{min(unknown)}'", str(path))
    cfg = Config(root=root)
    cfg.source = section.get("from", cfg.source)
    cfg.target = section.get("to", cfg.target)
    for key in ("from", "to"):
        if section.get(key, "keras" if key == "from" else "torch") not in FRAMEWORKS:
            raise PortmodelError(f"[tool.portmodel]: '{key}' must be one of {', '.join(FRAMEWORKS)}", str(path))
    cfg.migrated = list(section.get("migrated", []))
    cfg.enable = list(section.get("enable", cfg.enable))
    cfg.disable = list(section.get("disable", []))
    cfg.exclude = list(section.get("exclude", []))
    cfg.per_file_ignores = {k: list(v) for k, v in section.get("per-file-ignores", {}).items()}
    return cfg
