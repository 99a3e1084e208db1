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
