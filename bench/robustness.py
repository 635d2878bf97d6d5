"""Robustness on code as the frameworks themselves write it (issue 17).

Every `.py` file of the installed keras (`keras/src`), torch (`torch/nn`, `torch/ao/nn`),
torchvision and onnx packages is translated (to PyTorch and to Keras where the file imports
a framework, else in the default direction) and linted (as a migration from Keras and from
PyTorch, with fixes), each file in a worker process that is killed past the time limit.
Counted per file:

  crash     an exception out of translate_source / lint, or an "internal error" TODO (the
            translator turns some of its own exceptions into those: they are bugs too)
  timeout   the file took longer than --timeout seconds (the worker is killed)
  compile   a translation or a lint fix that `compile(code, path, "exec")` rejects
  rejected  bad input by portmodel's own rules (PortmodelError: too deep, too large); not a bug

Usage: .venv/bin/python bench/robustness.py [--jobs N] [--timeout 60] [--sample N] [--max-lines L] [--json out.json]
Exit status 1 when anything but `rejected` was found. tests/test_robustness.py runs a sample.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import multiprocessing
import os
import re
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# package -> folders below it whose .py files are read
CORPUS = {"keras": ["src"], "torch": ["nn", "ao/nn"], "torchvision": [""], "onnx": [""]}
KINDS = ("crash", "timeout", "compile", "rejected")
_FRAMEWORK_IMPORT = re.compile(r"^\s*(import|from)\s+(keras|tensorflow|tf_keras|torch)\b", re.MULTILINE)
_INTERNAL = re.compile(r"\binternal( error)?\b")


@dataclass
class Problem:
    kind: str  # one of KINDS
    stage: str  # "translate --to torch", "lint --from keras", ...
    message: str
    traceback: str | None = None


@dataclass
class FileResult:
    path: str
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)


def package_root(name: str) -> Path | None:
    """The installed package's folder, found without importing it (None if absent)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def corpus_files(packages=None) -> list[Path]:
    """Every .py file of the corpus folders of the installed packages, in a stable order
    (a package that is not installed is left out)."""
    files: list[Path] = []
    for name, folders in CORPUS.items():
        root = package_root(name)
        if (packages and name not in packages) or root is None:
            continue
        for folder in folders:
            files += sorted((root / folder).rglob("*.py"))
    return files


def sample(files: list[Path], every: int, max_lines: int | None = None) -> list[Path]:
    """One file in `every`, chosen by a hash of its path inside its package: the same files
    on every machine with the same package versions, whichever other packages are installed;
    with `max_lines`, only files that long at most (a time budget)."""
    roots = [r for r in map(package_root, CORPUS) if r is not None]

    def key(path: Path) -> str:
        root = next((r for r in roots if r in path.parents), path.parent)
        return f"{root.name}/{path.relative_to(root).as_posix()}"

    chosen = [f for f in files if int(hashlib.sha1(key(f).encode()).hexdigest(), 16) % every == 0]
    if max_lines is not None:
        chosen = [f for f in chosen if f.read_bytes().count(b"\n") <= max_lines]
    return chosen


def check_file(path: str) -> FileResult:
    """Translate and lint one file every way that applies; what went wrong, by stage."""
    from portmodel.core.config import Config
    from portmodel.core.errors import PortmodelError
    from portmodel.lint.run import lint_source
    from portmodel.translate import translate_source

    result = FileResult(path)
    start = time.perf_counter()
    source = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
    directions = ("torch", "keras") if _FRAMEWORK_IMPORT.search(source) else (None,)

    def stage(name: str, work) -> None:
        try:
            code = work()
        except PortmodelError as exc:
            result.problems.append(Problem("rejected", name, str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - what the script is here to count
            result.problems.append(Problem("crash", name, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
            return
        if code is None:
            return
        try:
            compile(code, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            result.problems.append(Problem("compile", name, f"{type(exc).__name__}: {exc}"))

    def translate(to):
        res = translate_source(source, path, to=to)
        for d in res.diagnostics:
            if _INTERNAL.search(d.message):
                result.problems.append(Problem("crash", f"translate --to {to or 'default'}", d.format()))
        return res.code

    def lint(framework):
        _, fixed = lint_source(source, path, Config(source=framework), fix=True)
        return fixed

    for to in directions:
        stage(f"translate --to {to or 'default'}", lambda to=to: translate(to))
    for framework in ("keras", "torch"):
        stage(f"lint --from {framework}", lambda framework=framework: lint(framework))
    result.seconds = time.perf_counter() - start
    return result


def _worker(conn) -> None:
    _warm_up()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    conn.send(None)  # ready: a file's clock starts when it is given
    while True:
        path = conn.recv()
        if path is None:
            return
        conn.send(check_file(path))


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.path: str | None = None
        self.started = 0.0

    def give(self, path: str) -> None:
        self.path, self.started = path, time.monotonic()
        self.conn.send(path)

    def stop(self, kill: bool = False) -> None:
        if kill or not self.ready:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(10)
        self.conn.close()


def _warm_up() -> None:
    """What every file needs, once per worker (so no file's time includes it)."""
    import portmodel.lint.run
    import portmodel.torch_to_keras.api
    from portmodel.rulebook import load_rules

    load_rules()
    del portmodel


def run(files: list[Path], jobs: int, timeout: float, progress: bool = False) -> list[FileResult]:
    """Check every file, each in a worker process (killed and replaced past `timeout`).
    Workers are spawned, not forked: the caller (a test session) may hold TensorFlow's threads."""
    ctx = multiprocessing.get_context("spawn")
    todo = [str(f) for f in reversed(files)]
    workers = [_Worker(ctx) for _ in range(max(1, min(jobs, len(files))))]
    results: list[FileResult] = []
    try:
        while todo or any(w.path for w in workers):
            for w in workers:
                if w.ready and w.path is None and todo:
                    w.give(todo.pop())
            now = time.monotonic()
            left = min((w.started + timeout - now for w in workers if w.path), default=timeout)
            answered = wait([w.conn for w in workers if w.path or not w.ready], timeout=max(left, 0))
            now = time.monotonic()
            for i, w in enumerate(workers):
                result = None
                if w.conn in answered:
                    try:
                        message = w.conn.recv()
                    except (EOFError, OSError):  # the worker died: a crash of the interpreter itself
                        if w.path is None:
                            raise RuntimeError("a worker process died while starting") from None
                        result = FileResult(w.path, now - w.started, [Problem("crash", "worker", "the worker process died")])
                    else:
                        if message is None:
                            w.ready = True
                        else:
                            results.append(message)
                            w.path = None
                        continue
                elif w.path and now - w.started >= timeout:
                    result = FileResult(w.path, now - w.started, [Problem("timeout", "worker", f"over {timeout:g} s")])
                if result is not None:
                    results.append(result)
                    w.stop(kill=True)
                    workers[i] = _Worker(ctx)
            if progress:
                sys.stderr.write(f"\r{len(results)}/{len(files)}")
                sys.stderr.flush()
    finally:
        for w in workers:
            w.stop(kill=w.path is not None)
    if progress:
        sys.stderr.write("\n")
    order = {str(f): i for i, f in enumerate(files)}
    return sorted(results, key=lambda r: order[r.path])


def summary(results: list[FileResult], seconds: float) -> dict:
    counts = {kind: sum(any(p.kind == kind for p in r.problems) for r in results) for kind in KINDS}
    slowest = max(results, key=lambda r: r.seconds, default=None)
    return {
        "files": len(results),
        "files_with": counts,
        "wall_seconds": round(seconds, 1),
        "slowest": {"path": slowest.path, "seconds": round(slowest.seconds, 2)} if slowest else None,
        "problems": [{"path": r.path, **asdict(p)} for r in results for p in r.problems],
        "seconds": {r.path: round(r.seconds, 2) for r in results},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per file")
    ap.add_argument("--sample", type=int, metavar="N", help="one file in N (deterministic)")
    ap.add_argument("--max-lines", type=int, help="only files this long at most")
    ap.add_argument("--package", action="append", choices=sorted(CORPUS), help="only these packages")
    ap.add_argument("--json", help="write every problem, with tracebacks, to this file")
    ap.add_argument("files", nargs="*", help="check these files instead of the corpus")
    args = ap.parse_args(argv)
    files = [Path(f) for f in args.files] or corpus_files(args.package)
    if args.sample or args.max_lines:
        files = sample(files, args.sample or 1, args.max_lines)
    missing = [name for name in CORPUS if package_root(name) is None]
    start = time.perf_counter()
    results = run(files, args.jobs, args.timeout, progress=sys.stderr.isatty())
    rep = summary(results, time.perf_counter() - start)
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=2) + "\n")
    for p in rep["problems"]:
        print(f"{p['kind']:8} {p['path']} [{p['stage']}] {p['message'].splitlines()[0] if p['message'] else ''}")
    c = rep["files_with"]
    where = "named" if args.files else ", ".join(n for n in CORPUS if n not in missing) + (
        f"; not installed: {', '.join(missing)}" if missing else "")
    print(
        f"{rep['files']} files ({where}) in {rep['wall_seconds']} s with {args.jobs} worker(s): {c['crash']} crashed, {c['timeout']} timed out, "
        f"{c['compile']} gave code that does not compile, {c['rejected']} rejected as bad input; "
        f"slowest {rep['slowest']['seconds'] if rep['slowest'] else 0} s ({rep['slowest']['path'] if rep['slowest'] else '-'})"
    )
    return 1 if c["crash"] or c["timeout"] or c["compile"] else 0


if __name__ == "__main__":
    sys.exit(main())
