"""PlateRules on synthetic detections: the height rule, its edge exemption, the face rule."""

from __future__ import annotations

import numpy as np
import pytest

from avanon.detect.plausible import (
    PLATE_EDGE_MARGIN,
    PLATE_MAX_FACE_COVER,
    PLATE_MAX_HEIGHT_RATIO,
    PlateRules,
)
from avanon.detections import Detections
from avanon.errors import ConfigError

FACE, PLATE = 0, 1
FRAME = (608, 1080)


def dets(*rows):
    """rows: (class_id, x0, y0, x1, y1)."""
    rows = np.asarray(rows, np.float32).reshape(-1, 5)
    return Detections.from_boxes(rows[:, 1:], np.linspace(0.9, 0.5, len(rows)),
                                 rows[:, 0].astype(np.int16), frame_index=3, pts=99)


def test_defaults_are_the_documented_constants():
    r = PlateRules()
    assert (r.max_height_ratio, r.max_face_cover, r.edge_margin) == (
        PLATE_MAX_HEIGHT_RATIO, PLATE_MAX_FACE_COVER, PLATE_EDGE_MARGIN)
    assert 1.0 < PLATE_MAX_HEIGHT_RATIO < 1.5 and 0 < PLATE_MAX_FACE_COVER < 1


@pytest.mark.parametrize("w, h, kept", [
    (100, 30, True),     # a one-line plate
    (100, 100, True),    # square: a two-line plate's padded box
    (100, 120, True),    # at the limit
    (100, 121, False),   # just over
    (120, 155, False),   # egoblur: nose-and-mouth box
    (295, 410, False),   # egoblur: whole-face box
])
def test_height_rule(w, h, kept):
    d = dets((PLATE, 200, 300, 200 + w, 300 + h))
    assert PlateRules().mask(d, FRAME).tolist() == [kept]


@pytest.mark.parametrize("x0, x1, kept", [
    (0, 40, True),            # touches the left edge: a plate cut by the frame
    (5, 45, True),            # within 1 % of the width (6 px of 608)
    (8, 48, False),
    (568, 608, True),         # right edge
    (560, 600, False),
])
def test_boxes_at_the_left_or_right_edge_may_be_tall(x0, x1, kept):
    d = dets((PLATE, x0, 500, x1, 600))
    assert PlateRules().mask(d, FRAME).tolist() == [kept]


def test_tall_boxes_at_the_top_or_bottom_edge_are_not_exempt():
    d = dets((PLATE, 200, 0, 240, 100), (PLATE, 200, 980, 240, 1080))
    assert PlateRules().mask(d, FRAME).tolist() == [False, False]


def test_face_rule_drops_plates_mostly_under_a_face():
    face = (FACE, 199, 61, 429, 363)
    d = dets(
        face,
        (PLATE, 279, 207, 399, 290),   # inside the face, wide: only the face rule drops it
        (PLATE, 150, 320, 350, 400),   # 41 % under the face: kept
        (PLATE, 100, 340, 300, 400),   # 19 % under: kept
        (PLATE, 400, 600, 500, 650),   # elsewhere: kept
    )
    keep = PlateRules().mask(d, FRAME)
    assert keep.tolist() == [True, False, True, True, True]
    out = PlateRules().apply(d, FRAME)
    assert len(out) == 4 and (out.frame_index, out.pts) == (3, 99)
    assert out.class_ids.tolist() == [FACE, PLATE, PLATE, PLATE]


def test_face_rule_uses_the_best_single_face_and_given_faces():
    # half under each of two faces: no single face covers more than half
    d = dets((FACE, 0, 0, 100, 100), (FACE, 100, 0, 200, 100), (PLATE, 50, 40, 150, 90))
    assert PlateRules().mask(d, FRAME).tolist() == [True, True, True]
    plate_only = dets((PLATE, 50, 40, 150, 90))
    assert PlateRules().mask(plate_only, FRAME).tolist() == [True]
    assert PlateRules().mask(plate_only, FRAME, faces=[[40, 30, 160, 100]]).tolist() == [False]
    assert PlateRules().mask(plate_only, FRAME, faces=np.zeros((0, 4))).tolist() == [True]


def test_faces_and_empty_input_pass_through():
    faces = dets((FACE, 0, 0, 10, 100), (FACE, 50, 50, 60, 200))  # tall faces are not touched
    assert PlateRules().mask(faces, FRAME).all()
    empty = Detections.empty(5, 7)
    assert PlateRules().mask(empty, FRAME).shape == (0,)
    assert len(PlateRules().apply(empty, FRAME)) == 0


def test_rules_can_be_switched_off_one_by_one():
    d = dets((FACE, 0, 0, 300, 300), (PLATE, 100, 100, 150, 250))  # tall and under the face
    assert PlateRules(max_height_ratio=None).mask(d, FRAME).tolist() == [True, False]
    assert PlateRules(max_face_cover=None).mask(d, FRAME).tolist() == [True, False]
    assert PlateRules(max_height_ratio=None, max_face_cover=None).mask(d, FRAME).all()
    assert PlateRules(max_height_ratio=3.5, max_face_cover=None).mask(d, FRAME).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"max_height_ratio": 0}, "max_height_ratio: expected a ratio > 0 or None, got 0"),
    ({"max_height_ratio": "tall"}, "max_height_ratio"),
    ({"max_height_ratio": float("inf")}, "max_height_ratio"),
    ({"max_face_cover": 1.0}, r"max_face_cover: expected a share in \[0, 1\)"),
    ({"max_face_cover": True}, "max_face_cover"),
    ({"edge_margin": None}, r"edge_margin: expected a share in \[0, 0.5\), got None"),
    ({"edge_margin": 0.5}, "edge_margin"),
])
def test_bad_values_are_rejected(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        PlateRules(**kwargs)


def test_numbers_are_normalised_and_hashable():
    r = PlateRules(max_height_ratio=2, max_face_cover="0.6")
    assert r.max_height_ratio == 2.0 and r.max_face_cover == 0.6
    assert hash(r) == hash(PlateRules(max_height_ratio=2.0, max_face_cover=0.6))


def test_a_plate_box_holding_a_face_is_dropped():
    # a wide "plate" box around a whole face (a shirt print or sign text around a head)
    dets = Detections.from_boxes([[100, 100, 140, 150], [60, 90, 260, 170], [300, 300, 360, 320]],
                                 scores=[0.9, 0.8, 0.8], class_ids=[0, 1, 1])
    kept = PlateRules().apply(dets, (640, 480))
    assert kept.xyxy.tolist() == [[100, 100, 140, 150], [300, 300, 360, 320]]
    assert len(PlateRules(max_face_inside=None, max_face_cover=None).apply(dets, (640, 480))) == 3
