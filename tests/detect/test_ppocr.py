from __future__ import annotations

import numpy as np
import pytest

from avanon.detect.runtime import to_blob
from avanon.detect.ppocr import PpocrDetector, decode_db, dilate2x2
from detect_graphs import ppocr_like


def expected_box(x0, y0, x1, y1, unclip=1.6, pad=0.25):
    w, h = x1 - x0, y1 - y0
    d = w * h * unclip / (2 * (w + h))
    m = d + pad * (h + 2 * d)
    return [x0 - m, y0 - m, x1 + m, y1 + m]


def test_decode_db_known_map():
    prob = np.zeros((60, 100), np.float32)
    prob[10:20, 10:50] = 0.9  # a text line
    prob[40:44, 70:74] = 0.35  # weak blob: score under the threshold
    prob[50, 5:95] = 0.9  # one pixel high: thinner than min_size even after dilation
    boxes, scores = decode_db(prob, 0.5, dilate=False)
    assert len(boxes) == 1
    np.testing.assert_allclose(scores, [0.9], rtol=1e-6)
    np.testing.assert_allclose(boxes[0], expected_box(10, 10, 50, 20), rtol=1e-5)
    # Lower threshold: the weak blob comes too, with its own mean score.
    boxes, scores = decode_db(prob, 0.3, dilate=False)
    np.testing.assert_allclose(sorted(scores), [0.35, 0.9], rtol=1e-5)


def test_decode_db_dilation_joins_characters_one_pixel_apart():
    prob = np.zeros((30, 40), np.float32)
    prob[10:20, 5:10] = 0.8
    prob[10:20, 11:16] = 0.8  # one empty column in between
    assert len(decode_db(prob, 0.5, dilate=False)[0]) == 2
    boxes, scores = decode_db(prob, 0.5, dilate=True, unclip_ratio=0.0, pad=0.0)
    assert len(boxes) == 1
    # Dilation grows blobs by one pixel up and left, and fills the gap (at probability 0).
    np.testing.assert_allclose(boxes[0], [5, 10, 17, 21])
    assert scores[0] == pytest.approx(0.8 * 100 / (12 * 11), rel=1e-5)


def test_dilate2x2_matches_opencv_semantics():
    m = np.zeros((4, 4), bool)
    m[1, 1] = True
    assert np.argwhere(dilate2x2(m)).tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]


def test_blob_normalisation_bgr():
    img = np.zeros((1, 32, 32, 3), np.uint8)
    img[..., 0] = 255  # red
    det = PpocrDetector(ppocr_like(), threads=1)
    blob = to_blob(img, scale=det._scale, bias=det._bias, channels=det._channels)
    # BGR order, (x / 255 - 0.5) / 0.5
    np.testing.assert_allclose(blob[0, :, 0, 0], [-1.0, -1.0, 1.0], atol=1e-6)


def test_detector_end_to_end_on_a_synthetic_graph():
    det = PpocrDetector(ppocr_like(), threads=1, batch=3, pad=0.0, unclip_ratio=0.0)
    images = np.zeros((2, 70, 90, 3), np.uint8)  # not multiples of 32: padded
    images[0, 20:30, 10:60] = 255
    images[1, 50:70, 60:90] = 255  # touching the bottom-right edge
    d0, d1 = det.detect(images)
    # dilation adds one pixel up/left; boxes are clipped to the image
    np.testing.assert_allclose(d0.xyxy, [[10, 20, 61, 31]], atol=1e-4)
    np.testing.assert_allclose(d1.xyxy, [[60, 50, 90, 70]], atol=1e-4)
    assert d0.class_ids.tolist() == [1] and d0.scores[0] == pytest.approx(500 / 561, rel=1e-5)


def test_detector_pads_boxes_by_their_height():
    det = PpocrDetector(ppocr_like(), threads=1, pad=0.25, unclip_ratio=0.0)
    img = np.zeros((1, 96, 128, 3), np.uint8)
    img[0, 40:56, 30:90] = 255  # 16 px high (17 after dilation)
    (d,) = det.detect(img)
    m = 0.25 * 17
    np.testing.assert_allclose(d.xyxy, [[30 - m, 40 - m, 91 + m, 57 + m]], atol=1e-4)
