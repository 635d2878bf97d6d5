"""Name resolution: import table for speed, libcst scopes where an alias is rebound."""

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper

from portmodel.keras_to_torch.names import ImportTable, KerasNames
from portmodel.translate import translate_source


def _calls(src: str):
    wrapper = MetadataWrapper(cst.parse_module(src))
    names = KerasNames.for_module(wrapper)
    calls = []
    stack = [wrapper.module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            calls.append(node)
        stack.extend(node.children)
    return names, {cst.Module([]).code_for_node(c.func): names.of(c.func) for c in calls}


def test_aliases_resolve_to_canonical_keras_names():
    src = (
        "import tensorflow as tf\nfrom tensorflow.keras import layers as L\nfrom keras.layers import Dense as D\n"
        "import keras\n\na = tf.keras.layers.Conv2D(1, 1)\nb = L.Flatten()\nc = D(3)\nd = keras.models.Sequential()\n"
    )
    names, found = _calls(src)
    assert isinstance(names._table, ImportTable)
    assert found == {
        "tf.keras.layers.Conv2D": "keras.layers.Conv2D",
        "L.Flatten": "keras.layers.Flatten",
        "D": "keras.layers.Dense",
        "keras.models.Sequential": "keras.Sequential",
    }


def test_rebound_alias_uses_scope_analysis():
    """An alias rebound in a function hides the import there only (Python's scoping, read by
    the import table); rebound at module level, the order things run decides, and libcst's
    scope analysis answers."""
    src = (
        "from keras import layers\n\n\ndef helper():\n    layers = []\n    layers.append(1)\n    return layers\n\n\n"
        "x = layers.Dense(2)\n"
    )
    names, found = _calls(src)
    assert names._table is not None
    assert found == {"layers.append": None, "layers.Dense": "keras.layers.Dense"}
    names, found = _calls("from keras import layers\n\nx = layers.Dense(2)\nlayers = []\nlayers.append(1)\n")
    assert names._table is None  # fell back to QualifiedNameProvider
    assert found["layers.Dense"] == "keras.layers.Dense"


@pytest.mark.parametrize("src", [
    "def f(layers=layers.Dense(1)):\n    return layers.Conv2D(1)\n",  # a default is read where the def is
    "def f():\n    return [layers.Conv2D(1) for layers in layers.Dense(1)]\n",  # the first iterable too
    "def f():\n    def g():\n        return layers.Conv2D(1)\n    layers = 1\n",  # a closure reads f's local
    "class C:\n    def m(self, layers):\n        return layers.Conv2D(1)\n",
    "f = lambda layers: layers.Conv2D(1)\n",
    "def f():\n    with open('x') as layers:\n        return layers.Conv2D(1)\n",
])
def test_reads_a_local_binding_hides_are_not_keras(src):
    names, found = _calls("from keras import layers\n\n" + src)
    assert names._table is not None
    assert "layers.Conv2D" in found and found["layers.Conv2D"] is None
    assert found.get("layers.Dense", "keras.layers.Dense") == "keras.layers.Dense"


def test_keras_internal_imports_as_keras_applications_writes_them():
    """keras.applications imports Keras' internals (`from keras.src import layers`) and builds
    `Functional(inputs, x)`: the same names as the public API (it used to be 'unchanged')."""
    source = (
        "from keras.src import layers\nfrom keras.src.models import Functional\n\n\n"
        "def build(classes=3):\n    inputs = layers.Input(shape=(6,))\n"
        "    x = layers.Dense(classes, name='predictions')(inputs)\n    return Functional(inputs, x, name='tiny')\n"
    )
    result = translate_source(source, "tiny.py", to="torch")
    assert result.status == "converted" and not result.todos, [d.format() for d in result.todos]
    assert "self.predictions = nn.Linear(6, classes)" in result.code


@pytest.mark.parametrize(
    "expr,value",
    [('f"stage{i + 1}"', "stage3"), ('name + "_block" + str(i)', "conv2_block2"), ("int(width * 1.5)", 12),
     ("max(8, width // 4)", 8), ('f"{width:03d}"', None), ("str(x)", None)],
)
def test_static_values_of_names_built_in_loops(expr, value):
    from portmodel.core.static_eval import UNKNOWN, static_eval

    got = static_eval(cst.parse_expression(expr), {"i": 2, "name": "conv2", "width": 8})
    assert got == value if value is not None else got is UNKNOWN
