from __future__ import annotations

import numpy as np
from avanon.boxes import box_iou, clip_boxes, grow_boxes, nms


def test_box_iou():
    a = np.array([0, 0, 10, 10], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [1.0, 50 / 150, 0.0, 0.0])


def test_nms_keeps_best_of_each_cluster():
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5], [52, 50, 62, 60]],
        np.float32,
    )
    scores = np.array([0.5, 0.9, 0.8, 0.7, 0.3], np.float32)
    assert nms(boxes, scores, 0.3).tolist() == [1, 2]
    # A threshold above every overlap keeps all, best first.
    assert nms(boxes, scores, 1.01).tolist() == [1, 2, 3, 0, 4]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.3).tolist() == []


def test_grow_and_clip():
    b = np.array([[10, 20, 30, 60]], np.float32)
    np.testing.assert_allclose(grow_boxes(b, 1.5), [[5, 10, 35, 70]])
    np.testing.assert_allclose(grow_boxes(b, 1.0, np.array([2.0]), 4.0), [[8, 16, 32, 64]])
    np.testing.assert_allclose(clip_boxes([[-5, 10, 35, 70]], 32, 64), [[0, 10, 32, 64]])
    assert grow_boxes(np.zeros((0, 4)), 1.3).shape == (0, 4)
