"""Translate many files: in parallel across processes, with a progress bar and a summary.

Each file is read, translated and written on its own; a file that fails (syntax error,
not UTF-8, or an internal error: a bug of ours) is reported and skipped, and nothing is
half-written (atomic writes).
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .core.errors import run_safely


@dataclass
class FileOutcome:
    path: str
    source: str = ""
    code: str | None = None
    status: str = "unchanged"  # converted | unchanged | failed
    error: str | None = None
    traceback: str | None = None  # an internal error's traceback (a bug of ours)
    diagnostics: list = field(default_factory=list)
    layers: int = 0  # layers translated
    models: list = field(default_factory=list)


def translate_one(path: str, input_shape=None, to: str | None = None,
                  translated: frozenset | None = None, engine: str | None = None) -> FileOutcome:
    """Translate one .py or .ipynb file in memory (no writes); never raises: a failure is
    the outcome's `error` (and `traceback` for an internal error)."""
    outcome, error, tb = run_safely(path, lambda: _translate_one(path, input_shape, to, translated, engine))
    return outcome if error is None else FileOutcome(path, status="failed", error=error, traceback=tb)


def _translate_one(path: str, input_shape, to: str | None, translated: frozenset | None = None,
                   engine: str | None = None) -> FileOutcome:
    from . import notebook
    from .port import read_source
    from .translate import translate_source

    out = FileOutcome(path)
    text = sys.stdin.read() if path == "-" else read_source(path)
    out.source = text
    is_nb = path.endswith(".ipynb")
    nb = notebook.load(path, text) if is_nb else None
    source = notebook.to_source(nb) if is_nb else text
    res = translate_source(source, "<stdin>" if path == "-" else path, input_shape=input_shape, to=to,
                           translated=set(translated) if translated else None, engine=engine)
    code = notebook.dump(notebook.from_source(nb, res.code)) if is_nb and res.status != "unchanged" else res.code
    out.code = text if res.status == "unchanged" else code
    out.status = "converted" if out.code != text else "unchanged"
    out.diagnostics = res.diagnostics
    out.models = res.models
    out.layers = res.translated if res.translated is not None else sum(len(m.order) for m in res.models)
    return out


def translate_many(paths: list[str], input_shape=None, jobs: int | None = None, progress: bool = False,
                   to: str | None = None, engine: str | None = None):
    """Outcomes in input order; uses `jobs` processes (default: all cores) for many files.
    The files of one package are translated as one (PyTorch -> Keras resolves their imports
    of each other)."""
    from .torch_to_keras.api import dotted_names

    translated = frozenset(dotted_names(paths))
    jobs = jobs or os.cpu_count() or 1
    if len(paths) < 4 or jobs == 1:
        outcomes = []
        for i, p in enumerate(paths):
            outcomes.append(translate_one(p, input_shape, to, translated, engine))
            _bar(progress, i + 1, len(paths))
        return outcomes
    outcomes = []
    n = len(paths)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        chunk = max(1, len(paths) // (jobs * 8))
        for i, outcome in enumerate(pool.map(translate_one, paths, [input_shape] * n, [to] * n, [translated] * n,
                                             [engine] * n, chunksize=chunk)):
            outcomes.append(outcome)
            _bar(progress, i + 1, len(paths))
    return outcomes


def _bar(show: bool, done: int, total: int) -> None:
    if not show:
        return
    width = 30
    filled = width * done // total
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def migration_report(outcomes: list[FileOutcome]) -> dict:
    """What was translated, what is TODO and why, and an overall percentage (None when
    nothing was translated and nothing is TODO: there is nothing to take a percentage of)."""
    todos = [d for o in outcomes for d in o.diagnostics if d.severity == "todo"]
    layers = sum(o.layers for o in outcomes)
    done = layers / (layers + len(todos)) if layers + len(todos) else None
    return {
        "files": len(outcomes),
        "converted": sum(o.status == "converted" for o in outcomes),
        "unchanged": sum(o.status == "unchanged" for o in outcomes),
        "failed": [{"path": o.path, "error": o.error, **({"traceback": o.traceback} if o.traceback else {})}
                   for o in outcomes if o.status == "failed"],
        "layers_translated": layers,
        "todos": [d.format() for d in todos],
        "percent_translated": None if done is None else round(100 * done, 1),
        "per_file": [
            {"path": o.path, "status": o.status, "layers": o.layers,
             "todos": sum(d.severity == "todo" for d in o.diagnostics),
             "models": [m.target for m in o.models]}
            for o in outcomes
        ],
    }


def report_markdown(rep: dict) -> str:
    percent = rep["percent_translated"]
    lines = [
        "# portmodel migration report", "",
        f"- files: {rep['files']} ({rep['converted']} converted, {rep['unchanged']} unchanged, {len(rep['failed'])} failed)",
        f"- layers translated: {rep['layers_translated']}; TODOs: {len(rep['todos'])}",
        "- **nothing translated** (no layer, no TODO)" if percent is None
        else f"- **translated: {percent}%** (layers / (layers + TODOs))", "",
        "| file | status | layers | TODOs | models |", "|---|---|---|---|---|",
    ]
    lines += [
        f"| {f['path']} | {f['status']} | {f['layers']} | {f['todos']} | {', '.join(f['models'])} |" for f in rep["per_file"]
    ]
    if rep["todos"]:
        lines += ["", "## TODOs", ""] + [f"- `{t}`" for t in rep["todos"]]
    if rep["failed"]:
        lines += ["", "## Failed", ""]
        for f in rep["failed"]:
            lines.append(f"- {f['error']}")
            if f.get("traceback"):
                lines += ["", "  ```", *("  " + line for line in f["traceback"].rstrip("\n").splitlines()), "  ```"]
    return "\n".join(lines) + "\n"


def output_path(path: str, roots: list[str], out_dir: str, packages: bool = False) -> Path:
    """Where a translated file goes under `out_dir`, mirroring its place below its root
    (`packages`: a file of a package goes to its place in the package, `out/torchvision/models/
    resnet.py`, so the relative imports between the translated modules hold)."""
    p = Path(path).resolve()
    if packages:
        from .core.files import package_root

        root, _ = package_root(p)
        if root is not None:
            return Path(out_dir) / p.relative_to(root)
    for root in roots:
        r = Path(root).resolve()
        if r.is_dir() and (p == r or r in p.parents):
            return Path(out_dir) / p.relative_to(r)
    return Path(out_dir) / Path(path).name
