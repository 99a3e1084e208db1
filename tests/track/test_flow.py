"""Measured motion (avanon.track.flow): luma extraction, kernels against their NumPy twins,
global pan/zoom and per-box shifts on synthetic textured frames, the stateful estimator, and the
decoder's motion vectors."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from avanon.errors import ConfigError, PipelineError
from avanon.track import flow_kernels as K
from avanon.track.flow import (GlobalMotion, MotionEstimator, enable_motion_vectors,
                               estimate_box_shift, estimate_global_motion, luma, motion_vectors,
                               vector_shift, vectors_span_one_frame)


# -- synthetic pictures ---------------------------------------------------------------------
def sample(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear sample of ``img`` at continuous coordinates (pixel centres at i + 0.5)."""
    h, w = img.shape
    x = np.clip(x - 0.5, 0, w - 1.000001)
    y = np.clip(y - 0.5, 0, h - 1.000001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bot = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bot * fy


def texture(seed: int, h: int, w: int, cells=(48, 12, 3)) -> np.ndarray:
    """Smooth random picture with detail at several scales (float, around 128)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    out = np.full((h, w), 128.0)
    for cell, amp in zip(cells, (40, 25, 15)):
        g = rng.normal(size=(int(h / cell) + 3, int(w / cell) + 3))
        out += amp * sample(g, xx / cell + 1, yy / cell + 1)
    return out


def view(canvas: np.ndarray, w: int, h: int, dx=0.0, dy=0.0, scale=1.0) -> np.ndarray:
    """A w x h frame of ``canvas`` whose content at ``p`` comes from the reference frame's
    ``c + (p - c - (dx, dy)) / scale``: the reference frame panned by (dx, dy) and zoomed by
    ``scale`` about its centre ``c``."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    cx, cy = w / 2, h / 2
    ox, oy = (canvas.shape[1] - w) / 2, (canvas.shape[0] - h) / 2
    return sample(canvas, cx + (xx - cx - dx) / scale + ox, cy + (yy - cy - dy) / scale + oy)


def quantize(a: np.ndarray, seed: int = 0, noise: float = 1.0, bits: int = 8) -> np.ndarray:
    """Noisy integer samples of an 8-bit-scaled picture (``bits`` > 8 scales it up)."""
    a = a + np.random.default_rng(seed).normal(0, noise, a.shape)
    a = a * (1 << (bits - 8))
    return np.clip(np.round(a), 0, (1 << bits) - 1).astype(np.uint8 if bits == 8 else np.uint16)


W, H = 640, 360
CANVAS = texture(1, H + 240, W + 240)
OBJECT = texture(2, 160, 160, cells=(10, 4, 2))


def paste(img: np.ndarray, box, offset=(0.0, 0.0)) -> np.ndarray:
    """Paint the object texture into ``box`` (x0, y0, x1, y1), texture shifted by ``offset``."""
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]] + 0.5
    m = (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)
    out = img.copy()
    out[m] = sample(OBJECT, xx[m] - x0 + 20 + offset[0], yy[m] - y0 + 20 + offset[1])
    return out


def gray_frame(a: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="gray")


def yuv_frame(y: np.ndarray, fmt: str) -> av.VideoFrame:
    """A frame of format ``fmt`` whose luma plane holds ``y`` (chroma left as it comes)."""
    h, w = y.shape
    frame = av.VideoFrame(w, h, fmt)
    plane = frame.planes[0]
    dtype = np.dtype(y.dtype)
    rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
    rows[:, :w] = y << (6 if fmt.startswith("p010") else 0)
    return frame


# -- luma -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, dtype, bits", [
    ("yuv420p", np.uint8, 8), ("yuvj420p", np.uint8, 8), ("yuv422p", np.uint8, 8),
    ("yuv444p", np.uint8, 8), ("nv12", np.uint8, 8), ("gray", np.uint8, 8),
    ("yuv420p10le", np.uint16, 10), ("p010le", np.uint16, 10), ("gray10le", np.uint16, 10),
])
def test_luma_reads_plane_zero_without_padding(fmt, dtype, bits):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 1 << bits, (722, 1282)).astype(dtype)
    frame = yuv_frame(y, fmt)
    assert frame.planes[0].line_size > 1282 * np.dtype(dtype).itemsize  # padded rows
    got = luma(frame)
    assert got.dtype == dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(got, y)
    # A copy: the masker may paint the frame afterwards.
    np.frombuffer(frame.planes[0], np.uint8)[:] = 0
    np.testing.assert_array_equal(got, y)


@pytest.mark.parametrize("fmt", ["rgb24", "bgr0", "gbrp"])
def test_luma_converts_other_formats_to_gray(fmt):
    rgb = np.random.default_rng(1).integers(0, 256, (45, 67, 3), np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
    got = luma(frame)
    assert got.shape == (45, 67) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, frame.reformat(format="gray").to_ndarray())


# -- kernels against the NumPy references ---------------------------------------------------
@pytest.mark.parametrize("dtype, f, shift", [(np.uint8, 4, 0), (np.uint16, 4, 2),
                                             (np.uint16, 2, 2), (np.uint8, 3, 1)])
def test_downscale_matches_reference(dtype, f, shift):
    rng = np.random.default_rng(f)
    top = 256 if dtype == np.uint8 else 16384
    src = rng.integers(0, top, (37, 53)).astype(dtype)
    got = K.downscale(src, f, shift)
    assert got.dtype == np.uint16 and got.shape == (37 // f, 53 // f)
    np.testing.assert_array_equal(got, K.downscale_reference(src, f, shift))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_block_match_matches_reference(dtype):
    rng = np.random.default_rng(3)
    top = 256 if dtype == np.uint8 else 1024
    a = np.round(texture(3, 90, 120) * top / 256).clip(0, top - 1).astype(dtype)
    b = np.roll(a, (2, -3), axis=(0, 1))
    b = (b + rng.integers(0, 3, b.shape)).clip(0, top - 1).astype(dtype)
    rects = np.array([[10, 10, 26, 26], [0, 0, 16, 12], [100, 70, 120, 90], [40, 30, 90, 80],
                      [50, 50, 51, 51], [5, 60, 30, 64]], np.int64)
    steps = np.array([1, 1, 1, 3, 1, 2], np.int64)
    pred = np.array([[0, 0], [-1, 1], [2, -1], [-3, 2], [0, 0], [100, 0]], np.int64)
    for radius in (1, 3, 5):
        for offset in (0, 7, -3):
            got = K.block_match(a, b, rects, steps, pred, radius, offset)
            want = K.block_match_reference(a, b, rects, steps, pred, radius, offset)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    got = K.block_match(a, b, rects, steps, pred, 5, 1)
    np.testing.assert_allclose(got[0, :2], [-3, 2], atol=0.3)
    # Candidates outside the picture are skipped; the best one next to them is flagged.
    assert got[1, 4] == K.FLAG_VALID | K.FLAG_EDGE
    assert got[5, 4] == 0 and np.isinf(got[5, 2])  # no candidate inside


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_match_stopping_early_changes_nothing(seed):
    """The kernel stops adding up a candidate's rows once it cannot be the best or second
    match: on smooth and flat pictures (ties), wide windows and far predictions it still
    returns exactly what the exhaustive reference does."""
    rng = np.random.default_rng(seed)
    a = np.round(texture(seed, 120, 160, cells=(24, 8, 3))).clip(0, 255).astype(np.uint8)
    a[:, 100:] = a[:, 100:] // 32 * 32  # flat steps: many equal costs
    a[80:, :40] = 90  # one flat patch: every candidate ties
    b = np.roll(a, (rng.integers(-6, 7), rng.integers(-6, 7)), axis=(0, 1))
    b = (b.astype(np.int64) + rng.integers(-2, 3, b.shape)).clip(0, 255).astype(np.uint8)
    n = 40
    x0 = rng.integers(0, 130, n)
    y0 = rng.integers(0, 95, n)
    rects = np.stack([x0, y0, x0 + rng.integers(4, 30, n), y0 + rng.integers(4, 25, n)], 1)
    rects[:, 2] = np.minimum(rects[:, 2], 160)
    rects[:, 3] = np.minimum(rects[:, 3], 120)
    rects = np.vstack([rects, [[2, 82, 30, 110]]]).astype(np.int64)
    steps = rng.integers(1, 3, len(rects)).astype(np.int64)
    pred = rng.integers(-4, 5, (len(rects), 2)).astype(np.int64)
    for radius in (3, 8):
        got = K.block_match(a, b, rects, steps, pred, radius, 0)
        want = K.block_match_reference(a, b, rects, steps, pred, radius, 0)
        np.testing.assert_array_equal(got, want)
    # The flat patch: every candidate costs the same, and the first (row-major) one wins.
    got = K.block_match(a, a, rects[-1:], steps[-1:] * 0 + 1, np.zeros((1, 2), np.int64), 2, 0)
    assert got[0, :3].tolist() == [-2.0, -2.0, 0.0]


def test_fit_pan_zoom_matches_reference_and_rejects_outliers():
    rng = np.random.default_rng(4)
    q = rng.uniform(-300, 300, (48, 2))
    d = 0.02 * q + [3.0, -1.5] + rng.normal(0, 0.1, q.shape)
    d[:12] = rng.uniform(-20, 20, (12, 2))  # a quarter of outliers
    w = rng.uniform(0.2, 1.0, 48)
    got = K.fit_pan_zoom(q, d, w, 0.5, 6)
    np.testing.assert_allclose(got, K.fit_pan_zoom_reference(q, d, w, 0.5, 6), rtol=1e-9, atol=1e-9)
    assert abs(got[0] - 0.02) < 1e-3
    np.testing.assert_allclose(got[1:3], [3.0, -1.5], atol=0.05)
    assert 0.5 < got[4] < 0.9
    assert not K.fit_pan_zoom(q, d, np.zeros(48), 0.5, 6).any()


# -- global motion --------------------------------------------------------------------------
@pytest.mark.parametrize("dx, dy, scale", [
    (0, 0, 1.0), (3, -2, 1.0), (-7.5, 4.25, 1.0), (0.3, -0.6, 1.0), (2.0, 1.0, 1.02),
    (-1.5, 0.5, 0.97), (0, 0, 1.05),
])
def test_global_motion_recovers_pan_and_zoom(dx, dy, scale):
    a = quantize(view(CANVAS, W, H), 1)
    b = quantize(view(CANVAS, W, H, dx, dy, scale), 2)
    g = estimate_global_motion(a, b)
    assert abs(g.dx - dx) < 0.5 and abs(g.dy - dy) < 0.5
    assert abs(g.scale / scale - 1) < 0.01
    assert g.confidence > 0.3
    assert (g.cx, g.cy) == (W / 2, H / 2)


def test_global_motion_follows_a_fast_pan_at_720p():
    canvas = texture(5, 720 + 160, 1280 + 160)
    a = quantize(view(canvas, 1280, 720), 1)
    for dx, dy in ((40, -12), (-38.5, 20)):
        g = estimate_global_motion(a, quantize(view(canvas, 1280, 720, dx, dy), 2))
        assert abs(g.dx - dx) < 0.5 and abs(g.dy - dy) < 0.5 and abs(g.scale - 1) < 0.01


def test_global_motion_ignores_a_moving_object_and_is_identity_on_flat_frames():
    a = view(CANVAS, W, H)
    b = view(CANVAS, W, H, 4, -3)
    big = (200, 90, 420, 270)  # 20 % of the picture, moving differently
    g = estimate_global_motion(quantize(paste(a, big), 1), quantize(paste(b, big, (9, 9)), 2))
    assert abs(g.dx - 4) < 0.5 and abs(g.dy + 3) < 0.5 and abs(g.scale - 1) < 0.01
    flat = np.full((H, W), 90, np.uint8)
    assert estimate_global_motion(flat, flat) == GlobalMotion.identity(W, H)


@pytest.mark.parametrize("gain, offset", [(1.1, 0), (1.0, 15), (0.85, 10)])
def test_motion_survives_exposure_changes(gain, offset):
    a = quantize(view(CANVAS, W, H), 1)
    b = quantize(view(CANVAS, W, H, 3, -2) * gain + offset, 2)
    est = MotionEstimator(keep=2)
    est.push(0, a)
    est.push(1, b)
    g = est.global_motion(0, 1)
    assert abs(g.dx - 3) < 0.3 and abs(g.dy + 2) < 0.3 and g.confidence > 0.3
    boxes = np.array([[100.0, 80, 124, 104], [300, 100, 340, 140], [200, 200, 300, 300]])
    moved, conf = est.move(boxes, 0, 1)
    np.testing.assert_allclose(moved, boxes + [3, -2, 3, -2], atol=0.5)
    assert (conf > 0.25).all()


def test_global_motion_works_on_10_bit_and_small_pictures():
    a = view(CANVAS, W, H)
    b = view(CANVAS, W, H, -2.5, 1.5, 1.01)
    g = estimate_global_motion(quantize(a, 1, bits=10), quantize(b, 2, bits=10), bits=10)
    assert abs(g.dx + 2.5) < 0.5 and abs(g.dy - 1.5) < 0.5 and abs(g.scale - 1.01) < 0.005
    s = estimate_global_motion(quantize(view(CANVAS, 200, 120), 1),
                               quantize(view(CANVAS, 200, 120, 3, -2), 2))
    assert abs(s.dx - 3) < 0.5 and abs(s.dy + 2) < 0.5


# -- per-box shift --------------------------------------------------------------------------
#: Boxes and each one's own motion (the background pans by PAN).
PAN = (3.0, -1.5)
BOXES = np.array([[60, 60, 84, 84], [300, 150, 340, 190], [500, 250, 516, 266],
                  [150, 220, 250, 320]], np.float64)
MOTION = np.array([[-2.0, 1.5], [0.5, -3.25], [4.0, 4.0], [-5.5, 2.0]])


def _scene() -> tuple[np.ndarray, np.ndarray]:
    a = view(CANVAS, W, H)
    b = view(CANVAS, W, H, *PAN)
    for k, (box, m) in enumerate(zip(BOXES, MOTION)):
        a = paste(a, box, (40.0 * k, 0.0))
        b = paste(b, box + np.tile(m, 2), (40.0 * k, 0.0))
    return quantize(a, 1), quantize(b, 2)


def test_box_shift_recovers_each_box_own_motion():
    a, b = _scene()
    g = estimate_global_motion(a, b)
    assert abs(g.dx - PAN[0]) < 0.5 and abs(g.dy - PAN[1]) < 0.5
    centres = (BOXES[:, :2] + BOXES[:, 2:]) / 2
    shift, conf = estimate_box_shift(a, b, BOXES, [g.displacement(centres), np.zeros((4, 2))])
    np.testing.assert_allclose(shift, MOTION, atol=0.5)
    assert (conf > 0.3).all()


def test_estimator_moves_boxes_forward_and_backward():
    a, b = _scene()
    est = MotionEstimator(keep=3)
    est.push(10, gray_frame(a))
    est.push(11, gray_frame(b))
    fwd, cf = est.move(BOXES, 10, 11)
    np.testing.assert_allclose(fwd, BOXES + np.tile(MOTION, 2), atol=0.5)
    back, cb = est.move(fwd, 11, 10)
    np.testing.assert_allclose(back, BOXES, atol=0.5)
    assert (cf > 0.3).all() and (cb > 0.3).all()
    g, gi = est.global_motion(10, 11), est.global_motion(11, 10)
    np.testing.assert_allclose(gi.apply(g.apply(BOXES)), BOXES, atol=1e-9)


def test_a_given_prior_finds_motion_beyond_the_search_radius():
    box = np.array([[300.0, 150, 340, 190]])
    a = quantize(paste(view(CANVAS, W, H), box[0]), 1)
    b = quantize(paste(view(CANVAS, W, H), box[0] + [15, -1, 15, -1]), 2)
    est = MotionEstimator(keep=2, radius=6)
    est.push(0, a)
    est.push(1, b)
    _, conf = est.move(box, 0, 1)
    assert conf[0] < est.min_confidence  # 15 px: outside +-6 around the global motion (0)
    moved, conf = est.move(box, 0, 1, prior=np.array([[14.0, 0.0]]))
    np.testing.assert_allclose(moved, box + [15, -1, 15, -1], atol=0.5)
    assert conf[0] > 0.3


def test_box_on_background_follows_pan_and_zoom():
    a = quantize(view(CANVAS, W, H), 1)
    b = quantize(view(CANVAS, W, H, 2.0, -1.0, 1.03), 2)
    est = MotionEstimator(keep=2)
    est.push(0, a)
    est.push(1, b)
    boxes = np.array([[100.0, 80, 124, 104], [400, 200, 480, 280], [310, 170, 320, 180]])
    c = np.array([W / 2, H / 2, W / 2, H / 2])
    want = c + 1.03 * (boxes - c) + [2, -1, 2, -1]
    moved, conf = est.move(boxes, 0, 1)
    np.testing.assert_allclose(moved, want, atol=0.6)
    assert (conf > 0.25).all()


def test_flat_patches_have_low_confidence_and_follow_the_global_motion():
    a = view(CANVAS, W, H)
    b = view(CANVAS, W, H, 3, 2)
    a[100:160, 200:260] = 100  # a flat patch at (200, 100, 260, 160)
    b[102:162, 203:263] = 100
    a, b = quantize(a, 1), quantize(b, 2)
    boxes = np.array([[215.0, 115, 245, 145], [400, 200, 424, 224]])
    _, conf = estimate_box_shift(a, b, boxes, np.full((2, 2), [3.0, 2.0]))
    assert conf[0] < 0.15 < 0.3 < conf[1]
    est = MotionEstimator(keep=2)
    est.push(0, a)
    est.push(1, b)
    moved, conf = est.move(boxes, 0, 1)
    np.testing.assert_allclose(moved, boxes + [3, 2, 3, 2], atol=0.5)
    assert conf[0] < est.min_confidence


def test_boxes_outside_or_at_the_edge_and_empty_input():
    a = quantize(view(CANVAS, W, H), 1)
    b = quantize(view(CANVAS, W, H, 2, 0), 2)
    boxes = np.array([[-50.0, -50, -10, -10], [W - 10.0, 100, W + 20, 130], [0, 0, 20, 20]])
    shift, conf = estimate_box_shift(a, b, boxes, np.full((3, 2), [2.0, 0.0]))
    assert conf[0] == 0 and np.allclose(shift[0], [2, 0])
    np.testing.assert_allclose(shift[1:], [[2, 0], [2, 0]], atol=0.5)
    est = MotionEstimator(keep=2)
    est.push(0, a)
    est.push(1, b)
    moved, conf = est.move(np.zeros((0, 4)), 0, 1)
    assert moved.shape == (0, 4) and conf.shape == (0,)
    with pytest.raises(ValueError, match="boxes"):
        est.move(np.zeros((2, 3)), 0, 1)


def test_results_are_deterministic():
    a, b = _scene()
    runs = []
    for _ in range(2):
        est = MotionEstimator(keep=2)
        est.push(0, a)
        est.push(1, b)
        runs.append(est.move(BOXES, 0, 1))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


# -- the estimator's bookkeeping ------------------------------------------------------------
def test_estimator_with_10_bit_frames():
    a = quantize(view(CANVAS, W, H), 1, bits=10)
    b = quantize(view(CANVAS, W, H, -4, 2.5), 2, bits=10)
    est = MotionEstimator(keep=2)
    est.push(0, yuv_frame(a, "yuv420p10le"))
    est.push(1, yuv_frame(b, "yuv420p10le"))
    g = est.global_motion(0, 1)
    assert abs(g.dx + 4) < 0.5 and abs(g.dy - 2.5) < 0.5
    moved, conf = est.move(np.array([[100.0, 100, 130, 130]]), 0, 1)
    np.testing.assert_allclose(moved, [[96, 102.5, 126, 132.5]], atol=0.5)
    assert conf[0] > 0.3


def test_estimator_errors_and_ring_buffer():
    frame = np.zeros((40, 60), np.uint8)
    est = MotionEstimator(keep=3)
    for i in range(5):
        est.push(i, frame)
    assert est.frames == [2, 3, 4]
    with pytest.raises(PipelineError, match="frame 1 is not held"):
        est.move(np.zeros((1, 4)), 2, 1)
    with pytest.raises(PipelineError, match="frame_index > 4"):
        est.push(4, frame)
    with pytest.raises(ValueError, match="neighbouring"):
        est.move(np.zeros((1, 4)), 2, 4)
    est.push(5, np.zeros((42, 60), np.uint8))
    with pytest.raises(PipelineError, match="differ in size"):
        est.move(np.zeros((1, 4)), 4, 5)
    est.reset()
    assert est.frames == []
    est.push(6, frame)  # any index after a reset
    with pytest.raises(PipelineError, match="not held"):
        est.global_motion(6, 5)
    for bad in ({"keep": 1}, {"max_pan": 0}, {"radius": 0}, {"min_confidence": 2}, {"noise": 0}):
        with pytest.raises(ConfigError):
            MotionEstimator(**bad)


# -- decoder motion vectors -----------------------------------------------------------------
def _encode_pan(bframes: int, vx: int = 4, vy: int = -2, n: int = 10) -> bytes:
    canvas = np.clip(texture(7, 144 + 80, 192 + 80), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25,
                                options={"x264-params": f"bframes={bframes}:keyint=60",
                                         "preset": "ultrafast" if bframes == 0 else "medium"})
        stream.width, stream.height, stream.pix_fmt = 192, 144, "yuv420p"
        for i in range(n):
            # Content moves by (-vx, -vy) per frame: the camera pans by (vx, vy).
            g = canvas[40 + vy * i:40 + vy * i + 144, 40 + vx * i:40 + vx * i + 192]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(g), format="gray")
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    return buf.getvalue()


def _decode_vectors(data: bytes):
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        enable_motion_vectors(stream)
        return [(f.pict_type, motion_vectors(f), vectors_span_one_frame(f, stream))
                for f in container.decode(stream)]


def test_motion_vectors_measure_the_pan_without_b_frames():
    try:
        frames = _decode_vectors(_encode_pan(bframes=0))
    except av.error.FFmpegError as exc:  # pragma: no cover - builds without libx264
        pytest.skip(f"cannot encode H.264 here: {exc}")
    if all(v is None for _, v, _ in frames):
        pytest.skip("this PyAV/FFmpeg build exports no motion vectors")
    assert frames[0][1] is None  # the intra frame
    box = np.array([[40.0, 30, 150, 110]])
    for _, vectors, one in frames[1:]:
        assert one and vectors is not None and vectors.shape[1] == 6
        shift, support = vector_shift(vectors, box)
        np.testing.assert_allclose(shift, [[-4, 2]], atol=0.25)
        assert support[0] > 0.5
    shift, support = vector_shift(frames[1][1], np.array([[-100.0, -100, -50, -50]]))
    assert np.isnan(shift).all() and support[0] == 0


def test_motion_vectors_with_b_frames_are_flagged_unusable():
    try:
        frames = _decode_vectors(_encode_pan(bframes=3, n=12))
    except av.error.FFmpegError as exc:  # pragma: no cover
        pytest.skip(f"cannot encode H.264 here: {exc}")
    if all(v is None for _, v, _ in frames):
        pytest.skip("this PyAV/FFmpeg build exports no motion vectors")
    assert not any(one for _, _, one in frames)
    # P-frames there span several frames: their median pan is a multiple of the per-frame one.
    spans = [vector_shift(v, np.array([[40.0, 30, 150, 110]]))[0][0, 0] / -4
             for t, v, _ in frames if t == av.video.frame.PictureType.P and v is not None]
    assert spans and max(spans) >= 2 - 0.1
