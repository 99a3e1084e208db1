from __future__ import annotations

import numpy as np

from avanon.detect.clpr import ClprDetector, decode_priors, prior_boxes
from detect_graphs import constant_outputs


def test_prior_boxes_count_and_order():
    p = prior_boxes(64, 96)
    assert p.shape == ((8 * 12 + 4 * 6 + 2 * 3) * 2, 4)
    # stride 8 first, row-major cells, the two sizes of a cell next to each other
    assert p[:3].tolist() == [[4, 4, 24, 24], [4, 4, 48, 48], [12, 4, 24, 24]]
    assert p[2 * 12].tolist() == [4, 12, 24, 24]  # first cell of the second row
    assert p[192].tolist() == [8, 8, 96, 96]  # stride 16 starts after 8*12 cells * 2 sizes
    assert p[-1].tolist() == [80, 48, 768, 768]
    assert not p.flags.writeable


def test_decode_priors():
    priors = np.array([[50, 40, 20, 10]], np.float32)
    np.testing.assert_allclose(decode_priors(np.zeros((1, 4)), priors), [[40, 35, 60, 45]])
    loc = np.array([[1.0, -1.0, np.log(2) / 0.2, 0.0]])
    np.testing.assert_allclose(decode_priors(loc, priors), [[32, 34, 72, 44]], rtol=1e-5)


def test_detector_on_a_synthetic_graph():
    n = len(prior_boxes(64, 96))
    loc = np.zeros((1, n, 4), np.float32)
    conf = np.tile(np.array([0.99, 0.01], np.float32), (1, n, 1))
    i = (4 * 12 + 6) * 2  # stride 8, row 4, column 6, size 24: centre (52, 36)
    conf[0, i] = [0.1, 0.9]
    loc[0, i, 0] = 0.5  # centre shifts right by 0.5 * 0.1 * 24
    conf[0, i + 2] = [0.3, 0.7]  # the next cell's 24 px prior overlaps it: suppressed by NMS
    conf[0, 0] = [0.6, 0.4]  # under the threshold
    graph = constant_outputs("image", {"loc": loc, "conf": conf,
                                       "landms": np.zeros((1, n, 8), np.float32)})
    det = ClprDetector(graph, threads=1, threshold=0.5, pad=0.1)
    (d,) = det.detect(np.zeros((1, 64, 96, 3), np.uint8))
    cx = 52 + 1.2
    np.testing.assert_allclose(
        d.xyxy, [[cx - 12 - 2.4, 36 - 12 - 2.4, cx + 12 + 2.4, 36 + 12 + 2.4]], atol=1e-4
    )
    np.testing.assert_allclose(d.scores, [0.9])
    assert d.class_ids.tolist() == [1]
