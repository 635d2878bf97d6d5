"""Every PyTorch -> Keras example of every rule runs: translated, compared to its `keras:`
text when it pins one, and computed both ways on seeded inputs (max abs <= 1e-5)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from portmodel.examples import randomize_torch, torch_example_source, torch_op_source
from portmodel.loading import load_keras_port, load_torch_module
from portmodel.rulebook import load_rules
from portmodel.translate import translate_source
from portmodel.verify import make_torch_inputs, verify_torch_source
from portmodel.weights import transfer_to_keras

RULES = load_rules()
LAYER_CASES = [
    pytest.param(ex, id=f"{rule.id}-{i}")
    for rule in RULES.by_id.values()
    if rule.from_torch
    for i, ex in enumerate(rule.from_torch.examples)
]
OPS = {id(op): op for op in RULES.ops.values()}.values()
OP_CASES = [pytest.param(ex, id=f"{op.id}-{i}") for op in OPS for i, ex in enumerate(op.examples)]


def _port(source: str, shape: tuple, tmp_path):
    result = translate_source(source, "example.py", input_shape=shape, to="keras")
    assert not result.todos, [d.format() for d in result.todos]
    src, out = tmp_path / "example.py", tmp_path / "example_keras.py"
    src.write_text(source)
    out.write_text(result.code)
    torch_model = load_torch_module(f"{src}:Example")
    randomize_torch(torch_model, seed=1)
    keras_model = load_keras_port(f"{out}:Example", shape)
    transfer_to_keras(torch_model, keras_model)
    inputs = make_torch_inputs(torch_model, shape, seed=1)
    (res,) = verify_torch_source(torch_model, keras_model, inputs, atol=1e-5)
    assert res.passed, [(o.max_abs, o.max_rel) for o in res.outputs]
    return result.code


@pytest.mark.parametrize("example", LAYER_CASES)
def test_layer_example(example, tmp_path):
    code = _port(torch_example_source(example.torch), tuple(example.input), tmp_path)
    if example.keras:
        assert re.findall(r"self\.layer = (.+)", code) == [example.keras]


@pytest.mark.parametrize("example", OP_CASES)
def test_op_example(example, tmp_path):
    code = _port(torch_op_source(example.torch), tuple(example.input), tmp_path)
    if example.keras:
        assert re.findall(r"return (.+)", code) == [example.keras]


def test_every_layer_rule_with_a_torch_side_has_examples():
    assert all(rule.from_torch.examples for rule in RULES.by_id.values() if rule.from_torch)


def test_rules_claim_each_torch_class_once():
    assert len(RULES.torch_layers) == len(set(RULES.torch_layers))
    assert np.all([name[:1].isupper() for name in RULES.torch_layers])
