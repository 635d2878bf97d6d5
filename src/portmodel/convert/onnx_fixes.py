"""Rewrites of an ONNX graph into the same function in ops the next tool handles.

Each returns notes for the report (empty when nothing was rewritten).
"""

from __future__ import annotations

import numpy as np


def _rewrite(path: str, op_type: str, replace) -> int:
    """Replace every `op_type` node of the model at `path` by `replace(model, node)`'s nodes."""
    import onnx

    model = onnx.load(path, load_external_data=False)  # external tensors stay in their files
    nodes, count = [], 0
    for node in model.graph.node:
        if node.op_type != op_type or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        count += 1
        nodes += replace(model, node)
    if count:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        onnx.save(model, path)
    return count


def replace_erfc(path: str) -> list[str]:
    """tf2onnx writes tf.math.erfc (exact GELU) as an `Erfc` node, which is not an ONNX op:
    rewrite each as 1 - Erf(x), the same function."""
    from onnx import helper, numpy_helper

    def one_minus_erf(model, node):
        erf, one = f"{node.output[0]}__erf", f"{node.output[0]}__one"
        model.graph.initializer.append(numpy_helper.from_array(np.ones((), np.float32), one))
        return [helper.make_node("Erf", [node.input[0]], [erf], name=f"{node.name}/Erf"),
                helper.make_node("Sub", [one, erf], list(node.output), name=node.name)]

    count = _rewrite(path, "Erfc", one_minus_erf)
    return [f"{count} Erfc node(s) from tf2onnx (not an ONNX op) rewritten as 1 - Erf(x)"] if count else []


def reduce_l2_as_sum(path: str) -> list[str]:
    """onnx2tf 1.28 fails on ReduceL2 (it passes a numpy integer axis to tf.norm): rewrite
    each as Sqrt(ReduceSum(x * x)), the same function, for onnx2tf only."""
    from onnx import helper, numpy_helper

    def sqrt_of_sum(model, node):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        square, total = f"{node.output[0]}__square", f"{node.output[0]}__sum"
        inputs = [square]
        if len(node.input) > 1 and node.input[1]:
            inputs.append(node.input[1])
        elif "axes" in attrs:
            axes = f"{node.output[0]}__axes"
            model.graph.initializer.append(numpy_helper.from_array(np.asarray(attrs["axes"], np.int64), axes))
            inputs.append(axes)
        keep = {"keepdims": attrs.get("keepdims", 1)}
        return [helper.make_node("Mul", [node.input[0], node.input[0]], [square], name=f"{node.name}/Square"),
                helper.make_node("ReduceSum", inputs, [total], name=f"{node.name}/Sum", **keep),
                helper.make_node("Sqrt", [total], list(node.output), name=node.name)]

    count = _rewrite(path, "ReduceL2", sqrt_of_sum)
    return [f"{count} ReduceL2 node(s) given to onnx2tf as Sqrt(ReduceSum(x * x))"] if count else []
