from __future__ import annotations

import numpy as np
import pytest

from avanon.boxes import NMS_TABLE, box_iou, clip_boxes, grow_boxes, nms, nms_per_group


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


@pytest.mark.parametrize("per_group, groups", [(12, 30), (NMS_TABLE, 3)])
def test_nms_per_group_is_nms_of_each_group(per_group, groups):
    """The same indices, in the same order, as one nms call per group: clustered boxes with
    tied scores, groups of unequal sizes (one empty), in the padded tables and in the
    one-call-per-group path for large groups."""
    rng = np.random.default_rng(per_group)
    n = per_group * groups
    centres = rng.uniform(0, 60, (n, 2)).round()
    half = rng.uniform(2, 8, (n, 2)).round(1)
    boxes = np.hstack([centres - half, centres + half]).astype(np.float32)
    scores = rng.choice([0.3, 0.5, 0.5, 0.7, 0.9], n).astype(np.float32)
    group = rng.integers(0, groups, n)
    group[group == 1] = 2  # group 1 is empty
    for iou in (0.1, 0.3, 0.6):
        want = [np.flatnonzero(group == g)[nms(boxes[group == g], scores[group == g], iou)]
                for g in np.unique(group)]
        got = nms_per_group(boxes, scores, group, iou)
        assert got.tolist() == np.concatenate(want).tolist()
    assert nms_per_group(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), 0.3).tolist() == []


def test_grow_and_clip():
    b = np.array([[10, 20, 30, 60]], np.float32)
    np.testing.assert_allclose(grow_boxes(b, 1.5), [[5, 10, 35, 70]])
    np.testing.assert_allclose(grow_boxes(b, 1.0, np.array([2.0]), 4.0), [[8, 16, 32, 64]])
    np.testing.assert_allclose(clip_boxes([[-5, 10, 35, 70]], 32, 64), [[0, 10, 32, 64]])
    assert grow_boxes(np.zeros((0, 4)), 1.3).shape == (0, 4)
