from __future__ import annotations

import math

import numpy as np
import pytest

from avanon.detect.base import ImageDetector
from avanon.detect.centerface import (CenterFaceDetector, decode_centerface,
                                      decode_centerface_batch)
from avanon.detect.runtime import to_blob

from detect_graphs import centerface_like


def test_decode_known_outputs():
    h, w = 12, 16
    heat = np.zeros((h, w), np.float32)
    scale = np.zeros((2, h, w), np.float32)
    offset = np.zeros((2, h, w), np.float32)
    heat[3, 5] = 0.9  # face A
    scale[:, 3, 5] = [math.log(10), math.log(5)]  # height 40, width 20
    offset[:, 3, 5] = [0.25, -0.5]  # y, x
    heat[3, 6] = 0.6  # a weaker neighbour of A: merged by NMS
    scale[:, 3, 6] = [math.log(10), math.log(5)]
    heat[9, 12] = 0.4  # face B
    scale[:, 9, 12] = [math.log(4), math.log(4)]
    heat[0, 0] = 0.2  # below threshold
    boxes, scores = decode_centerface(heat, scale, offset, 0.3)
    np.testing.assert_allclose(scores, [0.9, 0.4])
    cy, cx = (3 + 0.25 + 0.5) * 4, (5 - 0.5 + 0.5) * 4
    np.testing.assert_allclose(boxes[0], [cx - 10, cy - 20, cx + 10, cy + 20], atol=1e-4)
    np.testing.assert_allclose(boxes[1], [50 - 8, 38 - 8, 50 + 8, 38 + 8], atol=1e-4)


def test_decode_nothing_and_candidate_cap():
    z = np.zeros((4, 4), np.float32)
    boxes, scores = decode_centerface(z, np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), 0.3)
    assert boxes.shape == (0, 4) and scores.shape == (0,)
    heat = np.linspace(0.5, 0.9, 16, dtype=np.float32).reshape(4, 4)
    _, scores = decode_centerface(heat, np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), 0.3,
                                  max_candidates=3, nms_iou=1.01)
    np.testing.assert_allclose(sorted(scores), heat.ravel()[-3:], rtol=1e-6)


def test_batch_decode_is_decode_of_each_image():
    """Decoding a batch at once gives each image exactly what decoding it alone gives: smooth
    heat blobs with tied scores, an empty image, and an image over the candidate cap (which
    sends the whole batch through the per-image path)."""
    rng = np.random.default_rng(5)
    b, h, w = 6, 24, 24
    heat = np.zeros((b, h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in (0, 1, 3, 4, 5):
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(2, 22, 2)
            heat[i] = np.maximum(heat[i], np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 6))
    heat = heat.round(2)  # ties
    scale = rng.normal(1.5, 0.3, (b, 2, h, w)).astype(np.float32)
    offset = rng.uniform(-0.5, 0.5, (b, 2, h, w)).astype(np.float32)
    for cap in (2000, 20):
        got = decode_centerface_batch(heat, scale, offset, 0.2, max_candidates=cap)
        assert len(got) == b and len(got[2][0]) == 0
        for i, (boxes, scores) in enumerate(got):
            want = decode_centerface(heat[i], scale[i], offset[i], 0.2, max_candidates=cap)
            np.testing.assert_array_equal(boxes, want[0])
            np.testing.assert_array_equal(scores, want[1])
            assert boxes.dtype == want[0].dtype and scores.dtype == want[1].dtype


def test_blob_is_rgb_0_255_padded_to_32():
    img = np.zeros((2, 50, 70, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30
    blob = to_blob(img)
    assert blob.shape == (2, 3, 64, 96) and blob.dtype == np.float32
    assert blob[0, :, 0, 0].tolist() == [10, 20, 30]
    assert blob[1, :, 60, 90].tolist() == [0, 0, 0]


@pytest.fixture(scope="module")
def detector():
    return CenterFaceDetector(centerface_like(box_h=40, box_w=24), threads=1, grow=1.0, batch=2)


def white_block(img, i, j):
    img[i * 4 : i * 4 + 4, j * 4 : j * 4 + 4] = 255


def test_detector_end_to_end_on_a_synthetic_graph(detector):
    assert isinstance(detector, ImageDetector)
    images = np.zeros((3, 96, 128, 3), np.uint8)
    white_block(images[0], 10, 8)
    white_block(images[2], 5, 20)
    white_block(images[2], 18, 4)
    dets = detector.detect(images)  # batch 2: two inference calls
    assert [len(d) for d in dets] == [1, 0, 2]
    np.testing.assert_allclose(dets[0].xyxy, [[34 - 12, 42 - 20, 34 + 12, 42 + 20]], atol=1e-3)
    assert dets[0].class_ids.tolist() == [0]
    np.testing.assert_allclose(dets[0].scores, [1.0])
    centres = sorted(((d[0] + d[2]) / 2, (d[1] + d[3]) / 2) for d in dets[2].xyxy.tolist())
    assert centres[0][0] == pytest.approx(18) and centres[1][0] == pytest.approx(82)


def test_detector_grows_and_clips():
    det = CenterFaceDetector(centerface_like(box_h=40, box_w=24), threads=1, grow=1.5)
    img = np.zeros((1, 64, 64, 3), np.uint8)
    white_block(img[0], 1, 1)  # centre (6, 6): the grown box leaves the image
    (d,) = det.detect(img)
    np.testing.assert_allclose(d.xyxy, [[0, 0, 6 + 18, 6 + 30]], atol=1e-3)


def test_detector_pads_odd_sizes(detector):
    img = np.zeros((1, 50, 70, 3), np.uint8)
    white_block(img[0], 6, 10)
    (d,) = detector.detect(img)
    np.testing.assert_allclose(d.xyxy, [[42 - 12, 26 - 20, 42 + 12, 26 + 20]], atol=1e-3)


def test_detector_rejects_bad_images(detector):
    with pytest.raises(ValueError):
        detector.detect(np.zeros((1, 32, 32, 4), np.uint8))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((1, 32, 32, 3), np.float32))
