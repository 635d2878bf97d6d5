"""ONNX -> Keras 3: the graph written as the source of a `keras.Model` subclass plus its weights.

The generated class reads like hand-written Keras: native layers (`Conv2D`,
`DepthwiseConv2D`, `Dense`, `BatchNormalization`, `LayerNormalization`, `Embedding`,
pooling, activations) named after the source's own layers, created in `__init__`, built at
their weights' sizes in `build`, called one statement per ONNX node in `call`, with
`keras.ops` for the rest. It is channels-last: 4-D/5-D image inputs given NCHW in ONNX
are taken NHWC (`keep_nchw` keeps them as the source has them, with one transpose inside),
and every axis argument follows the layout (see `emitter.py`). The weights are set layer by
layer (`save`), stay trainable variables, and go to `model.weights.h5`. Ops are converted by
the registry in `ops.py`; an op without a converter stops the conversion with an
`UnsupportedOp` naming the op and the node.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass

import numpy as np

from ..onnx_common import UnsupportedOp, Value, load, walk
from .emitter import Emitter, to_cf, to_cl
from .ops import CONVERTERS

__all__ = ["CONVERTERS", "KerasSource", "UnsupportedOp", "load_generated", "onnx_to_keras", "save"]


@dataclass
class KerasSource:
    code: str  # model.py
    class_name: str
    weights: dict[str, list[np.ndarray]]  # attribute -> its arrays, in the layer's `weights` order
    inputs: list[str]  # call's inputs, in ONNX input order
    input_layouts: list[str]  # "cl" where the Keras model takes the input channels-last
    output_layouts: list[str]  # "cl" where it gives the output channels-last
    ops: dict[str, int]  # ONNX op -> count, for the report
    onnx_inputs: list[str]  # the ONNX graph's input names, in order
    onnx_shapes: list[tuple]  # and their declared shapes (None: dynamic)

    def to_keras(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Inputs in the ONNX layout, as the Keras model takes them."""
        return [np.ascontiguousarray(a.transpose(to_cl(a.ndim))) if lay == "cl" else a
                for a, lay in zip(arrays, self.input_layouts)]

    def from_keras(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The Keras model's outputs in the ONNX layout."""
        return [a.transpose(to_cf(a.ndim)) if lay == "cl" else a for a, lay in zip(arrays, self.output_layouts)]


def onnx_to_keras(model, class_name: str = "Model", doc: str = "", keep_nchw: bool = False) -> KerasSource:
    """Convert an `onnx.ModelProto` or the path of an .onnx file (default domain ops) to
    Keras 3 source and its weights."""
    model, opset, base_dir = load(model)
    graph = model.graph
    e = Emitter(graph, opset, base_dir=base_dir)
    params, layouts, onnx_inputs = [], [], []
    for inp in graph.input:
        if inp.name in e.initializers:
            continue
        name = e.fresh(inp.name)
        rank = e.rank(inp.name)
        readers = e.consumers.get(inp.name, [])
        # an NCHW image is taken NHWC; an input the graph transposes first (tf2onnx's NHWC) as it is
        channels_last = (not keep_nchw and rank in (4, 5)
                         and not all(n is not None and n.op_type == "Transpose" for n in readers))
        params.append(name)
        onnx_inputs.append(inp.name)
        layouts.append("cl" if channels_last else "")
        e.values[inp.name] = Value(name, "tensor", layout=layouts[-1])
    ops = walk(e, CONVERTERS, "Keras")
    returns, out_layouts = [], []
    for o in graph.output:
        lay = e.layout(o.name)
        if keep_nchw and lay == "cl":
            lay = ""
        returns.append(e.tensor(o.name, lay) if e.get(o.name).kind == "tensor" else e.tensor(o.name))
        out_layouts.append(lay)
    code = _render(e, class_name, params, returns, doc, keep_nchw)
    shapes = [e.shape(n) or () for n in onnx_inputs]
    return KerasSource(code, class_name, e.weights, params, layouts, out_layouts, ops, onnx_inputs, shapes)


def _prune(lines: list[str], returns: list[str]) -> list[str]:
    """Statements whose results nothing reads (shape arithmetic a static reshape made
    unnecessary) are dropped."""
    used = set(re.findall(r"[A-Za-z_]\w*", " ".join(returns)))
    kept = []
    for line in reversed(lines):
        target, _, expr = line.partition(" = ")
        names = [t.strip() for t in target.split(",")]
        if not any(n in used for n in names if n != "_"):
            continue
        used |= set(re.findall(r"[A-Za-z_]\w*", expr))
        kept.append(line)
    return kept[::-1]


def _render(e: Emitter, class_name: str, params: list[str], returns: list[str], doc: str, keep_nchw: bool) -> str:
    body = _prune(e.forward_lines, returns)
    text = " ".join(body + returns)
    layout = ("Inputs and outputs keep the source's layout (NCHW images); the layers inside are channels-last."
              if keep_nchw else "Channels-last: images are taken and given NHWC.")
    lines = [f'"""{doc or "Generated by portmodel from an ONNX graph."}', "", layout, '"""', ""]
    lines += ["import math", ""] if "math." in text else []
    lines += ["import keras", "from keras import layers, ops", "", ""]
    lines += ['@keras.saving.register_keras_serializable(package="portmodel")',
              f"class {class_name}(keras.Model):", "    def __init__(self, **kwargs):",
              "        super().__init__(**kwargs)"]
    lines += [f"        {line}" for line in e.init_lines]
    lines += ["", "    def build(self, input_shape=None):", "        # each layer at its weights' sizes"]
    lines += [f"        {line}" for line in e.build_lines] or ["        pass"]
    arg = params[0] if len(params) == 1 else "inputs"
    lines += ["", f"    def call(self, {arg}):"]
    if len(params) > 1:
        lines.append(f"        {', '.join(params)} = inputs")
    lines += [f"        {line}" for line in body]
    lines.append(f"        return {', '.join(returns)}" if len(returns) == 1 else f"        return [{', '.join(returns)}]")
    out = "\n".join(lines) + "\n"
    if "layers." not in "\n".join(e.init_lines):
        out = out.replace("from keras import layers, ops\n", "from keras import ops\n")
    return out


def load_generated(path: str, class_name: str = "Model"):
    """The class `class_name` of a generated model.py, imported under a name of its own."""
    name = f"portmodel_keras_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def save(result: KerasSource, folder: str, keras_file: bool = True,
         code_name: str = "model.py") -> tuple[object, list[str], list[str]]:
    """Write the code (`code_name`) and model.weights.h5 (and model.keras where Keras can save
    the model) into `folder`: (the built model with its weights, files written, notes)."""
    import keras

    path = os.path.join(folder, code_name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(result.code)
    model = load_generated(path, result.class_name)()
    model.build(None)
    for attr in list(result.weights):
        arrays = result.weights.pop(attr)  # each array freed once Keras holds its copy
        target = getattr(model, attr)
        if isinstance(target, keras.Variable):
            target.assign(arrays[0])
        else:
            target.set_weights(arrays)
    model.save_weights(os.path.join(folder, "model.weights.h5"))
    files, notes = [code_name, "model.weights.h5"], []
    if keras_file:
        try:
            model.save(os.path.join(folder, "model.keras"))
            files.append("model.keras")
        except Exception as exc:  # noqa: BLE001 - Keras' own reason
            notes.append(f"no model.keras: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    return model, files, notes
