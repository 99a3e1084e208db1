from __future__ import annotations

import numpy as np
import pytest

from avanon.detect.components import component_boxes, component_boxes_reference


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
