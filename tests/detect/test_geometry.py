from __future__ import annotations

import av
import numpy as np
import pytest

from avanon.detect.geometry import (
    detector_input,
    detector_size,
    mirror_edges,
    rotation_k,
    to_coded,
    unmirror,
    upright_size,
)


@pytest.mark.parametrize(
    "rotation, k", [(0, 0), (90, 1), (180, 2), (-180, 2), (270, 3), (-90, 3), (None, 0), (89.6, 1)]
)
def test_rotation_k(rotation, k):
    assert rotation_k(rotation) == k


@pytest.mark.parametrize(
    "w, h, size, expected",
    [
        (1920, 1080, 640, (640, 352)),
        (1080, 1920, 640, (352, 640)),
        (1280, 720, 960, (960, 544)),
        (416, 416, 640, (640, 640)),
        (4000, 100, 640, (640, 32)),  # never below one stride
    ],
)
def test_detector_size(w, h, size, expected):
    assert detector_size(w, h, size) == expected


def bbox_of(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_to_coded_inverts_rot90_on_odd_sizes(k):
    coded = np.zeros((37, 53), bool)  # H_c, W_c odd
    coded[5:12, 30:49] = True
    upright = np.rot90(coded, k)
    box_u = np.array([bbox_of(upright)], np.float32)
    uh, uw = upright.shape
    assert (uw, uh) == upright_size(53, 37, k)
    back = to_coded(box_u, (uw, uh), (53, 37), k)
    assert back.tolist() == [[30, 5, 49, 12]]


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_to_coded_undoes_the_scale(k):
    coded = np.zeros((45, 81), bool)
    coded[9:18, 27:54] = True
    upright = np.rot90(coded, k)
    uh, uw = upright.shape
    det = (uw * 2, uh * 3)  # anisotropic scale, as rounding to 32 makes
    box_u = np.array(bbox_of(upright), np.float32)
    box_det = box_u * np.array([2, 3, 2, 3], np.float32)
    back = to_coded(box_det[None], det, (81, 45), k)
    np.testing.assert_allclose(back, [[27, 9, 54, 18]], atol=1e-4)


def test_to_coded_clips_and_handles_empty():
    out = to_coded(np.array([[-10, -10, 1000, 1000]], np.float32), (64, 32), (64, 32), 0)
    assert out.tolist() == [[0, 0, 64, 32]]
    assert to_coded(np.zeros((0, 4)), (64, 32), (64, 32), 1).shape == (0, 4)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_detector_input_is_upright_and_scaled(k):
    coded = np.zeros((75, 121, 3), np.uint8)  # odd sizes, rgb24 allows them
    coded[10:30, 80:110] = (255, 0, 0)
    frame = av.VideoFrame.from_ndarray(coded, format="rgb24")
    uw, uh = upright_size(frame.width, frame.height, k)
    det = detector_size(uw, uh, 256)
    img = detector_input(frame, det, k)
    assert img.shape == (det[1], det[0], 3)
    # The red block, found in the detector image and mapped back, lands where it was.
    red = (img[..., 0] > 128) & (img[..., 1] < 100)
    back = to_coded(np.array([bbox_of(red)], np.float32), det, (121, 75), k)[0]
    np.testing.assert_allclose(back, [80, 10, 110, 30], atol=3)


def test_mirror_edges_reflects_the_picture_past_the_chosen_sides():
    img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    out, offset = mirror_edges(img, 2)
    assert out.shape == (8, 10, 3) and offset == (2, 2)
    np.testing.assert_array_equal(out[2:6, 2:8], img)
    np.testing.assert_array_equal(out[2:6, 1], img[:, 1])  # the edge column is not repeated
    np.testing.assert_array_equal(out[2:6, 0], img[:, 2])
    np.testing.assert_array_equal(out[0, 2:8], img[2])
    right, offset = mirror_edges(img, 2, (False, False, True, False))
    assert right.shape == (4, 8, 3) and offset == (0, 0)
    np.testing.assert_array_equal(right[:, 6], img[:, 4])
    big, _ = mirror_edges(img, 50)  # no more than the picture holds
    assert big.shape == (4 + 6, 6 + 6, 3)
    assert mirror_edges(img, 0)[0] is img


def test_unmirror_cuts_boxes_at_the_picture_and_drops_reflections():
    boxes = np.array([[90, 10, 130, 30],   # across the right edge: cut there
                      [2, 2, 9, 9],        # wholly in the mirror above and left
                      [20, 20, 40, 40]], np.float32)
    out, keep = unmirror(boxes, (10, 10), (100, 50))
    assert keep.tolist() == [True, False, True]
    np.testing.assert_allclose(out[keep], [[80, 0, 100, 20], [10, 10, 30, 30]])
