"""Lint: every check's examples, config, suppression, fixes, output formats, the CLI."""

from __future__ import annotations

import json
import textwrap

import pytest
from helpers import ROOT, run_cli

from portmodel.core.config import Config, load_config
from portmodel.lint import CHECKS
from portmodel.lint.docs import render as render_lint_docs
from portmodel.lint.run import lint_source


def _config(check) -> Config:
    return Config(migrated=["**"] if check.only_migrated else [], root=ROOT)


CASES = [(code, kind, i, src) for code, c in sorted(CHECKS.items()) for kind in ("VALID", "INVALID") for i, src in enumerate(getattr(c, kind))]


@pytest.mark.parametrize("code,kind,index,source", CASES, ids=[f"{c}-{k}-{i}" for c, k, i, _ in CASES])
def test_check_examples(code, kind, index, source):
    check = CHECKS[code]
    findings, _ = lint_source(source, "example.py", _config(check))
    hits = [f for f in findings if f.code == code]
    assert (len(hits) > 0) == (kind == "INVALID"), [f.format() for f in findings]


FIXES = [(code, i) for code, c in sorted(CHECKS.items()) for i in range(len(c.FIXED))]


@pytest.mark.parametrize("code,index", FIXES, ids=[f"{c}-{i}" for c, i in FIXES])
def test_safe_fixes(code, index):
    check = CHECKS[code]
    findings, fixed = lint_source(check.INVALID[index], "example.py", _config(check), fix=True)
    assert (fixed or check.INVALID[index]) == check.FIXED[index]
    assert not [f for f in findings if f.code == code and f.fix == "safe"]


def test_every_check_is_documented_and_has_examples():
    for code, check in CHECKS.items():
        doc = check.__doc__ or ""
        assert all(f"{h}:" in doc for h in ("What", "Why", "Example", "Fix")), code
        assert check.VALID and check.INVALID, code
        if check.fix == "safe":
            assert len(check.FIXED) == len(check.INVALID), code


def test_lint_docs_are_generated():
    assert (ROOT / "docs" / "lint.md").read_text() == render_lint_docs(), "run: python -m portmodel.lint.docs > docs/lint.md"


def test_suppression_comment():
    src = "from keras import layers\n\nbn = layers.BatchNormalization()  # portmodel: ignore[PM300]\nln = layers.LayerNormalization()  # portmodel: ignore\n"
    findings, _ = lint_source(src, "x.py", Config(root=ROOT))
    assert not [f for f in findings if f.code in ("PM300", "PM301")]


def test_config_selection_and_per_file_ignores(tmp_path):
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.portmodel]
        from = "keras"
        to = "torch"
        migrated = ["src/models/**"]
        enable = ["PM1", "PM3"]
        disable = ["PM302"]
        [tool.portmodel.per-file-ignores]
        "tests/**" = ["PM3"]
    """))
    cfg = load_config(tmp_path)
    assert cfg.is_migrated(str(tmp_path / "src/models/net.py")) and not cfg.is_migrated(str(tmp_path / "src/data.py"))
    src = "import tensorflow as tf\nfrom keras import layers\n\nbn = layers.BatchNormalization()\nc = layers.Conv2D(4, 3, strides=2, padding='same')\n"
    codes = {f.code for f in lint_source(src, str(tmp_path / "src/models/net.py"), cfg)[0]}
    assert codes == {"PM100", "PM101", "PM300"}
    assert {f.code for f in lint_source(src, str(tmp_path / "tests/test_x.py"), cfg)[0]} == set()


def test_bad_config_names_the_key(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.portmodel]\nmigratd = []\n")
    from portmodel.core.errors import PortmodelError

    with pytest.raises(PortmodelError, match="unknown key 'migratd'"):
        load_config(tmp_path)


def test_cli_formats_and_exit_codes(tmp_path):
    src = tmp_path / "model.py"
    src.write_text("from keras import layers\n\nbn = layers.BatchNormalization()\n")
    text = run_cli("lint", str(src), cwd=tmp_path)
    assert text.returncode == 1
    assert f"{src}:3:6: PM300 [*] BatchNorm epsilon and momentum left to the default" in text.stdout
    data = json.loads(run_cli("lint", str(src), "--format", "json", cwd=tmp_path).stdout)
    assert {d["code"] for d in data} == {"PM200", "PM300"} and data[0]["line"] == 3
    sarif = json.loads(run_cli("lint", str(src), "--format", "sarif", cwd=tmp_path).stdout)
    assert sarif["version"] == "2.1.0" and {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"PM200", "PM300"}
    gh = run_cli("lint", str(src), "--format", "github", cwd=tmp_path).stdout
    assert f"::warning file={src},line=3,col=6,title=PM300::" in gh
    fixed = run_cli("lint", str(src), "--fix", cwd=tmp_path)
    assert "layers.BatchNormalization(epsilon=0.001, momentum=0.99)" in src.read_text()
    assert fixed.returncode == 1  # PM200 (unsafe) remains
    clean = tmp_path / "clean.py"
    clean.write_text("x = 1\n")
    assert run_cli("lint", str(clean), cwd=tmp_path).returncode == 0
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    bad = run_cli("lint", str(broken), str(clean), cwd=tmp_path)
    assert bad.returncode == 2 and "broken.py" in bad.stderr


def test_unsafe_fix_translates_the_file(tmp_path):
    src = tmp_path / "m.py"
    src.write_text((ROOT / "fixtures" / "keras" / "seq_rnn.py").read_text())
    proc = run_cli("lint", str(src), "--unsafe-fixes", cwd=tmp_path)
    assert "class Rnn(nn.Module)" in src.read_text()
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_notebooks_are_linted_and_fixed_by_cell(tmp_path):
    cells = [
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": ["from keras import layers"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["%time x = 1\n", "ln = layers.LayerNormalization()"]},
    ]
    nb = tmp_path / "nb.ipynb"
    nb.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    proc = run_cli("lint", str(nb), cwd=tmp_path)
    assert f"{nb}[cell 1]:2:6: PM301 [*] LayerNorm epsilon" in proc.stdout
    run_cli("lint", str(nb), "--fix", cwd=tmp_path)
    fixed = json.loads(nb.read_text())["cells"][1]["source"]
    assert fixed == ["%time x = 1\n", "ln = layers.LayerNormalization(epsilon=0.001)"]


def test_excluded_files_are_skipped_even_when_named(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.portmodel]\nexclude = ["legacy/**"]\n')
    (tmp_path / "legacy").mkdir()
    old = tmp_path / "legacy" / "old.py"
    old.write_text("from keras import layers\n\nbn = layers.BatchNormalization()\n")
    proc = run_cli("lint", str(old), cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == ""
