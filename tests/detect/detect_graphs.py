"""Tiny ONNX graphs built with onnx.helper, standing in for the real detector models."""

from __future__ import annotations

import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the detect unit tests build ONNX graphs with onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

OPSET = [helper.make_opsetid("", 13)]


def _model(nodes, inputs, outputs, inits=()) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _const(name: str, value) -> "onnx.TensorProto":
    return numpy_helper.from_array(np.asarray(value, np.float32), name)


def centerface_like(box_h: float = 40.0, box_w: float = 24.0) -> bytes:
    """A CenterFace stand-in: heatmap = 4x4 average of the red channel / 255.

    A white 4x4 block on cell (i, j) gives heatmap 1 there, so the decoded face is centred on
    ``((j + .5) * 4, (i + .5) * 4)`` with size ``box_w x box_h``. Offsets and landmarks are 0.
    """
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["B", 3, "H", "W"])
    outs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["B", c, "h", "w"])
        for n, c in (("537", 1), ("538", 2), ("539", 2), ("540", 10))
    ]
    inits = [
        _const("inv255", 1 / 255.0),
        _const("zero", 0.0),
        # per-channel constants broadcast over (B, C, h, w)
        _const("logs", np.array([math.log(box_h / 4), math.log(box_w / 4)]).reshape(1, 2, 1, 1)),
        _const("zeros2", np.zeros((1, 2, 1, 1))),
        _const("zeros10", np.zeros((1, 10, 1, 1))),
        numpy_helper.from_array(np.array([0], np.int64), "s0"),
        numpy_helper.from_array(np.array([1], np.int64), "s1"),
        numpy_helper.from_array(np.array([1], np.int64), "ax1"),
    ]
    nodes = [
        helper.make_node("Slice", ["input.1", "s0", "s1", "ax1"], ["red"]),
        helper.make_node("AveragePool", ["red"], ["pool"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Mul", ["pool", "inv255"], ["537"]),
        helper.make_node("Mul", ["537", "zero"], ["z"]),
        helper.make_node("Add", ["z", "logs"], ["538"]),
        helper.make_node("Add", ["z", "zeros2"], ["539"]),
        helper.make_node("Add", ["z", "zeros10"], ["540"]),
    ]
    return _model(nodes, [x], outs, inits)


def ppocr_like() -> bytes:
    """A PP-OCR det stand-in: probability = mean over channels of the normalised input, to 0..1.

    With the default normalisation ((x/255 - .5) / .5) a white pixel gives 1, black 0.
    """
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 3, "H", "W"])
    y = helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["B", 1, "H", "W"])
    inits = [_const("one", 1.0), _const("half", 0.5)]
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Add", ["m", "one"], ["m1"]),
        helper.make_node("Mul", ["m1", "half"], ["prob"]),
    ]
    return _model(nodes, [x], [y], inits)


def constant_outputs(input_name: str, outputs: dict[str, np.ndarray]) -> bytes:
    """A graph that ignores its [B, 3, H, W] input (beyond using it) and returns constants."""
    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["B", 3, "H", "W"])
    nodes = [helper.make_node("ReduceMean", [input_name], ["m"], axes=[1, 2, 3], keepdims=0)]
    nodes.append(helper.make_node("Mul", ["m", "zero"], ["z"]))  # (B,)
    nodes.append(helper.make_node("Reshape", ["z", "shape3"], ["z3"]))  # (B, 1, 1)
    inits = [
        _const("zero", 0.0),
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape3"),
    ]
    outs = []
    for name, value in outputs.items():
        value = np.asarray(value, np.float32)
        inits.append(_const(name + "_c", value))
        nodes.append(helper.make_node("Add", ["z3", name + "_c"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["B", *value.shape[1:]]))
    return _model(nodes, [x], outs, inits)
