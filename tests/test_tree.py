"""Whole-tree translation: recursion, .gitignore, parallel workers, failures skipped, report, notebooks."""

from __future__ import annotations

import json
import shutil
import subprocess

from helpers import FIXTURES, run_cli


def _tree(tmp_path):
    src = tmp_path / "src"
    (src / "models").mkdir(parents=True)
    for name in ("seq_mlp", "func_resnet", "func_rnn"):
        shutil.copy(FIXTURES / f"{name}.py", src / "models" / f"{name}.py")
    (src / "utils.py").write_text("import os\n\n\ndef here():\n    return os.getcwd()  # not model code\n")
    (src / "broken.py").write_text("import keras\n\ndef build(:\n")
    (src / "ignored").mkdir()
    (src / "ignored" / "gen.py").write_text("import keras\nm = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])\n")
    (src / ".gitignore").write_text("ignored/\n")
    subprocess.run(["git", "init", "-q"], cwd=src, check=True)
    return src


def test_tree_translation(tmp_path):
    src = _tree(tmp_path)
    out = tmp_path / "ported"
    report = tmp_path / "report.json"
    proc = run_cli("translate", str(src), "--to", "torch", "-o", str(out), "--jobs", "2", "--report", str(report))
    assert proc.returncode == 2  # one file failed to parse ...
    assert f"{src / 'broken.py'}:3: syntax error" in proc.stderr
    assert (out / "models" / "func_resnet.py").read_text().count("nn.Module") == 1  # ... the rest translated
    assert (out / "utils.py").read_bytes() == (src / "utils.py").read_bytes()  # non-model code byte-identical
    assert not (out / "broken.py").exists() and not (out / "ignored").exists()
    rep = json.loads(report.read_text())
    assert rep["files"] == 5 and rep["converted"] == 3 and rep["failed"][0]["path"] == str(src / "broken.py")
    assert rep["percent_translated"] == 100.0 and rep["layers_translated"] > 10
    assert "4 file(s)" not in proc.stderr and "3 converted" in proc.stderr


def test_check_and_diff_on_a_tree(tmp_path):
    src = _tree(tmp_path)
    (src / "broken.py").unlink()
    check = run_cli("translate", str(src), "--check")
    assert check.returncode == 1
    diff = run_cli("translate", str(src), "--diff")
    assert diff.returncode == 0 and "+class TinyResnet(nn.Module):" in diff.stdout


def test_notebook_cells_are_translated(tmp_path):
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# A notebook"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["%matplotlib inline\n", "import keras\n", "from keras import layers"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["def build_model():\n", "    inputs = keras.Input(shape=(4,))\n",
                    "    return keras.Model(inputs, layers.Dense(2)(inputs))"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": ["model = build_model()"]},
    ]
    nb = tmp_path / "nb.ipynb"
    nb.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    out = tmp_path / "out"
    proc = run_cli("translate", str(nb), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    ported = json.loads((out / "nb.ipynb").read_text())
    code = ["".join(c["source"]) for c in ported["cells"]]
    assert code[0] == "# A notebook"
    assert code[1] == "%matplotlib inline\nfrom torch import nn"
    assert "class Model(nn.Module):" in code[2] and "nn.Linear(4, 2)" in code[2]
    assert code[3] == "model = build_model()"


# -- one file's failure stays that file's (issue 17) ------------------------------------------

# The CLI with a bug planted in the translator and the linter for files named `boom*`: what a
# user meets when portmodel itself fails on one file of many.
_WITH_A_BUG = """
import sys

import portmodel.lint.run as lint_run
import portmodel.translate as translate


def planted(real):
    def call(source, path, *args, **kwargs):
        if "boom" in str(path):
            raise TypeError("unsupported operand type(s) for /: 'planted' and 'int'")
        return real(source, path, *args, **kwargs)
    return call


translate.translate_source = planted(translate.translate_source)
lint_run._lint = planted(lint_run._lint)
from portmodel.cli import main

sys.exit(main(sys.argv[1:]))
"""


def _cli_with_a_bug(*args: str) -> subprocess.CompletedProcess:
    import os
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", _WITH_A_BUG, *args], capture_output=True, text=True,
                          env=env, timeout=300, stdin=subprocess.DEVNULL, check=False)


def _notebook(path, code: str) -> None:
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": [code]}
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def _tree_with_a_bug(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("seq_mlp", "func_resnet", "func_rnn"):
        shutil.copy(FIXTURES / f"{name}.py", src / f"{name}.py")
    shutil.copy(FIXTURES / "seq_mlp.py", src / "boom.py")
    _notebook(src / "boom_nb.ipynb", "import keras\nm = keras.Sequential([keras.layers.Dense(1)])\n")
    return src


def test_an_internal_error_fails_its_file_only(tmp_path):
    src = _tree_with_a_bug(tmp_path)
    out, report = tmp_path / "out", tmp_path / "report.json"
    proc = _cli_with_a_bug("translate", str(src), "--to", "torch", "-o", str(out), "--jobs", "2", "--report", str(report))
    assert proc.returncode == 2, proc.stderr  # an error, not 1 ("findings") nor a traceback's exit
    for bad in ("boom.py", "boom_nb.ipynb"):
        assert (f"portmodel: error: {src / bad}: internal error: TypeError: unsupported operand type(s) for /: "
                "'planted' and 'int' (please report)") in proc.stderr
        assert not (out / bad).exists()
    assert "Traceback" not in proc.stderr  # one line per file; the traceback is behind --verbose
    assert sorted(p.name for p in out.iterdir()) == ["func_resnet.py", "func_rnn.py", "seq_mlp.py"]
    assert "5 file(s): 3 converted, 0 unchanged, 2 failed" in proc.stderr
    rep = json.loads(report.read_text())
    assert [f["path"] for f in rep["failed"]] == [str(src / "boom.py"), str(src / "boom_nb.ipynb")]
    assert "in call\nTypeError: unsupported operand" in rep["failed"][0]["traceback"]  # where it was raised

    verbose = _cli_with_a_bug("translate", str(src / "boom.py"), "--to", "torch", "--verbose")
    assert verbose.returncode == 2
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.count("internal error: TypeError") == 1 and "1 failed" in verbose.stderr


def test_an_internal_error_in_lint_fails_its_file_only(tmp_path):
    src = _tree_with_a_bug(tmp_path)
    proc = _cli_with_a_bug("lint", str(src), "--format", "json")
    assert proc.returncode == 2
    for bad in ("boom.py", "boom_nb.ipynb"):
        assert f"portmodel: error: {src / bad}: internal error: TypeError:" in proc.stderr
    linted = {f["path"] for f in json.loads(proc.stdout)}
    assert str(src / "func_resnet.py") in linted and "Traceback" not in proc.stderr
    assert "Traceback" in _cli_with_a_bug("lint", str(src / "boom.py"), "-v").stderr


def _installed(package: str):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec(package)  # finds the folder, imports nothing
    return Path(spec.submodule_search_locations[0])


def test_keras_applications_translate_as_a_tree(tmp_path):
    """The first case of issue 17, as a new user runs it: keras' own applications folder
    (inside this project's ignored .venv when it is there, so named explicitly it is walked)."""
    apps = _installed("keras") / "src" / "applications"
    out = tmp_path / "out"
    proc = run_cli("translate", str(apps), "--to", "torch", "-o", str(out), "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr and " 0 failed" in proc.stderr
    n = len(list(apps.glob("*.py")))
    assert n > 10 and len(list(out.glob("*.py"))) == n
    assert f"portmodel: {n} file(s)" in proc.stderr


def test_a_named_folder_is_walked_even_where_gitignore_excludes_it(tmp_path):
    repo = tmp_path / "project"
    pkg = repo / ".venv" / "lib" / "pkg"
    pkg.mkdir(parents=True)
    shutil.copy(FIXTURES / "seq_mlp.py", pkg / "model.py")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "cached.py").write_text("x = 1\n")
    shutil.copy(FIXTURES / "seq_mlp.py", repo / "main.py")
    (repo / ".gitignore").write_text(".venv/\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    out = tmp_path / "out"
    proc = run_cli("translate", str(pkg), "--to", "torch", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "nn.Module" in (out / "model.py").read_text() and not (out / "__pycache__").exists()
    assert "1 file(s): 1 converted" in proc.stderr
    # a walk from the project still leaves the ignored folder out
    whole = run_cli("translate", str(repo), "--to", "torch", "-o", str(tmp_path / "whole"))
    assert whole.returncode == 0 and "1 file(s)" in whole.stderr, whole.stderr


def test_a_folder_without_python_files_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "README.md").write_text("no code here\n")
    for command in (["translate", str(empty), "--to", "torch", "-o", str(tmp_path / "out")], ["lint", str(empty)]):
        proc = run_cli(*command)
        assert proc.returncode == 2
        assert proc.stderr.strip() == f"portmodel: error: {empty}: no Python file (.py, .ipynb) in this folder or below it"
        assert "100.0%" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_nothing_translated_is_never_100_percent(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "utils.py").write_text("import os\n\n\ndef here():\n    return os.getcwd()\n")
    report = tmp_path / "report.json"
    proc = run_cli("translate", str(src), "--to", "torch", "-o", str(tmp_path / "out"), "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith("1 file(s): 0 converted, 1 unchanged, 0 failed; 0 layers, 0 TODO(s); nothing translated")
    assert json.loads(report.read_text())["percent_translated"] is None
