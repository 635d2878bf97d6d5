"""Model-zoo helper functions (tensor in, tensor out) -> nn.Module classes: the shapes the
rewrite takes, and the ones it leaves as written. The zoo fixtures (zoo_resnet, zoo_vgg)
check goldens, numerics and weights; these check the edges."""

from __future__ import annotations

import libcst as cst
import pytest

from portmodel.keras_to_torch.helpers import attr_from_name
from portmodel.translate import translate_source

HEAD = "import keras\nfrom keras import layers\n\n\n"
BUILDER = '''

def build(shape=(8, 8, 3)):
    inputs = keras.Input(shape=shape)
    x = block(inputs, 4, name="stage1")
    x = block(x, 4, down=False, name="stage2")
    return keras.Model(inputs, layers.GlobalAveragePooling2D()(x))
'''


@pytest.mark.parametrize(
    "expr,attr",
    [('name + "_1_conv"', "conv_1"), ('name + "_0_bn"', "bn_0"), ('name + "_block" + str(i)', "block"),
     ('f"{name}_conv{i + 1}"', "conv"), ('f"{name}_pool"', "pool"), ("name", None), ('"2_x"', "x_2")],
)
def test_attribute_names_come_from_the_layer_names(expr, attr):
    assert attr_from_name(cst.parse_expression(expr)) == attr


def _translate(helper: str, engine: str = "first"):
    """The first engine's translation (the default, auto, hands files it leaves TODOs in to
    the code engine where that one leaves fewer: tested at the end of this file)."""
    return translate_source(HEAD + helper + BUILDER, "zoo.py", to="torch", engine=engine)


def test_layers_only_in_the_else_branch_are_guarded_by_the_negated_condition():
    result = _translate('''def block(x, filters, down=True, name=None):
    if down:
        y = x
    else:
        y = layers.Conv2D(filters, 1, name=name + "_proj")(x)
    return layers.Add()([y, layers.Conv2D(filters, 3, padding="same", name=name + "_conv")(x)])
''')
    assert not result.todos, [d.format() for d in result.todos]
    assert "        if not (down):\n            self.proj = nn.Conv2d(" in result.code
    assert "        if self.down:\n            y = x\n        else:\n            y = self.proj(x)" in result.code


@pytest.mark.parametrize(
    "helper,reason",
    [
        ('''def block(x, filters, down=True, name=None):
    if x.shape[1] > 4:
        x = layers.Conv2D(filters, 1, name=name + "_proj")(x)
    return x
''', "layers created under a condition on a tensor"),
        ('''def block(x, filters, down=True, name=None):
    print("building", name)
    return layers.Conv2D(filters, 1, name=name + "_conv")(x)
''', "`name` used for more than labels"),
        ('''def block(x, filters, down=True, name=None):
    for i in range(2):
        x = layers.Conv2D(filters, 1)(x)
        x = layers.ReLU()(x)
    return x
''', "a loop doing more than one layer per iteration"),
    ],
    ids=["tensor-condition", "name-read", "two-layer-loop"],
)
def test_helpers_of_other_shapes_stay_as_written(helper, reason):
    """The helper is kept verbatim and its calls are TODOs, never a wrong translation; the
    default engine (auto) gives the file to the code engine, which translates it as code."""
    result = _translate(helper)
    assert helper in result.code, reason
    assert any("call to 'block' on a tensor is not translated yet" in d.message for d in result.todos)
    auto = _translate(helper, engine="auto")
    assert len(auto.todos) < len(result.todos) and "class block(nn.Module):" in auto.code
    assert any("translated by the code engine" in d.message for d in auto.diagnostics)


def test_an_if_guarding_only_inline_layers_leaves_init_and_stays_in_forward():
    result = _translate('''def block(x, filters, down=True, name=None):
    y = layers.Conv2D(filters, 3, padding="same", name=name + "_conv")(x)
    if down:
        y = layers.Add(name=name + "_add")([x, y])
    return y
''')
    assert not result.todos, [d.format() for d in result.todos]
    init = result.code.split("def forward")[0]
    assert "if down" not in init and "pass" not in init
    assert "        if self.down:\n            y = x + y\n" in result.code


def test_per_layer_verification_finds_a_wrong_layer_inside_a_helper_module(tmp_path):
    """The port's nested modules (conv3 -> blocks.0 -> conv_2) pair with the Keras model's flat
    layers (conv3_block2_2_conv), so `verify --per-layer` names the layer that diverges."""
    import torch
    from helpers import port_models

    from portmodel.verify import verify

    keras_model, torch_model, inputs = port_models("zoo_resnet", tmp_path)
    assert verify(keras_model, torch_model, inputs, layers=True)[0].passed
    with torch.no_grad():
        torch_model.conv3.blocks[0].conv_2.weight.mul_(3.0)
    (result,) = verify(keras_model, torch_model, inputs, layers=True)
    assert result.first_divergence["layer"] == "conv3_block2_2_conv", result.first_divergence
    assert result.first_divergence["torch"] == "conv3.blocks.0.conv_2"  # the module it pairs with
