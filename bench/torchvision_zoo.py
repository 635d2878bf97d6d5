"""torchvision's classification models through the code engine: the whole table.

    .venv/bin/python bench/torchvision_zoo.py [--out docs/torchvision.md] [--models resnet18,swin_t]

Translates torchvision's `models/` (and the `ops/` modules they import) as installed, then for
each model the issue names: builds torchvision's factory and the port's with weights=None,
randomises BatchNorm statistics, carries the weights with `portmodel.weights`, and compares
the outputs in eval mode on seeded inputs. Writes a Markdown table (parameters, max abs, max
rel, first diverging layer where any) and prints it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torchvision_zoo as zoo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="Markdown table to write (e.g. docs/torchvision.md)")
    ap.add_argument("--models", help="comma-separated factories (default: all)")
    args = ap.parse_args()
    wanted = set(args.models.split(",")) if args.models else None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        start = time.perf_counter()
        outcomes = zoo.translate_zoo(out, jobs=os.cpu_count() or 1)
        seconds = time.perf_counter() - start
        todos = sum(d.severity == "todo" for o in outcomes for d in o.diagnostics)
        print(f"translated {len(outcomes)} files in {seconds:.1f} s ({todos} TODO, "
              f"{sum(o.status == 'failed' for o in outcomes)} failed)")
        rows = []
        for module, factory, size in zoo.MODELS:
            if wanted and factory not in wanted:
                continue
            try:
                row = zoo.check(out, module, factory, size)
            except Exception as exc:  # noqa: BLE001 - a failing model is a row of the table
                row = {"model": factory, "input": size, "params": 0, "max_abs": float("nan"),
                       "max_rel": float("nan"), "passed": False, "first_divergence": f"{type(exc).__name__}: {exc}"[:80],
                       "seconds": 0}
            rows.append(row)
            print(_line(row), flush=True)
    table = _table(rows, len(outcomes), todos, seconds)
    if args.out:
        Path(args.out).write_text(table)
    return 0 if all(r["passed"] for r in rows) else 1


def _line(r: dict) -> str:
    verdict = "PASS" if r["passed"] else "FAIL"
    first = r["first_divergence"] or ""
    return (f"| {r['model']} | {r['input']} | {r['params']:,} | {r['max_abs']:.2e} | {r['max_rel']:.2e} | "
            f"{verdict} | {first} |")


def _table(rows: list[dict], files: int, todos: int, seconds: float) -> str:
    head = [
        "# torchvision's classification models in Keras 3",
        "",
        "Produced by `bench/torchvision_zoo.py`: torchvision 0.28.0's `models/` (and the `ops/` modules they",
        f"import) translated as installed by the code engine ({files} files, {todos} TODO outside model code,",
        f"{seconds:.0f} s on this machine); each factory built with `weights=None` in both frameworks, BatchNorm",
        "running statistics randomised, torchvision's weights carried by `portmodel.weights`, outputs compared in",
        "eval mode on seeded inputs (batch 2). Pass: max abs <= 1e-4 x max(1, |output|). `max rel` is the error",
        "relative to the output's largest magnitude (inception_v3's outputs reach 1e12 with random BatchNorm",
        "statistics and its truncated-normal initialisation, hence its large max abs).",
        "",
        "| model | input | parameters | max abs | max rel | result | first diverging layer |",
        "|---|---|---|---|---|---|---|",
    ]
    return "\n".join(head + [_line(r) for r in rows]) + "\n"


if __name__ == "__main__":
    sys.exit(main())
