"""The hooks in .pre-commit-hooks.yaml, installed with real pre-commit into a temporary repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT


def _run(cmd, cwd, env):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)


def test_hooks_run_on_a_staged_file(tmp_path):
    pre_commit = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")
    head = _run(["git", "rev-parse", "HEAD"], ROOT, os.environ)
    if head.returncode != 0:
        pytest.skip("portmodel is not a git checkout")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    repo = tmp_path / "project"
    repo.mkdir()
    _run(["git", "init", "-q"], repo, env)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {ROOT}\n  rev: {head.stdout.strip()}\n  hooks:\n  - id: portmodel-fix\n  - id: portmodel-lint\n"
    )
    (repo / "pyproject.toml").write_text('[tool.portmodel]\nfrom = "keras"\nenable = ["PM3"]\n')
    model = repo / "model.py"
    model.write_text("from keras import layers\n\nbn = layers.BatchNormalization()\nsoftmax = layers.Softmax()\n")
    install = _run([pre_commit, "install"], repo, env)
    assert install.returncode == 0, install.stdout + install.stderr
    _run(["git", "add", "."], repo, env)
    commit = _run(["git", "commit", "-q", "-m", "model"], repo, env)
    output = commit.stdout + commit.stderr
    assert commit.returncode != 0, output  # the fix hook changed the file: the commit stops
    assert "portmodel fix" in output and "Failed" in output, output
    assert model.read_text() == (
        "from keras import layers\n\n"
        "bn = layers.BatchNormalization(epsilon=0.001, momentum=0.99)\n"
        "softmax = layers.Softmax(axis=-1)\n"
    )
    _run(["git", "add", "."], repo, env)
    again = _run(["git", "commit", "-q", "-m", "model"], repo, env)
    assert again.returncode == 0, again.stdout + again.stderr  # fixed: both hooks pass
