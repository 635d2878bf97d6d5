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
