"""Fuzzing the translators with fresh random draws, as many as asked.

tests/test_hostile.py's fuzz tests mutate the fixtures (lines deleted, duplicated, swapped,
garbled, dedented) and require a clean PortmodelError or output that compiles, with no
"internal error" TODO. In CI they draw the same 120 examples every run (the "ci" profile in
tests/conftest.py), so CI's verdict is the code's; this script runs them on the "fuzz" profile
instead: new random examples each round, --examples per test. A failure prints Hypothesis'
shrunk example and the line to reproduce it; make it a regression test.

Usage: .venv/bin/python bench/fuzz.py [--examples 2000] [--rounds 1] [-k fuzz]
Exit status 1 when any round found a failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples drawn per test and round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("-k", default="fuzz", help="pytest -k expression choosing the tests (default: all fuzz tests)")
    args = parser.parse_args(argv)
    env = dict(os.environ, PORTMODEL_FUZZ_EXAMPLES=str(args.examples), PYTHONPATH=str(ROOT / "src"))
    failed = 0
    for round_ in range(1, args.rounds + 1):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-profile=fuzz", "-p", "no:warnings",
             "--hypothesis-show-statistics", "-k", args.k, "tests/test_hostile.py"],
            check=False, cwd=ROOT, env=env, capture_output=True, text=True,
        )
        seconds = time.perf_counter() - start
        verdict = "ok" if proc.returncode == 0 else "FAILED"
        print(f"round {round_}: {verdict}, {args.examples} examples per test, {seconds:.0f} s")
        if proc.returncode != 0:
            failed += 1
            print(proc.stdout[-8000:] + proc.stderr[-2000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
