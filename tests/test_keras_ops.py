"""keras.ops -> torch: the op rules read backwards (`portmodel.keras_to_torch.ops`). Every op example
whose pinned Keras text uses only ops with a backward reading runs the other way: the
Keras text, translated to PyTorch, computes the same on seeded inputs."""

from __future__ import annotations

import re

import numpy as np
import pytest

from portmodel.keras_to_torch.ops import keras_ops, parse_template
from portmodel.loading import import_file, load_torch_module
from portmodel.rulebook import load_rules
from portmodel.translate import translate_source
from portmodel.verify import compare

RULES = load_rules()
BACKWARD = keras_ops(RULES)
OPS = {id(op): op for op in RULES.ops.values()}.values()


def _runs_backwards(text: str) -> bool:
    names = re.findall(r"\bops\.(\w+)", text)
    return bool(names) and all(n in BACKWARD for n in names) and "keras." not in text


CASES = [pytest.param(ex, id=f"{op.id}-{i}") for op in OPS for i, ex in enumerate(op.examples)
         if ex.keras and _runs_backwards(ex.keras)]


def test_templates_read_backwards():
    name, params = parse_template("ops.mean({input}[?, axis={dim}?][?, keepdims={keepdim}?])")
    assert name == "mean"
    assert [(p.keyword, p.name, p.optional) for p in params] == [
        (None, "input", False), ("axis", "dim", True), ("keepdims", "keepdim", True)]
    assert parse_template("ops.reshape(ops.transpose({input}), (-1,))") is None
    assert len(BACKWARD) >= 25 and len(CASES) >= 7


def _check(keras_text: str, shape: tuple, tmp_path) -> str:
    """Translate a Keras `call` returning `keras_text` of `x0`, run both: the port's code."""
    source = (
        "import keras\nfrom keras import ops\n\n\nclass Example(keras.Model):\n"
        f"    def call(self, x0):\n        return {keras_text}\n"
    )
    result = translate_source(source, "example.py", input_shape=shape, to="torch")
    assert not result.todos, [d.format() for d in result.todos]
    (tmp_path / "keras_example.py").write_text(source)
    (tmp_path / "torch_example.py").write_text(result.code)
    keras_model = import_file(str(tmp_path / "keras_example.py")).Example()
    torch_model = load_torch_module(f"{tmp_path / 'torch_example.py'}:Example")
    x = np.random.default_rng(1).standard_normal((2, *shape)).astype("float32")
    assert compare(keras_model, torch_model, [x], atol=1e-5).passed, result.code
    return result.code


@pytest.mark.parametrize("example", CASES)
def test_op_example_backwards(example, tmp_path):
    """The example's pinned Keras text, ported back, computes what Keras computes."""
    shape = tuple(example.input)
    if len(shape) + 1 in (4, 5):  # the example's input is in torch layout; Keras holds channels last
        shape = (*shape[1:], shape[0])
    _check(example.keras, shape, tmp_path)


ARGS = {"input": "x0", "tensors": "[x0, ops.abs(x0)]", "other": "ops.abs(x0)"}


@pytest.mark.parametrize("name", sorted(BACKWARD))
@pytest.mark.parametrize("axis", [-1, 1])
def test_every_op_backwards_on_an_image_tensor(name, axis, tmp_path):
    """Each op with a backward reading, on a (5, 6, 4) image tensor the port holds channels
    first: the axis rewriting and the layout moves are checked against Keras itself."""
    op = BACKWARD[name]
    if name == "arange":  # TF adds no int to a float: position ids through an Embedding, in zoo_bert
        pytest.skip("ops.arange makes position ids; checked through an Embedding by the zoo_bert fixture")
    if name == "meshgrid":  # index grids from 1-D ranges (Swin's relative positions), not an image op
        pytest.skip("ops.meshgrid takes 1-D ranges; checked through torchvision's swin_t")
    args = []
    for p in op.params:
        if p.name in ARGS:
            text = ARGS[p.name]
        elif p.name in op.rule.axes or p.name == "dim":
            text = str(axis)
        elif p.optional or p.name in op.rule.keras_defaults:
            continue
        else:
            pytest.skip(f"ops.{name}: no sample for '{p.name}'")
        args.append(f"{p.keyword}={text}" if p.keyword else text)
    if name in ("log", "log2", "sqrt", "rsqrt"):  # defined for positive inputs
        args = ["ops.abs(x0) + 0.5"]
    if name == "squeeze":
        args = ["ops.expand_dims(x0, 1)", "axis=1"]
    if name == "matmul":  # (N, 1, 4) @ (N, 4, 1)
        pooled = "ops.mean(x0, axis=(1, 2))"
        args = [f"ops.expand_dims({pooled}, 1)", f"ops.expand_dims({pooled}, -1)"]
    _check(f"ops.{name}({', '.join(args)})", (5, 6, 4), tmp_path)


def test_keras_defaults_are_written_out():
    """ops.gelu is the tanh approximation unless told otherwise; ops.softmax takes the last axis."""
    source = ("import keras\nfrom keras import ops\n\n\nclass Example(keras.Model):\n"
              "    def call(self, x):\n        return ops.softmax(ops.gelu(x))\n")
    code = translate_source(source, "example.py", input_shape=(5,), to="torch").code
    assert "F.softmax(F.gelu(x, approximate='tanh'), dim=-1)" in code


def test_an_op_without_a_backward_reading_is_a_todo():
    source = ("import keras\nfrom keras import ops\n\n\nclass Example(keras.Model):\n"
              "    def call(self, x):\n        return ops.cumsum(x, axis=1)\n")
    result = translate_source(source, "example.py", input_shape=(5,), to="torch")
    assert [d.message for d in result.todos][:1] == ["keras.ops.cumsum has no rule read backwards yet (rules/ops/)"]
