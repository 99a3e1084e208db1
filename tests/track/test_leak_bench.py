"""The leak benchmark's own tools (bench/leak): camera geometry and the coverage metric."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import av
import numpy as np
import pytest

LEAK = Path(__file__).resolve().parents[2] / "bench" / "leak"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"leak_{name}", LEAK / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


seq = _load("make_sequences")
measure = _load("measure")


def test_camera_path_is_deterministic_and_stays_on_the_still():
    a = seq.camera_path("x.jpg", 500, 375)
    b = seq.camera_path("x.jpg", 500, 375)
    np.testing.assert_array_equal(a.left, b.left)
    assert seq.FPS <= len(a.scale) <= 2 * seq.FPS
    crop_w = seq.WIDTH / a.scale
    assert (a.left >= -1e-9).all() and (a.left + crop_w <= 500 + 1e-9).all()
    assert (a.top + crop_w * seq.HEIGHT / seq.WIDTH <= 375 + 1e-9).all()


@pytest.mark.parametrize("name", ["a.jpg", "b.jpg", "c.jpg"])
def test_rendered_object_lands_on_its_transformed_box(name):
    img = np.full((300, 400, 3), 60, np.uint8)
    box = np.array([[150.0, 100.0, 190.0, 150.0]])
    img[100:150, 150:190] = 250
    cam = seq.camera_path(name, 400, 300)
    for i in (0, len(cam.scale) // 2, len(cam.scale) - 1):
        out = seq.render(img, cam.left[i], cam.top[i], cam.scale[i])
        x0, y0, x1, y1 = np.clip(cam.boxes(box)[i, 0], 0, [seq.WIDTH, seq.HEIGHT] * 2)
        bright = out[..., 0] > 155
        ys, xs = np.nonzero(bright)
        assert abs(xs.min() - x0) <= 1.5 and abs(xs.max() + 1 - x1) <= 1.5
        assert abs(ys.min() - y0) <= 1.5 and abs(ys.max() + 1 - y1) <= 1.5


@pytest.mark.parametrize(
    "box, expect",
    [
        ([10, 10, 40, 40], True),
        ([-20, 10, 20, 40], True),  # exactly half in the picture
        ([-25, 10, 15, 40], False),  # less than half
        ([10, 10, 19, 40], False),  # 9 px short side
        ([150, 80, 180, 120], False),  # outside
    ],
)
def test_evaluable(box, expect):
    assert measure.evaluable(np.array(box, float), 160, 96) is expect


def _write(path: Path, frames: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.codec_context.options = {"crf": "12", "preset": "ultrafast"}
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)


def test_metric_on_an_output_masked_by_hand(tmp_path):
    w, h, n = 160, 96, 6
    boxes = {0: [[20, 20, 60, 60]] * n, 1: [[100, 30, 140, 70]] * n}
    gt = {"width": w, "height": h, "fps": 30, "frames": n, "shots": [],
          "objects": [{"id": k, "shot": 0, "first": 0, "boxes": b} for k, b in boxes.items()]}
    src = [np.full((h, w, 3), 180, np.uint8) for _ in range(n)]
    for f in src:
        f[40:50, 30:40] = 0  # already dark inside object 0: ignored, whatever the output
    out = [f.copy() for f in src]
    for i, f in enumerate(out):
        f[20:60, 20:60] = 0  # object 0 masked on every frame
        if i != 2:
            f[30:70, 100:140] = 0  # object 1 leaks on frame 2
        if i == 4:
            f[80:96, 0:32] = 0  # 512 px masked outside any box
    _write(tmp_path / "in.mp4", src)
    _write(tmp_path / "out.mp4", out)
    res = measure.evaluate(tmp_path / "in.mp4", tmp_path / "out.mp4", gt)
    assert (res.frames, res.evaluated, res.uncovered) == (6, 12, 1)
    assert res.leaked == [(2, 1)]
    assert res.frame_leak == pytest.approx(1 / 12)
    assert (res.objects, res.objects_leaked, res.object_leak) == (2, 1, 0.5)
    assert res.over_masked == pytest.approx(512 / (w * h) / n, rel=0.1)


def test_partly_masked_core_is_a_leak():
    y_in = np.full((96, 160), 200, np.uint8)
    y_out = y_in.copy()
    y_out[20:60, 20:60] = 16
    y_out[20:60, 44:60] = 200  # the right 40 % of the box (a third of its core) shows
    stats, over = measure.frame_stats(y_in, y_out, [(0, np.array([20.0, 20, 60, 60]))])
    assert stats == [(0, False)] and over == 0


def test_replay_scores_ground_truth_boxes_as_perfect():
    replay = _load("replay")
    from avanon.detections import Detections

    gt = {"width": 160, "height": 96, "fps": 30, "frames": 3, "shots": [],
          "objects": [{"id": 0, "shot": 0, "first": 0, "boxes": [[20, 20, 60, 60]] * 3}]}
    perfect = [Detections.from_boxes([[20, 20, 60, 60]], frame_index=i) for i in range(3)]
    res = replay.score(perfect, gt)
    assert (res.evaluated, res.uncovered, res.over_masked) == (3, 0, 0.0)
    missed = [perfect[0], Detections.empty(1), Detections.from_boxes([[0, 0, 80, 80]], frame_index=2)]
    res = replay.score(missed, gt)
    assert res.leaked == [(1, 0)] and res.over_masked == pytest.approx((6400 - 1600) / (160 * 96) / 3)


def test_size_buckets_and_leak_by_size():
    assert measure.size_labels((16, 24)) == ["<16", "16-24", ">=24"]
    assert [measure.size_bucket(w) for w in (10, 15.9, 16, 23.9, 24, 47, 48, 95, 96, 400)] == \
        [0, 0, 1, 1, 2, 3, 4, 4, 5, 5]
    # two frames; object 0 is 12 px wide (covered, then leaked), object 1 is 50 px (covered),
    # object 2 is 100 px and not evaluated on frame 1 (absent from the stats)
    objects = [[(0, np.array([0, 0, 12, 12.0])), (1, np.array([20, 0, 70, 30.0])),
                (2, np.array([0, 40, 100, 90.0]))]] * 2
    stats = [([(0, True), (1, True), (2, False)], 0.0), ([(0, False), (1, True)], 0.0)]
    res = measure.tally(stats, objects)
    assert res.size_evaluated == [2, 0, 0, 0, 2, 1]
    assert res.size_uncovered == [1, 0, 0, 0, 0, 1]
    assert res.size_leak == [0.5, None, None, None, 0.0, 1.0]
    assert (res.evaluated, res.uncovered) == (5, 2)  # the other metrics are unchanged
    assert measure.tally(stats).size_evaluated == [0] * 6  # no objects given: no buckets


def test_compose_moves_boxes_with_their_photos():
    rng = np.random.default_rng(0)
    sizes = [(226, 400), (180, 300), (400, 267), (280, 400), (250, 350)]  # (h, w); one too tall
    images, boxes = [], []
    for h, w in sizes:
        img = np.full((h, w, 3), 60, np.uint8)
        x0, y0 = rng.integers(0, w - 60), rng.integers(0, h - 60)
        img[y0:y0 + 40, x0:x0 + 50] = 250
        images.append(img)
        boxes.append(np.array([[x0, y0, x0 + 50, y0 + 40]], float))
    canvas, moved, owner = seq.compose(images, boxes, cols=3, cell=(400, 280))
    assert canvas.shape == (560, 1200, 3) and owner.tolist() == [0, 1, 2, 3, 4]
    for k, (x0, y0, x1, y1) in enumerate(moved):
        col, row = k % 3, k // 3
        assert col * 400 <= x0 and x1 <= (col + 1) * 400 and row * 280 <= y0 and y1 <= (row + 1) * 280
        ys, xs = np.nonzero(canvas[int(y0) - 2:int(y1) + 3, int(x0) - 2:int(x1) + 3, 0] > 155)
        # the bright patch fills the moved box (to a pixel of resampling)
        assert abs(xs.min() + int(x0) - 2 - x0) <= 1 and abs(xs.max() + 1 + int(x0) - 2 - x1) <= 1
        assert abs(ys.min() + int(y0) - 2 - y0) <= 1 and abs(ys.max() + 1 + int(y0) - 2 - y1) <= 1
    # the tall photo is shrunk to the cell height, its box with it; the others keep their scale
    assert moved[2, 3] - moved[2, 1] == pytest.approx(40 * 280 / 400)
    assert moved[0, 2] - moved[0, 0] == 50 and moved[3, 2] - moved[3, 0] == 50
    np.testing.assert_array_equal(moved[0], boxes[0][0] + [0, 27, 0, 27])  # centred: (280-226)//2


def test_mosaic_camera_stays_on_the_mosaic_and_sweeps_it():
    for k in range(4):
        cam = seq.mosaic_path(f"m/{k}", 2800, 1120, 60, (0.95, 1.3), sweep=True,
                              size=(1280, 720), vertical=(0.35, 0.65))
        assert ((cam.scale >= 0.95 - 1e-9) & (cam.scale <= 1.3 + 1e-9)).all()
        right, bottom = cam.left + 1280 / cam.scale, cam.top + 720 / cam.scale
        assert (cam.left >= -1e-9).all() and (right <= 2800 + 1e-6).all()
        assert (cam.top >= -1e-9).all() and (bottom <= 1120 + 1e-6).all()
        assert min(cam.left[0], cam.left[-1]) < 1e-6 and max(right[0], right[-1]) > 2800 - 1e-6
        vis = seq.cell_visibility(cam, 7, 4, (400, 280), (1280, 720))
        assert vis.shape == (28,) and (vis[7:21] >= 0.9).all()  # the two middle rows are seen
    # a mosaic smaller than the frame at the lowest scale raises the scale to fit
    cam = seq.mosaic_path("small", 1000, 600, 10, (0.5, 0.6), sweep=False, size=(1280, 720))
    assert (cam.scale >= 1.28 - 1e-9).all()


@pytest.mark.media
def test_crowd_sequence_shows_every_photo():
    from support import shared_media

    shared_media()
    stills = seq.crowd_stills()
    assert (len(stills), sum(len(s.boxes) for s in stills)) == (120, 852)
    shots = list(seq.crowd_shots(stills))  # raises if a photo was never in view
    assert len(shots) == seq.CROWD["shots"]
    assert {n for s in shots for n in s.info["images"]} == {s.path.name for s in stills}
