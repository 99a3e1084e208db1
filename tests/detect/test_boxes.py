from __future__ import annotations

import numpy as np
import pytest

from avanon.detect.boxes import box_iou, clip_boxes, grow_boxes, nms
from avanon.detect.components import component_boxes, component_boxes_reference


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


def sort_rows(result):
    boxes, sums, counts = result
    order = np.lexsort(boxes.T[::-1])
    return boxes[order], sums[order], counts[order]


@pytest.mark.parametrize("seed", range(12))
def test_components_match_reference(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 48, 2)
    mask = rng.random((h, w)) < rng.uniform(0.1, 0.7)
    prob = rng.random((h, w)).astype(np.float32)
    got = component_boxes(mask, prob)
    ref = component_boxes_reference(mask, prob)
    np.testing.assert_array_equal(got[0], ref[0])  # same raster order, no sorting needed
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-5)
    np.testing.assert_array_equal(got[2], ref[2])


def test_components_known_map():
    mask = np.zeros((8, 10), bool)
    mask[1:3, 1:4] = True  # a 3x2 block
    mask[3, 4] = True  # touches the block diagonally: same component (8-connected)
    mask[6, 0:10] = True  # a full-width line
    prob = np.where(mask, 0.5, 0.0).astype(np.float32)
    prob[1, 1] = 1.0
    boxes, sums, counts = component_boxes(mask, prob)
    assert boxes.tolist() == [[1, 1, 5, 4], [0, 6, 10, 7]]
    assert counts.tolist() == [7, 10]
    np.testing.assert_allclose(sums, [0.5 * 6 + 1.0, 5.0])
    empty = component_boxes(np.zeros((3, 3), bool), np.zeros((3, 3), np.float32))
    assert empty[0].shape == (0, 4)


def test_components_reject_mismatched_shapes():
    with pytest.raises(ValueError):
        component_boxes(np.zeros((3, 3), bool), np.zeros((3, 4), np.float32))
