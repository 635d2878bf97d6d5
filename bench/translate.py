"""Translation throughput against the floor: bare libcst parse + render of the same files.

Generates N model files (variations of the fixtures: sizes, names, extra helper code),
then times, in the same run:
  floor   libcst.parse_module(src).code on one core
  ours-1  portmodel's translate_source on one core
  ours-N  `portmodel translate` over the tree with all cores (process pool)
and prints lines/s and the ratios. Usage: python bench/translate.py [--files 240] [--jobs N]

`--torchvision` times the code engine (PyTorch -> Keras) on torchvision's classification files
as installed (its `models/` and the `ops/` modules they import, translated as one package,
one core) against the same floor on the same files.

`--keras-applications` times the code engine (Keras -> PyTorch) on the installed Keras'
`keras/src/applications` folder (its .py files, translated as one package, one core, in
process, sequentially) against the libcst parse floor (parse only) of the same files.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import libcst as cst

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from portmodel.translate import translate_source
from portmodel.tree import translate_many

HELPER = '''

def augment_{i}(batch, scale={scale}):
    """Non-model helper code, as real files have."""
    out = []
    for row in batch:
        out.append([value * scale for value in row])
    return out
'''


def generate(folder: Path, n: int, seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    fixtures = sorted((ROOT / "fixtures" / "keras").glob("*.py"))
    fixtures = [f for f in fixtures if not f.name.startswith("sub_")]  # subclassed need --input-shape
    paths = []
    for i in range(n):
        src = fixtures[i % len(fixtures)].read_text()
        # vary layer sizes so files differ
        src = re.sub(r"Dense\((\d+)", lambda m: f"Dense({int(m.group(1)) + rng.randint(0, 8)}", src)
        src += "".join(HELPER.format(i=j, scale=rng.randint(1, 9)) for j in range(rng.randint(1, 4)))
        path = folder / f"model_{i:04d}.py"
        path.write_text(src)
        paths.append(path)
    return paths


def torchvision_tree() -> None:
    """The code engine on torchvision's classification modules, against the libcst floor."""
    sys.path.insert(0, str(ROOT / "tests"))
    import torchvision_zoo as zoo

    from portmodel.torch_to_keras.api import _TRANSLATORS, dotted_names

    root = zoo.torchvision_dir()
    if root is None:
        sys.exit("torchvision is not installed (bash scripts/setup installs it)")
    paths = zoo.classification_files(root)
    sources = [Path(p).read_text() for p in paths]
    lines = sum(s.count("\n") for s in sources)
    translated = dotted_names(paths)
    floors, ours = [], []
    for _ in range(3):  # the best of three of each: these machines are noisy
        t = time.perf_counter()
        for s in sources:
            assert cst.parse_module(s).code == s
        floors.append(time.perf_counter() - t)
        _TRANSLATORS.clear()
        t = time.perf_counter()
        todos = sum(len(translate_source(s, p, to="keras", translated=translated).todos)
                    for p, s in zip(paths, sources))
        ours.append(time.perf_counter() - t)
    floor, one = min(floors), min(ours)
    print(f"torchvision {len(paths)} files, {lines} lines, {todos} TODOs (code engine, one core)")
    print(f"floor  libcst parse+render : {floor:7.2f} s  {lines / floor:9.0f} lines/s")
    print(f"ours   translate           : {one:7.2f} s  {lines / one:9.0f} lines/s  ({one / floor:.1f}x the floor)")


def keras_applications() -> None:
    """The code engine (Keras -> PyTorch) on keras/src/applications, against the libcst parse floor."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import keras
    except ImportError:
        sys.exit("keras is not installed")
    from portmodel.keras_to_torch.code import functions as siblings
    from portmodel.torch_to_keras.api import dotted_names

    paths = sorted(str(p) for p in (Path(keras.__file__).parent / "src" / "applications").glob("*.py"))
    sources = [Path(p).read_text() for p in paths]
    lines = sum(s.count("\n") for s in sources)
    translated = set(dotted_names(paths))  # one package: resnet_v2.py uses resnet.py's port
    floors, ours = [], []
    for _ in range(3):  # the best of three of each: these machines are noisy
        t = time.perf_counter()
        for s in sources:
            cst.parse_module(s)
        floors.append(time.perf_counter() - t)
        siblings._SIBLINGS.clear()  # each repetition reads the sibling modules again, as a fresh process does
        t = time.perf_counter()
        todos = sum(len(translate_source(s, p, to="torch", engine="code", translated=translated).todos)
                    for p, s in zip(paths, sources))
        ours.append(time.perf_counter() - t)
    floor, one = min(floors), min(ours)
    print(f"keras {keras.__version__} applications: {len(paths)} files, {lines} lines, {todos} TODOs "
          f"(code engine, Keras -> PyTorch, one core)")
    print(f"floor  libcst parse        : {floor:7.2f} s  {lines / floor:9.0f} lines/s")
    print(f"ours   translate           : {one:7.2f} s  {lines / one:9.0f} lines/s  ({one / floor:.1f}x the floor)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=240)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--torchvision", action="store_true", help="the code engine on torchvision's models package")
    ap.add_argument("--keras-applications", action="store_true",
                    help="the code engine (Keras -> PyTorch) on the installed keras/src/applications folder")
    args = ap.parse_args()
    if args.keras_applications:
        keras_applications()
        return
    if args.torchvision:
        torchvision_tree()
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths = generate(Path(tmp), args.files)
        sources = [p.read_text() for p in paths]
        lines = sum(s.count("\n") for s in sources)

        t = time.perf_counter()
        for s in sources:
            assert cst.parse_module(s).code == s
        floor = time.perf_counter() - t

        t = time.perf_counter()
        todos = 0
        for p, s in zip(paths, sources):
            todos += len(translate_source(s, str(p)).todos)
        ours1 = time.perf_counter() - t

        t = time.perf_counter()
        outcomes = translate_many([str(p) for p in paths], jobs=args.jobs)
        oursn = time.perf_counter() - t
        failed = sum(o.status == "failed" for o in outcomes)

    print(f"{args.files} files, {lines} lines, {todos} TODOs, {failed} failed; {args.jobs} jobs on {os.cpu_count()} cores")
    print(f"floor  libcst parse+render, 1 core : {floor:7.2f} s  {lines / floor:9.0f} lines/s")
    print(f"ours   translate, 1 core           : {ours1:7.2f} s  {lines / ours1:9.0f} lines/s  ({ours1 / floor:.1f}x the floor)")
    print(f"ours   translate, {args.jobs} processes      : {oursn:7.2f} s  {lines / oursn:9.0f} lines/s  ({oursn / floor:.1f}x the floor, {ours1 / oursn:.2f}x faster than 1 core)")


if __name__ == "__main__":
    main()
