"""Rule files: schema validation with errors naming the file and key; registries refuse duplicates."""

from __future__ import annotations

import shutil

import pytest
import yaml
from helpers import ROOT

from portmodel.core.errors import RuleError
from portmodel.keras_to_torch.hooks import lowering
from portmodel.rulebook import load_rules


def _copy_rules(tmp_path):
    dst = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", dst)
    return dst


def test_all_rules_load_and_cover_the_issue_layers():
    rules = load_rules()
    required = ["Dense", "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "MaxPooling1D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Flatten", "Reshape", "Dropout", "BatchNormalization", "LayerNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "ZeroPadding2D", "UpSampling2D", "Embedding", "LSTM", "GRU", "SimpleRNN", "Bidirectional", "Add", "Concatenate", "Multiply", "Subtract", "Average"]
    assert [name for name in required if rules.layer(name) is None] == []


def test_unknown_key_names_file_and_key(tmp_path):
    root = _copy_rules(tmp_path)
    path = root / "layers" / "dense.yaml"
    data = yaml.safe_load(path.read_text())
    data["weights"]["kernel"]["permutation"] = [1, 0]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(RuleError) as err:
        load_rules.__wrapped__(str(root))
    assert "dense.yaml" in str(err.value) and "weights/kernel" in str(err.value)


def test_missing_lowering_is_an_error(tmp_path):
    root = _copy_rules(tmp_path)
    path = root / "layers" / "elu.yaml"
    path.write_text(path.read_text().replace("lower: module_same_shape", "lower: no_such_thing"))
    with pytest.raises(RuleError, match="elu.yaml: key 'lower'"):
        load_rules.__wrapped__(str(root))


def test_two_rules_claiming_one_layer(tmp_path):
    root = _copy_rules(tmp_path)
    text = (root / "layers" / "elu.yaml").read_text().replace("id: elu", "id: elu_again")
    (root / "layers" / "zz_elu.yaml").write_text(text)
    with pytest.raises(RuleError, match="'ELU' also claimed by"):
        load_rules.__wrapped__(str(root))


def test_duplicate_lowering_registration_fails():
    with pytest.raises(RuntimeError, match="registered twice"):
        lowering("conv")(lambda ctx: None)
