"""Generated documentation does not drift from the code."""

from helpers import ROOT

from portmodel.rulebook import load_rules
from portmodel.support import render


def test_support_table_is_generated_from_rules():
    assert (ROOT / "docs" / "support.md").read_text() == render(load_rules()), (
        "run: python -m portmodel.support > docs/support.md"
    )


def test_project_passes_ruff():
    import os
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
    proc = subprocess.run([ruff, "check", "src", "tests", "examples", "bench"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
