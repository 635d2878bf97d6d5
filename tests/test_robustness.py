"""Code as the installed frameworks write it: crashes found by `bench/robustness.py`, each
pinned by a small case here, and a deterministic sample of that run (issue 17)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from portmodel.translate import translate_source

# -- 'same' padding where the input size is known at run time only --------------------------

SAME_UNKNOWN_SIZE = '''
import keras
from keras import layers


def build_model():
    input_shape = (None, None, 3)  # as keras.applications write it: a name bound to None sizes
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
    x = layers.DepthwiseConv2D(5, strides=2, padding="same")(x)
    x = layers.SeparableConv2D(6, 2, strides=(2, 3), padding="same")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    y = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    return keras.Model(inputs, y)


def build_sequence_model():
    inputs = keras.Input(shape=(None, 3))
    x = layers.Conv1D(4, 4, strides=3, padding="same")(inputs)
    return keras.Model(inputs, layers.MaxPooling1D(2, padding="same")(x))
'''


@pytest.mark.parametrize("builder, sizes", [
    ("build_model", [(33, 47), (40, 41), (64, 64), (35, 50)]),
    ("build_sequence_model", [(10,), (11,), (12,), (31,)]),
])
def test_same_padding_on_an_input_of_unknown_size_matches_keras(builder, sizes, tmp_path):
    import torch

    from portmodel.loading import load_keras, load_torch_module
    from portmodel.weights import transfer

    src = tmp_path / "same.py"
    src.write_text(SAME_UNKNOWN_SIZE)
    result = translate_source(SAME_UNKNOWN_SIZE, str(src), to="torch")
    assert not result.todos, [d.format() for d in result.todos]
    assert result.code.count("def tf_same_pad(") == 1 and "F.pad(x, pads, value=value)" in result.code
    out = tmp_path / "same_torch.py"
    out.write_text(result.code)
    keras_model = load_keras(f"{src}:{builder}")
    info = next(m for m in result.models if m.source == builder)
    torch_model = load_torch_module(f"{out}:{info.target}")
    torch_model.load_state_dict(transfer(keras_model, torch_model), strict=True)
    torch_model.eval()
    rng = np.random.default_rng(0)
    for size in sizes:  # odd and even sizes: TensorFlow's extra element moves with them
        x = rng.standard_normal((2, *size, 3)).astype("float32")
        ref = np.asarray(keras_model(x))
        images = x.ndim == 4  # the port takes and gives images channels-first, sequences as Keras does
        with torch.no_grad():
            got = torch_model(torch.from_numpy(np.moveaxis(x, -1, 1) if images else x)).numpy()
        got = np.moveaxis(got, 1, -1) if images else got
        assert got.shape == ref.shape, size
        assert np.abs(got - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max()), size


def test_a_builder_whose_parameters_are_one_per_line_gives_valid_python():
    source = '''
import keras
from keras import layers


def Net(
    classes=10,
    width=8,
):
    inputs = keras.Input(shape=(8, 8, 3))
    x = layers.Conv2D(width, 3)(inputs)
    return keras.Model(inputs, layers.Dense(classes)(layers.Flatten()(x)))
'''
    result = translate_source(source, "net.py", to="torch")
    compile(result.code, "net.py", "exec")
    assert "def __init__(self, classes=10, width=8):" in result.code


def test_a_keyword_only_training_argument_is_dropped_from_forward():
    """keras/src/utils/torch_utils.py: `def call(self, *args, training=None, **kwargs)`."""
    source = '''
import keras


class Wrap(keras.layers.Layer):
    def call(self, *args, training=None, **kwargs):
        if training is False:
            return args[0]
        return args[0] * 2


class Only(keras.layers.Layer):
    def call(self, x, *, training=False, mask=None):
        return x if training else x * 2
'''
    code = translate_source(source, "wrap.py", to="torch", engine="first").code
    compile(code, "wrap.py", "exec")
    assert "def forward(self, *args, **kwargs):" in code and "if self.training is False:" in code
    assert "def forward(self, x):" in code


# -- a sample of bench/robustness.py: the installed frameworks' own code ---------------------

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def robustness(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # spawned workers import it from there too
    import robustness

    return robustness


def test_the_sample_is_the_same_whichever_packages_are_installed(robustness, monkeypatch):
    """torchvision may be missing (CI installs it later): its files drop out and no other
    file's membership changes. Packages are found by folder, never imported."""
    everything = robustness.sample(robustness.corpus_files(), every=6, max_lines=1500)
    real = robustness.package_root
    monkeypatch.setattr(robustness, "package_root", lambda name: None if name == "torchvision" else real(name))
    without = robustness.sample(robustness.corpus_files(), every=6, max_lines=1500)
    assert without == [f for f in everything if "torchvision" not in f.parts]
    assert robustness.sample(robustness.corpus_files(), every=6, max_lines=1500) == without  # deterministic


def test_a_sample_of_the_installed_frameworks_translates_and_lints_cleanly(robustness):
    """One file in six of keras/src, torch/nn, torch/ao/nn, torchvision and onnx (files of
    1,500 lines at most; about 250, under a minute on 2 cores), each translated both ways and
    linted both ways in a worker process: no crash (nor 'internal error' TODO), no file over
    60 s, every output compiles. The whole corpus: `python bench/robustness.py`."""
    files = robustness.sample(robustness.corpus_files(), every=6, max_lines=1500)
    assert len(files) >= 150, len(files)
    results = robustness.run(files, jobs=2, timeout=60)
    assert len(results) == len(files)
    problems = [f"{p.kind} {r.path} [{p.stage}] {p.message}" for r in results for p in r.problems if p.kind != "rejected"]
    assert not problems, "\n".join(problems)


def test_a_constructor_default_without_the_framework_installed_is_unknown_not_a_crash(monkeypatch):
    """The static translation reads a default from the framework where two uses of one
    constructor differ in a keyword only one writes; `pip install portmodel` alone has no
    Keras: that default is unknown (the use stays a TODO), never an ImportError."""
    from portmodel.keras_to_torch import variants

    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(variants, "quiet_import", missing)
    variants._default.cache_clear()
    try:
        assert variants._default("layers.Conv2D", "padding") is None
    finally:
        variants._default.cache_clear()  # the next reader finds Keras again
