"""Still parts of a picture: only what changed since it was last examined is examined again."""

from __future__ import annotations

import av
import numpy as np
import pytest

from avanon.detect import DetectConfig, DetectStage
from avanon.detect.still import CELL, MARGIN_CELLS, StillRegions
from avanon.detections import Detections

from support import RedFinder


def picture(h=360, w=640, seed=0):
    """A textured still picture (luma 40..200)."""
    rng = np.random.default_rng(seed)
    return rng.integers(40, 200, (h, w), dtype=np.uint8)


def boxes(xyxy):
    return Detections.from_boxes(np.asarray(xyxy, np.float32), [0.9] * len(xyxy), 0)


def test_nothing_changed_nothing_to_examine_and_a_change_is_examined_with_a_margin():
    still, y = StillRegions(), picture()
    assert still.plan("k", y) is None  # nothing remembered yet: the whole frame
    still.settle("k", None, boxes([[10, 10, 50, 40]]))
    plan = still.plan("k", y.copy())
    assert plan.shape == (0, 4)
    assert still.settle("k", plan, Detections.empty()).xyxy.tolist() == [[10, 10, 50, 40]]
    y2 = y.copy()
    y2[200:230, 400:440] = 255  # something new, 30 x 40 px
    (x0, y0, x1, y1), = still.plan("k", y2)
    m = MARGIN_CELLS * CELL
    assert x0 <= 400 - m + CELL and y0 <= 200 - m + CELL and x1 >= 440 + m - CELL and y1 >= 230 + m - CELL
    assert (x1 - x0) * (y1 - y0) < 0.2 * 640 * 360
    # examined now: the same picture again is still
    assert still.plan("k", y2).shape == (0, 4)


def test_a_slow_drift_adds_up_against_what_was_last_examined():
    still, y = StillRegions(), picture()
    still.plan("k", y)
    still.settle("k", None, Detections.empty())
    y1 = y.copy()
    y1[96:160, 320:384] += 1  # one code per step: under the noise bar
    assert still.plan("k", y1).shape == (0, 4)
    y2 = y1.copy()
    y2[96:160, 320:384] += 1  # two codes since the last look
    (x0, y0, x1, y1_), = still.plan("k", y2)
    assert x0 <= 320 and y0 <= 96 and x1 >= 384 and y1_ >= 160


def test_most_of_the_picture_changed_or_a_new_layout_means_the_whole_frame():
    still, y = StillRegions(), picture()
    still.plan("k", y)
    still.settle("k", None, Detections.empty())
    assert still.plan("k", picture(seed=1)) is None  # a pan: everything moved
    assert still.plan("k", picture(h=368)) is None  # another size
    assert still.plan("k", picture(), whole=True) is None
    assert still.plan("other", picture()) is None  # each layout remembers its own


def test_earlier_boxes_inside_an_examined_part_are_replaced_the_others_stand():
    still, y = StillRegions(), picture()
    still.plan("k", y)
    still.settle("k", None, boxes([[300, 150, 340, 180],    # in the changed part
                                   [200, 150, 330, 180],    # partly in it
                                   [10, 10, 50, 40]]))      # far away
    y2 = y.copy()
    y2[150:180, 300:340] = 0  # the first object left
    plan = still.plan("k", y2)
    standing = still.settle("k", plan, boxes([[500, 300, 520, 310]]))
    assert sorted(standing.xyxy.tolist()) == [[10, 10, 50, 40], [200, 150, 330, 180],
                                              [500, 300, 520, 310]]


def rgb_frame(img: np.ndarray, pts: int) -> av.VideoFrame:
    f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
    f.pts = pts
    return f


@pytest.mark.parametrize("rotation", [0, 90])
def test_the_stage_examines_only_changed_parts_and_finds_what_appears_there(rotation):
    finder = RedFinder()
    stage = DetectStage(DetectConfig(det_size=320), rotation, detectors=[finder])
    rng = np.random.default_rng(3)
    base = rng.integers(0, 100, (360, 640, 3), dtype=np.uint8)  # no red in it
    img = base.copy()
    img[40:80, 60:120] = (255, 0, 0)
    (d0,) = stage.detect([rgb_frame(img, 0)], [0], whole=[True])
    full_shape = finder.shapes[-1]
    np.testing.assert_allclose(d0.xyxy, [[60, 40, 120, 80]], atol=3)
    # unchanged: no model call, the box stands
    (d1,) = stage.detect([rgb_frame(img, 1)], [1], whole=[False])
    assert len(finder.shapes) == 1
    np.testing.assert_allclose(d1.xyxy, d0.xyxy)
    # a second object appears far from the first: only a part around it is examined
    img2 = img.copy()
    img2[250:290, 450:530] = (255, 0, 0)
    (d2,) = stage.detect([rgb_frame(img2, 2)], [2], whole=[False])
    assert len(finder.shapes) == 2
    part = finder.shapes[-1]
    assert part[1] * part[2] < 0.5 * full_shape[1] * full_shape[2]
    got = sorted(d2.xyxy.tolist())
    np.testing.assert_allclose(got, [[60, 40, 120, 80], [450, 250, 530, 290]], atol=3)
    # the first one leaves: its part is examined, its box is gone; the second stands
    img3 = img2.copy()
    img3[40:80, 60:120] = base[40:80, 60:120]
    (d3,) = stage.detect([rgb_frame(img3, 3)], [3], whole=[False])
    np.testing.assert_allclose(d3.xyxy, [[450, 250, 530, 290]], atol=3)
    # whole: the whole frame again, at the same scale as before
    (d4,) = stage.detect([rgb_frame(img3, 4)], [4], whole=[True])
    assert finder.shapes[-1] == full_shape
    np.testing.assert_allclose(d4.xyxy, d3.xyxy, atol=3)
    # a fresh picture (a cut) is always examined whole
    stage.detect([rgb_frame(img3, 5)], [5], whole=[False], fresh=[True])
    assert finder.shapes[-1] == full_shape


def test_without_whole_flags_every_frame_is_examined_whole():
    finder = RedFinder()
    stage = DetectStage(DetectConfig(det_size=320), detectors=[finder])
    img = np.zeros((360, 640, 3), np.uint8)
    for i in range(3):
        stage.detect([rgb_frame(img, i)], [i])
    assert len(finder.shapes) == 3 and len({s for s in finder.shapes}) == 1
    with pytest.raises(ValueError, match="one whole flag per frame"):
        stage.detect([rgb_frame(img, 4)], [4], whole=[True, False])
