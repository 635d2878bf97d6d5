"""Training code (`rules/training/`, `portmodel.keras_to_torch.training`): compile/fit/evaluate/predict on a
translated model become torch.optim, loss functions and a plain training loop.

The optimizer rules are checked by stepping a Keras optimizer and its torch translation on
the same weights and gradients; the loss rules against Keras' own losses; a whole training
script is translated and run."""

from __future__ import annotations

import re
import subprocess
import sys

import libcst as cst
import numpy as np
import pytest
from helpers import ROOT

from portmodel.keras_to_torch.names import KerasNames
from portmodel.keras_to_torch.training import TrainingCode
from portmodel.rulebook import load_rules
from portmodel.translate import translate_source

RULES = load_rules()
OPTIMIZERS = {id(r): r for r in RULES.optimizers.values()}.values()
OPTIMIZER_CASES = [pytest.param(ex, id=f"{r.keras[0]}-{i}") for r in OPTIMIZERS for i, ex in enumerate(r.examples)]
LOSSES = {id(r): r for r in RULES.losses.values()}.values()
SCRIPT = ROOT / "fixtures" / "training" / "train_mlp.py"


def _training() -> TrainingCode:
    module = cst.parse_module("import keras\n")
    from libcst.metadata import MetadataWrapper

    return TrainingCode(RULES, KerasNames.for_module(MetadataWrapper(module)))


@pytest.mark.parametrize("example", OPTIMIZER_CASES)
def test_optimizer_rule_steps_like_keras(example):
    """Three steps of the Keras optimizer and of its translation, from the same weights with
    the same gradients, leave the same weights (1e-6: the epsilon placements differ)."""
    import keras
    import tensorflow as tf
    import torch

    text = _training().optimizer(cst.parse_expression(example["keras"]), "model")
    if "torch" in example:
        assert text == example["torch"]
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 3)).astype("float32")
    xs = [rng.standard_normal((5, 4)).astype("float32") for _ in range(3)]
    var = keras.Variable(w0)
    optimizer = eval(example["keras"], {"keras": keras}) if "(" in example["keras"] else keras.optimizers.get(
        example["keras"].strip("'"))
    param = torch.nn.Parameter(torch.tensor(w0))
    model = torch.nn.Module()
    model.register_parameter("w", param)
    torch_optimizer = eval(text, {"torch": torch, "model": model})
    for x in xs:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.matmul(x, var.value) - 1.0))
        optimizer.apply_gradients([(tape.gradient(loss, var.value), var)])
        torch_optimizer.zero_grad()
        ((torch.from_numpy(x) @ param - 1.0) ** 2).mean().backward()
        torch_optimizer.step()
    np.testing.assert_allclose(param.detach().numpy(), np.asarray(var.numpy()), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("rule", LOSSES, ids=lambda r: r.keras[0])
@pytest.mark.parametrize("logits", [False, True])
def test_loss_rule_matches_keras(rule, logits):
    import keras
    import torch
    import torch.nn.functional as F

    if rule.torch is not None and logits:
        pytest.skip("the same expression for logits and probabilities")
    rng = np.random.default_rng(1)
    raw = rng.standard_normal((6, 4)).astype("float32")
    binary = "binary" in rule.keras[0]
    probs = 1 / (1 + np.exp(-raw)) if binary else np.exp(raw) / np.exp(raw).sum(-1, keepdims=True)
    output = raw if logits or rule.torch else probs.astype("float32")
    if rule.target == "int64":
        target = rng.integers(0, 4, size=6)
    elif "categorical" in rule.keras[0]:
        target = np.eye(4, dtype="float32")[rng.integers(0, 4, size=6)]
    else:
        target = (rng.random((6, 4)) > 0.5).astype("float32") if binary else rng.standard_normal((6, 4)).astype("float32")
    name = rule.keras[0]
    node = cst.parse_expression(f"keras.losses.{rule.keras[-1]}(from_logits={logits})" if rule.torch is None
                                else repr(name))
    training = _training()
    fn, _, _ = training.loss(node)
    namespace = {"torch": torch, "F": F}
    exec(training.functions[fn], namespace)  # noqa: S102 - the rule's own generated function
    ours = namespace[fn](torch.from_numpy(output), torch.from_numpy(target)).item()
    keras_loss = keras.losses.get(name) if rule.torch else getattr(keras.losses, rule.keras[-1])(from_logits=logits)
    expected = float(np.mean(np.asarray(keras_loss(target, output))))
    assert abs(ours - expected) <= 1e-5 * max(1.0, abs(expected)), (ours, expected)


def test_a_training_script_is_translated_and_trains(tmp_path):
    result = translate_source(SCRIPT.read_text(), str(SCRIPT), to="torch")
    assert not result.todos, [d.format() for d in result.todos]
    assert "torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-07)" in result.code
    assert "fit(model, optimizer, loss_fn, x, y, batch_size=32, epochs=5, validation_split=0.1, metrics=metrics)" in (
        result.code)
    out = tmp_path / "train.py"
    out.write_text("import torch\ntorch.manual_seed(0)\n" + result.code)
    proc = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    losses = [float(v) for v in re.findall(r"Epoch \d+/5 - loss: ([\d.]+)", proc.stdout)]
    assert len(losses) == 5 and losses[-1] < losses[0], proc.stdout
    evaluated = re.findall(r"^\[([\d.]+), ([\d.]+)\]$", proc.stdout, re.MULTILINE)
    assert evaluated and 0.0 <= float(evaluated[0][1]) <= 1.0


@pytest.mark.parametrize(
    "call,reason",
    [
        ("model.fit(x, y, callbacks=[stop])", "fit() argument 'callbacks' is not translated yet"),
        ("model.compile(optimizer='adam', loss='mse', metrics=['mae'])", "metrics other than accuracy"),
        ("model.compile(optimizer='adagrad', loss='mse')", "optimizer adagrad has no rule"),
    ],
)
def test_training_calls_no_rule_covers_stay_as_written_under_a_todo(call, reason):
    source = SCRIPT.read_text().replace('    print(model.evaluate(x, y))\n', f"    {call}\n")
    result = translate_source(source, str(SCRIPT), to="torch")
    assert any(reason in d.message for d in result.todos), [d.message for d in result.todos]
    assert "# portmodel: TODO" in result.code and call in result.code


def test_pytorch_training_code_is_left_as_written_under_a_todo_and_the_model_still_translates():
    """A training function that builds the model (`model = Net()`) does not make Net a
    component of it: Net is ported; the optimizer and the loss get TODOs, never a rewrite."""
    path = ROOT / "fixtures" / "training" / "train_torch.py"
    result = translate_source(path.read_text(), str(path), input_shape=(8,), to="keras")
    assert "class Net(keras.Model):" in result.code and "layers.Dense(hidden)" in result.code
    messages = [d.message for d in result.todos]
    # the optimizer, the loss and loss.backward(): each statement of torch's training loop
    assert len(messages) == 3 and all("PyTorch training code, left as written" in m for m in messages), messages
    assert "optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)" in result.code


def test_keras_training_code_on_a_model_built_elsewhere_gets_a_todo():
    source = ("import keras\nfrom mymodels import build\n\n\ndef main(x, y):\n    model = build()\n"
              "    model.compile(optimizer='adam', loss='mse')\n    model.fit(x, y)\n")
    result = translate_source(source, "other.py", to="torch")
    expected = ("'model' is not built by a model of this file: its Keras training code is left as written "
                "(translate the file that builds it)")
    assert [d.message for d in result.todos] == [expected]
    assert "    model.compile(optimizer='adam', loss='mse')\n    model.fit(x, y)\n" in result.code
