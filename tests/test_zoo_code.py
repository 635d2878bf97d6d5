"""How keras.applications-style code is read: sizes computed by pure functions and from
tensor shapes, one class for uses that need different constructors, builder `if`s, stage
loops whose inputs grow. The zoo fixtures (zoo_densenet, zoo_mobilenet_v2, zoo_efficientnet,
zoo_bert) check goldens, numerics and weights end to end; these check each piece."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import numpy as np
import pytest
import torch

from portmodel.core.static_eval import UNKNOWN, Shaped, SymFloat, SymInt, run_pure, static_eval
from portmodel.keras_to_torch.variants import merge
from portmodel.translate import translate_source

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras"


def _fixture_function(fixture: str, name: str) -> cst.FunctionDef:
    """A function as the zoo fixture writes it (keras.applications' own text)."""
    module = cst.parse_module((FIXTURES / f"{fixture}.py").read_text())
    return next(s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == name)


def _channels_last(node: cst.Call):
    return "channels_last" if cst.Module([]).code_for_node(node.func).endswith("image_data_format") else UNKNOWN


def _fn(text: str) -> cst.FunctionDef:
    return cst.parse_module(text).body[0]


@pytest.mark.parametrize("v", [16, 24, 37.5, 3, 100])
def test_pure_functions_are_run_as_python_runs_them(v):
    fn = _fixture_function("zoo_mobilenet_v2", "_make_divisible")
    namespace: dict = {}
    exec(cst.Module([fn]).code, namespace)  # noqa: S102 - the reference: the fixture's own function
    assert run_pure(fn, [v, 8], {}, {}) == namespace["_make_divisible"](v, 8)


@pytest.mark.parametrize("size,kernel,pads", [(16, 3, ((0, 1), (0, 1))), (15, 3, ((1, 1), (1, 1))), (8, 5, ((1, 2), (1, 2)))])
def test_a_function_reading_a_tensor_shape_gets_the_shape(size, kernel, pads):
    fn = _fixture_function("zoo_efficientnet", "correct_pad")
    assert run_pure(fn, [Shaped((None, size, size, 4)), kernel], {}, {}, _channels_last) == pads


def test_functions_doing_more_than_arithmetic_are_unknown():
    assert run_pure(_fn("def f(x):\n    print(x)\n    return x\n"), [1], {}, {}) is UNKNOWN
    assert run_pure(_fn("def f(x):\n    for i in x:\n        pass\n    return 1\n"), [(1,)], {}, {}) is UNKNOWN


@pytest.mark.parametrize(
    "expr,value",
    [("3 if fmt == 'channels_last' else 1", 3), ("0 < r <= 1", True), ("a and b", 0), ("sum(s[0] for s in S)", 3),
     ("[s[1] for s in S if s[0] > 1]", [5]), ("shape[1:3]", (4, 5)), ("isinstance(k, int)", True), ("chr(97 + 1)", "b")],
)
def test_static_expressions(expr, value):
    env = {"fmt": "channels_last", "r": 0.25, "a": 0, "b": 2, "S": ((1, 4), (2, 5)), "shape": (None, 4, 5, 6), "k": 3}
    assert static_eval(cst.parse_expression(expr), env) == value


def test_sizes_computed_from_named_arguments_stay_expressions():
    env = {"filters_in": SymInt(16, "filters_in"), "se_ratio": SymFloat(0.25, "se_ratio")}
    value = static_eval(cst.parse_expression("max(1, int(filters_in * se_ratio))"), env)
    assert (int(value), value.code) == (4, "max(1, int(filters_in * se_ratio))")


def _class(text: str) -> cst.ClassDef:
    return cst.parse_module(text).body[0]


SOURCE = _class('''class Block(layers.Layer):
    def __init__(self, kernel_size, strides, expand):
        super().__init__()
        if expand:
            self.expand = layers.Conv2D(8, 1)
        if strides == 2:
            self.pad = layers.ZeroPadding2D(correct_pad(x, kernel_size))
        self.dw = layers.DepthwiseConv2D(kernel_size, strides=strides)

    def call(self, x):
        if self.expand:
            x = self.expand(x)
        x = self.dw(x)
        return x
''')


def _texts(*lines: str) -> list[str]:
    return [f"class Block(nn.Module):\n    def __init__(self):\n        {line}\n" for line in lines]


def test_uses_differing_in_one_argument_get_a_condition_on_the_argument_that_decides_it():
    values = [{"kernel_size": 3, "strides": 1, "expand": 0}, {"kernel_size": 3, "strides": 2, "expand": 6},
              {"kernel_size": 5, "strides": 2, "expand": 6}]
    texts = _texts("self.dw = nn.Conv2d(in_channels, in_channels, padding=1)", "self.dw = nn.Conv2d(8, 8)",
                   "self.dw = nn.Conv2d(8, 8)")
    # the input size is decided by `if expand:`, the padding (absent: torch's default 0) by strides
    assert "self.dw = nn.Conv2d(8 if expand else in_channels, 8 if expand else in_channels, padding=1 if strides == 1 else 0)" \
        in merge(texts, values, SOURCE)


def test_a_layer_is_explained_by_what_its_construction_reads_first():
    values = [{"kernel_size": 3, "strides": 2, "expand": 0}, {"kernel_size": 5, "strides": 2, "expand": 6}]
    texts = _texts("self.pad = nn.ZeroPad2d((0, 1, 0, 1))", "self.pad = nn.ZeroPad2d((1, 2, 1, 2))")
    # `expand` separates the two uses as well; the padding reads kernel_size
    assert "nn.ZeroPad2d((0, 1, 0, 1) if kernel_size == 3 else (1, 2, 1, 2))" in merge(texts, values, SOURCE)


def test_a_condition_several_constructors_share_is_computed_once():
    values = [{"kernel_size": 3, "strides": 1, "expand": 0}, {"kernel_size": 3, "strides": 1, "expand": 6}]
    texts = [f"class Block(nn.Module):\n    def __init__(self, in_channels):\n        super().__init__()\n"
             f"        self.dw = nn.Conv2d({c}, {c}, groups={c})\n        self.bn = nn.BatchNorm2d({c})\n"
             for c in ("in_channels", "6 * in_channels")]
    merged = merge(texts, values, SOURCE)
    assert "        super().__init__()\n        channels = 6 * in_channels if expand else in_channels\n" in merged
    assert "self.dw = nn.Conv2d(channels, channels, groups=channels)\n        self.bn = nn.BatchNorm2d(channels)" in merged


def test_more_than_two_versions_of_an_argument_are_not_merged():
    values = [{"kernel_size": k, "strides": 1, "expand": 0} for k in (3, 5, 7)]
    texts = _texts(*(f"self.dw = nn.Conv2d(8, 8, kernel_size={k})" for k in (3, 5, 7)))
    assert merge(texts, values, SOURCE) is None


HEAD = "import keras\nfrom keras import backend, layers, ops\n\n\n"


def _translate(text: str, engine: str = "first", **kw):
    """The first engine's translation: these are its patterns (the default, auto, may hand a
    file it leaves TODOs in to the code engine)."""
    return translate_source(HEAD + text, "zoo.py", to="torch", engine=engine, **kw)


def test_a_dense_block_loop_writes_the_growing_input_as_a_step():
    result = _translate('''def conv_block(x, growth_rate, name):
    x1 = layers.Conv2D(growth_rate, 3, padding="same", name=name + "_conv")(x)
    return layers.Concatenate(name=name + "_concat")([x, x1])


def dense_block(x, blocks, name):
    for i in range(blocks):
        x = conv_block(x, 4, name=name + "_block" + str(i + 1))
    return x


def build():
    inputs = keras.Input(shape=(8, 8, 3))
    x = dense_block(inputs, 3, name="conv2")
    x = dense_block(x, 2, name="conv3")
    return keras.Model(inputs, layers.GlobalAveragePooling2D()(x))
''')
    assert not result.todos, [d.format() for d in result.todos]
    assert "nn.ModuleList([ConvBlock(in_channels + 4 * i, 4) for i in range(blocks)])" in result.code
    assert "self.conv3 = DenseBlock(15, 2)" in result.code  # 3 + 3 * 4 channels after conv2


def test_an_if_computing_sizes_in_a_builder_moves_to_init_and_names_them():
    result = _translate('''def build(alpha=1.0):
    inputs = keras.Input(shape=(8, 8, 3))
    # wider than 8 only when alpha says so
    if alpha > 1.0:
        width = int(8 * alpha)
    else:
        width = 8
    x = layers.Conv2D(width, 3)(inputs)
    return keras.Model(inputs, layers.Dense(2)(layers.Flatten()(x)))
''')
    assert not result.todos, [d.format() for d in result.todos]
    assert "        # wider than 8 only when alpha says so\n        if alpha > 1.0:\n" in result.code
    assert "nn.Conv2d(3, width, kernel_size=3)" in result.code


def test_an_if_choosing_layers_in_a_builder_is_read_for_the_default_arguments_with_a_note():
    result = _translate('''def build(include_top=True):
    inputs = keras.Input(shape=(6,))
    x = layers.Dense(4)(inputs)
    if include_top:
        x = layers.Dense(2, name="top")(x)
    return keras.Model(inputs, x)
''')
    assert not result.todos
    assert "self.top = nn.Linear(4, 2)" in result.code
    assert any(d.code == "PM002" and "include_top" in d.message for d in result.diagnostics)


def test_functional_merge_forms_are_layers():
    result = _translate('''def build():
    a = keras.Input(shape=(4,))
    b = layers.Dense(4)(a)
    return keras.Model(a, layers.multiply([layers.add([a, b]), b]))
''')
    assert not result.todos, [d.format() for d in result.todos]
    assert "        b = self.dense(a)\n        return (a + b) * b\n" in result.code


BLOCK_ON_CHANNELS = '''def block(x, filters, name=None):
    in_channels = x.shape[-1]
    if in_channels != filters:
        x = layers.Conv2D(filters, 1, name=name + "_proj")(x)
    return x


def build():
    inputs = keras.Input(shape=(8, 8, 3))
    return keras.Model(inputs, block(inputs, 4, name="b"))
'''


def test_a_weighted_layer_under_a_condition_on_the_input_shape_is_not_hoisted():
    result = _translate(BLOCK_ON_CHANNELS)
    assert "def block(x, filters, name=None):" in result.code  # left as written, the call a TODO
    assert result.todos
    auto = translate_source(HEAD + BLOCK_ON_CHANNELS, "zoo.py", to="torch")  # the code engine: channels are code
    assert not auto.todos and "if in_channels != filters:" in auto.code and "class block(nn.Module):" in auto.code


def test_shape_reads_in_call_are_written_for_the_ports_layout():
    result = _translate('''class Gate(layers.Layer):
    def __init__(self):
        super().__init__()
        self.norm = layers.BatchNormalization()

    def call(self, x):
        channels = x.shape[-1]
        height = x.shape[1]
        if x.shape[2] > 4 and channels < height:
            x = self.norm(x)
        return x
''', input_shape=[6, 5, 3])
    assert "channels = x.shape[1]" in result.code
    assert "height = x.shape[2]" in result.code
    assert "if x.shape[3] > 4 and channels < height:" in result.code


def test_position_ids_without_a_batch_axis_follow_embeddings_only():
    ok = _translate('''class Embed(layers.Layer):
    def __init__(self):
        super().__init__()
        self.pos = layers.Embedding(10, 4)

    def call(self, x):
        return x + self.pos(ops.arange(ops.shape(x)[1]))
''', input_shape=[6, 4])
    assert not ok.todos, [d.format() for d in ok.todos]
    assert "x + self.pos(torch.arange(x.shape[1]))" in ok.code
    refused = _translate('''class Embed(layers.Layer):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(4)

    def call(self, x):
        return x + self.dense(ops.arange(6))
''', input_shape=[6, 4])
    assert any("without a batch axis" in d.message for d in refused.todos)


@pytest.mark.parametrize("rank", [2, 3, 4])
def test_per_sample_dropout_drops_whole_samples_and_rescales(rank):
    """Dropout(noise_shape=(None, 1, ...)) -> torch's channel dropout on an added axis."""
    from portmodel.keras_to_torch.hooks.core import dropout  # noqa: F401 - the lowering under test

    noise = "(None" + ", 1" * (rank - 1) + ")"
    result = _translate(f'''def build():
    inputs = keras.Input(shape={(3,) * (rank - 1)})
    return keras.Model(inputs, layers.Dropout(0.5, noise_shape={noise})(inputs))
''')
    assert not result.todos, [d.format() for d in result.todos]
    namespace: dict = {}
    exec(result.code, namespace)  # noqa: S102 - the port just generated
    model = namespace["Build"]().train()
    torch.manual_seed(0)
    out = model(torch.ones((64, *(3,) * (rank - 1)))).reshape(64, -1).numpy()
    per_sample = {tuple(np.unique(row)) for row in out}
    assert per_sample <= {(0.0,), (2.0,)} and len(per_sample) == 2


def test_an_argument_an_inline_layer_reads_in_forward_is_kept_as_an_attribute():
    result = _translate('''def build(rate=0.2):
    inputs = keras.Input(shape=(4, 4, 3))
    return keras.Model(inputs, layers.Dropout(rate, noise_shape=(None, 1, 1, 1))(inputs))
''')
    assert not result.todos, [d.format() for d in result.todos]
    assert "        self.rate = rate\n" in result.code
    assert "F.dropout3d(inputs.unsqueeze(1), self.rate, self.training)" in result.code


def test_a_function_calling_itself_is_not_a_size():
    result = _translate('''def f(n):
    return f(n) + f(n)


def build():
    inputs = keras.Input(shape=(4,))
    return keras.Model(inputs, layers.Dense(f(3))(inputs))
''')
    assert any("not a constant" in d.message for d in result.todos), [d.format() for d in result.todos]
