"""Hostile and broken input: clean one-line errors, no crash, nothing executed, nothing written."""

from __future__ import annotations

import pytest
from helpers import FIXTURES, ROOT, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portmodel.core.config import Config
from portmodel.core.errors import PortmodelError
from portmodel.lint.run import lint_source
from portmodel.translate import translate_source

DIGITS = ROOT / "examples" / "digits"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("import keras\nx = " + "(" * 3000 + "1" + ")" * 3000 + "\n", "too many nested parentheses"),
        ("import keras\nx = " + "[" * 500 + "]" * 500 + "\n", "too many nested parentheses"),
    ],
    ids=["parentheses", "lists"],
)
def test_deeply_nested_source_is_an_error_not_a_crash(tmp_path, text, expected):
    src = tmp_path / "deep.py"
    src.write_text(text)
    out = tmp_path / "out.py"
    proc = run_cli("translate", str(src), "-o", str(out))
    assert proc.returncode == 2 and f"{src}:2: syntax error: {expected}" in proc.stderr
    assert not out.exists()
    assert run_cli("lint", str(src)).returncode == 2


def test_non_utf8_source(tmp_path):
    src = tmp_path / "latin1.py"
    src.write_bytes(b"import keras\nname = '\xe9t\xe9'\n")
    proc = run_cli("translate", str(src), "-o", str(tmp_path / "out.py"))
    assert proc.returncode == 2 and "not UTF-8 text (byte 21); re-encode it as UTF-8" in proc.stderr
    assert not (tmp_path / "out.py").exists()


def test_enormous_source_is_refused_quickly(tmp_path):
    """A 5 MB file (a model with megabytes of generated data) is refused, not parsed for minutes."""
    src = tmp_path / "huge.py"
    src.write_text("import keras\n" + "WEIGHTS = [" + "0.5, " * 1_000_000 + "]\n")
    out = tmp_path / "out.py"
    proc = run_cli("translate", str(src), "-o", str(out), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{src}: file too large to translate (5.0 MB, the limit is 4 MB); split it or exclude it" in proc.stderr
    assert not out.exists()
    proc = run_cli("lint", str(src), timeout=60)
    assert proc.returncode == 2 and "file too large to translate" in proc.stderr


def test_code_in_the_model_file_is_never_run(tmp_path):
    marker = tmp_path / "PWNED"
    src = tmp_path / "evil.py"
    src.write_text(
        "import keras\nfrom keras import layers\n"
        f"__import__('pathlib').Path({str(marker)!r}).touch()\n"
        f"exec(\"open({str(marker)!r}, 'w')\")\n\n\n"
        "def build():\n    i = keras.Input((4,))\n    return keras.Model(i, layers.Dense(eval('2'))(i))\n"
    )
    proc = run_cli("translate", str(src), "-o", str(tmp_path / "out.py"), "--engine", "first")
    run_cli("lint", str(src))
    assert not marker.exists()
    assert "argument 'units' is not a constant the translator can read" in proc.stderr


def test_pickled_checkpoint_with_code_is_refused(tmp_path):
    import torch

    model_py = tmp_path / "model.py"
    assert run_cli("translate", str(DIGITS / "keras_model.py"), "-o", str(model_py)).returncode == 0
    evil = tmp_path / "evil.pt"
    torch.save({"weights": PortmodelError("an arbitrary object")}, evil)  # needs unpickling code
    out = tmp_path / "back.weights.h5"
    proc = run_cli(
        "weights", str(evil), "--to", "keras", "--model", f"{model_py}:DigitsCnn",
        "--source", f"keras:{DIGITS / 'keras_model.py'}:build_model", "-o", str(out),
    )
    assert proc.returncode == 2 and f"{evil}: cannot read the checkpoint (corrupt or unsafe?)" in proc.stderr
    assert "if you trust the file, --trust-checkpoint loads it (unpickling can run code)" in proc.stderr
    assert not out.exists()


NET = """
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)
"""


def test_whole_pickled_module_loads_only_when_trusted(tmp_path):
    """`torch.save(model)` (the module pickled, class and all) is refused by default and read
    with --trust-checkpoint, which says so; its state_dict is what gets converted."""
    import subprocess
    import sys

    (tmp_path / "net.py").write_text(NET)
    subprocess.run(
        [sys.executable, "-c", "import torch, net; torch.manual_seed(1); torch.save(net.Net(), 'whole.pt')"],
        cwd=tmp_path, check=True,
    )
    assert run_cli("translate", str(tmp_path / "net.py"), "--to", "keras", "--input-shape", "4",
                   "-o", str(tmp_path / "port.py")).returncode == 0
    out = tmp_path / "net.weights.h5"
    args = ("weights", "whole.pt", "--to", "keras", "--source", "torch:net.py:Net", "--model", "port.py:Net",
            "--input-shape", "4", "-o", str(out))
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2 and "--trust-checkpoint" in proc.stderr and not out.exists()
    proc = run_cli(*args, "--trust-checkpoint", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "whole.pt: loading with --trust-checkpoint (code in the file can run)" in proc.stderr
    proc = run_cli("verify", "--source", "torch:net.py:Net", "--weights", "whole.pt", "--target", "keras:port.py:Net",
                   "--target-weights", str(out), "--input-shape", "4", "--trust-checkpoint", cwd=tmp_path)
    assert proc.returncode == 0 and "PASS" in proc.stdout, proc.stdout + proc.stderr


def test_truncated_safetensors(tmp_path):
    model_py = tmp_path / "model.py"
    assert run_cli("translate", str(DIGITS / "keras_model.py"), "-o", str(model_py)).returncode == 0
    good = tmp_path / "w.safetensors"
    assert run_cli("weights", str(DIGITS / "digits.keras"), "--model", f"{model_py}:DigitsCnn", "-o", str(good)).returncode == 0
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(good.read_bytes()[:1000])
    proc = run_cli(
        "verify", "--source", f"keras:{DIGITS / 'keras_model.py'}:build_model", "--weights", str(DIGITS / "digits.keras"),
        "--target", f"torch:{model_py}:DigitsCnn", "--target-weights", str(bad),
    )
    assert proc.returncode == 2 and f"{bad}: cannot read the checkpoint" in proc.stderr


def test_output_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run_cli("translate", str(FIXTURES / "seq_mlp.py"), "-o", str(blocker / "out.py"))
    assert proc.returncode == 2 and "cannot write output folder" in proc.stderr


SOURCES = [p.read_text() for p in sorted(FIXTURES.glob("*.py"))]


@st.composite
def mutated_sources(draw, sources=None):
    lines = draw(st.sampled_from(sources or SOURCES)).splitlines(True)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "garble", "dedent"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "garble":
            pos = draw(st.integers(0, max(len(lines[i]) - 1, 0)))
            lines[i] = lines[i][:pos] + draw(st.sampled_from(["(", ")", "[", ",", "x", "3", "'", ":", "\\"])) + lines[i][pos:]
        else:
            lines[i] = lines[i].lstrip()
    return "".join(lines)


TORCH_SOURCES = [p.read_text() for p in sorted((ROOT / "fixtures" / "torch").glob("*.py"))]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated_sources(TORCH_SOURCES))
def test_fuzz_torch_translation_never_crashes(source):
    """PyTorch input, mutated: a clean PortmodelError, or Keras output that compiles. The translator turns
    an exception of its own into an "internal error" TODO (the user's file is kept): none may appear."""
    try:
        result = translate_source(source, "fuzz.py", input_shape=(3, 16, 16), to="keras")
    except PortmodelError:
        return
    assert not [d.format() for d in result.todos if "internal error" in d.message]
    compile(result.code, "fuzz_port.py", "exec")


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated_sources())
def test_fuzz_translate_and_lint_never_crash(source):
    """Any input: a clean PortmodelError, or output that compiles (and no "internal error" TODO, as above)."""
    try:
        result = translate_source(source, "fuzz.py", input_shape=(8, 8, 3))
    except PortmodelError:
        return
    assert not [d.format() for d in result.todos if "internal error" in d.message]
    compile(result.code, "fuzz_port.py", "exec")
    findings, _ = lint_source(source, "fuzz.py", Config(root=ROOT))
    assert all(f.line >= 1 for f in findings)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated_sources())
def test_fuzz_code_engine_never_crashes(source):
    """Keras input, mutated, through the code-directed engine alone (`auto` reaches it only where the
    first engine leaves a TODO): a clean PortmodelError, or output that compiles."""
    try:
        result = translate_source(source, "fuzz.py", to="torch", engine="code")
    except PortmodelError:
        return
    assert not [d.format() for d in result.todos if "internal error" in d.message]
    compile(result.code, "fuzz_port.py", "exec")


def test_a_sequential_with_too_many_positional_arguments_is_a_todo():
    """Found by bench/fuzz.py: `keras.Sequential([...], a, b, c)` (a list's closing bracket moved)
    indexed past Sequential's three positional parameters."""
    source = ("import keras\nfrom keras import layers\n\n\ndef build():\n"
              "    return keras.Sequential([layers.Dense(2)], False, 'm', layers.Dense(3))\n")
    result = translate_source(source, "m.py", input_shape=(4,), engine="first")
    assert any("at most 3 positional" in d.message for d in result.todos)


BACKSLASH_LAST = """
from torch import nn


class Block(nn.Sequential):
    def __init__(self, cin, cout, kernel_size=3, stride=1, groups=1):
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(cin, cout, kernel_size, stride, padding, groups=groups, bias=False),
            nn.ReLU6(inplace=True)
        )\\


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = Block(3, 8)

    def forward(self, x):
        return self.body(x)
"""


def test_a_method_ending_in_a_backslash_continuation_translates():
    """Found by bench/fuzz.py: a method whose last line is continued by a backslash onto the blank line
    after it is valid Python; its code cut out and stripped was not (and the translator crashed)."""
    result = translate_source(BACKSLASH_LAST, "bs.py", input_shape=(3, 16, 16), to="keras")
    compile(result.code, "bs_port.py", "exec")
    assert not result.todos and "class Net" in result.code


SELF_BUILDING = """
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.inner = Block(c)

    def forward(self, x):
        return self.inner(self.conv(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block(3)

    def forward(self, x):
        return self.block(x)
"""


def test_a_class_that_builds_itself_translates_as_code():
    """Found by the PyTorch fuzz test run longer (a mutated densenet.py whose Transition builds
    a Transition): the first translator followed the construction until Python's recursion
    limit. Translated as code, the class is written once, as the original is (building it
    recurses in Keras as it does in torch), with no internal error."""
    result = translate_source(SELF_BUILDING, "rec.py", input_shape=(3, 8, 8), to="keras")
    compile(result.code, "rec_port.py", "exec")
    assert not [d for d in result.diagnostics if "internal error" in d.message]
    assert "class Block(keras.Model)" in result.code or "class Block(keras.layers.Layer)" in result.code


def test_a_multi_line_element_the_translator_cannot_read_stays_valid_python():
    """Found by the fuzz test: a Sequential element spread over lines (two string literals)
    once broke its TODO comment over two lines; the port must still parse."""
    source = (
        'import keras\n\n\ndef build():\n    return keras.Sequential(\n        [\n'
        '            keras.Input(shape=(7, 4)),\n            keras.layers.LSTM(4),\n'
        '"""one."""\n"""two."""\n        ]\n    )\n'
    )
    result = translate_source(source, "odd.py", to="torch")
    compile(result.code, "odd_port.py", "exec")
    assert any("is not a Keras layer" in d.message and "\n" not in d.message for d in result.todos)
