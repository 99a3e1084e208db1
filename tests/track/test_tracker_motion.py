"""IouTracker with measured motion: predictions, back-fill and gap filling follow the motion
that a (here: scripted) motion estimator measures, not a constant-velocity guess."""

from __future__ import annotations

import numpy as np
import pytest

from avanon.detections import Detections
from avanon.track import IouTracker, TrackConfig

W, H = 640, 360


class ScriptedMotion:
    """Moves every box by ``step(frame)`` px in x from frame ``frame - 1`` to ``frame``
    (and back), like a camera pan with a varying speed; records each call."""

    def __init__(self, step):
        self.step = step
        self.calls: list[tuple[int, int]] = []

    def move(self, boxes, src, dst, prior=None):
        self.calls.append((src, dst))
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
        dx = self.step(max(src, dst)) * (1 if dst > src else -1)
        boxes[:, 0::2] += dx
        return boxes, np.ones(len(boxes))


def path(step, n, x0=100.0):
    """x0 of a 30-px box on each of ``n`` frames when the picture moves by ``step(frame)``."""
    xs = [x0]
    for f in range(1, n):
        xs.append(xs[-1] + step(f))
    return xs


def box(x):
    return [x, 150.0, x + 30.0, 180.0]


def run(tracker, detected: dict[int, float], n: int, observed=lambda f: True):
    out = []
    for f in range(n):
        boxes = [box(detected[f])] if f in detected else []
        tracker.predict(f)
        out += tracker.update(Detections.from_boxes(boxes, frame_index=f),
                              observed=observed(f))
    return out + tracker.flush()


def accelerating(f):
    return 2.0 + 1.5 * f  # the pan speeds up: constant velocity falls behind


@pytest.mark.parametrize("use_motion", [True, False])
def test_held_boxes_follow_the_measured_motion(use_motion):
    n = 14
    xs = path(accelerating, n)
    motion = ScriptedMotion(accelerating) if use_motion else None
    tr = IouTracker(TrackConfig(hold=20, lookahead=0, min_hits=1, grow=0.0), (W, H), 30.0,
                    motion=motion)
    out = run(tr, {0: xs[0], 1: xs[1], 2: xs[2]}, n, observed=lambda f: f < 3)
    # after the last detection (frame 2) the object keeps accelerating
    centres = [float(d.xyxy[0, 0] + d.xyxy[0, 2]) / 2 for d in out[3:]]
    truth = [x + 15 for x in xs[3:]]
    err = np.abs(np.array(centres) - truth)
    if use_motion:
        assert err.max() < 1.0
    else:  # constant velocity slides off: the box no longer covers the object
        assert err.max() > 30


def test_first_detection_is_carried_back_along_the_motion():
    n = 10
    xs = path(accelerating, n)
    motion = ScriptedMotion(accelerating)
    tr = IouTracker(TrackConfig(hold=5, lookahead=5, min_hits=1, grow=0.0), (W, H), 30.0,
                    motion=motion)
    out = run(tr, {f: xs[f] for f in range(6, n)}, n)
    for f in range(1, 6):  # frames 1..5 precede the first detection (frame 6) by <= 5
        (got,) = out[f].xyxy
        assert abs((got[0] + got[2]) / 2 - (xs[f] + 15)) < 1.0, f
    assert len(out[0]) == 0  # further back than the lookahead: not carried
    assert (6, 5) in motion.calls  # measured backwards, not extrapolated


def test_gaps_between_detections_follow_the_measured_path():
    n = 12
    xs = path(accelerating, n)
    motion = ScriptedMotion(accelerating)
    tr = IouTracker(TrackConfig(hold=20, lookahead=8, min_hits=1, grow=0.0), (W, H), 30.0,
                    motion=motion)
    out = run(tr, {0: xs[0], 1: xs[1], 8: xs[8], 9: xs[9]}, n, observed=lambda f: f in (0, 1, 8, 9))
    for f in range(2, 8):
        (got,) = out[f].xyxy
        assert abs((got[0] + got[2]) / 2 - (xs[f] + 15)) < 1.0, f


def test_predict_gives_the_live_tracks_where_they_are_expected():
    motion = ScriptedMotion(lambda f: 5.0)
    tr = IouTracker(TrackConfig(min_hits=1), (W, H), 30.0, motion=motion)
    assert len(tr.predict(0)) == 0
    tr.update(Detections.from_boxes([box(100.0)], frame_index=0))
    expected = tr.predict(1)
    assert expected.frame_index == 1 and expected.track_ids.tolist() == [1]
    np.testing.assert_allclose(expected.xyxy[0], box(105.0), atol=1e-4)
    calls = len(motion.calls)
    tr.update(Detections.from_boxes([box(105.0)], frame_index=1))
    assert len(motion.calls) == calls  # the prediction is reused, not measured twice


def test_constant_velocity_predictions_never_invert_a_shrinking_box():
    tr = IouTracker(TrackConfig(min_hits=1), (W, H), 30.0)
    for f, side in enumerate([60.0, 30.0, 4.0]):  # shrinking fast: the size velocity is < -side
        tr.predict(f)
        tr.update(Detections.from_boxes([[100, 100, 100 + side, 100 + side]], frame_index=f))
    expected = tr.predict(3)
    assert (expected.xyxy[:, 2:] > expected.xyxy[:, :2]).all()


@pytest.mark.parametrize("smallest, kept", [(0.0, False), (40.0, True)])
def test_a_miss_counts_only_where_the_detector_could_see_the_object(smallest, kept):
    """A 30-px object missed by a pass that cannot see objects under 40 px is not lost."""
    tr = IouTracker(TrackConfig(min_hits=1, hold=2, lookahead=0), (W, H), 30.0)
    out = []
    for f in range(8):
        boxes = [box(100.0)] if f == 0 else []
        out += tr.update(Detections.from_boxes(boxes, frame_index=f), observed=True,
                         smallest={0: smallest})
    out += tr.flush()
    assert (len(out[7]) == 1) is kept


class ZoomMotion:
    """Scales every box about its centre by ``zoom`` per frame forward (``1 / zoom`` back), as
    a (here: scripted, possibly wrong) zoom measured in the pictures."""

    def __init__(self, zoom):
        self.zoom = zoom

    def move(self, boxes, src, dst, prior=None):
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        s = self.zoom if dst > src else 1.0 / self.zoom
        c = (boxes[:, :2] + boxes[:, 2:]) / 2
        half = (boxes[:, 2:] - boxes[:, :2]) / 2 * s
        return np.hstack([c - half, c + half]), np.ones(len(boxes))


def widths(out):
    return [float(d.xyxy[0, 2] - d.xyxy[0, 0]) for d in out]


def test_held_box_follows_a_measured_zoom_up_to_the_cap():
    tr = IouTracker(TrackConfig(hold=20, lookahead=0, min_hits=1, grow=0.0), (W, H), 30.0,
                    motion=ZoomMotion(1.05))
    out = run(tr, {0: 100.0, 1: 100.0, 2: 100.0}, 16, observed=lambda f: f < 3)
    # steady detections: only the measured zoom lets the held box grow, to 1.5x at most
    expected = [min(30.0 * 1.05 ** (f - 2), 45.0) for f in range(3, 16)]
    np.testing.assert_allclose(widths(out[3:]), expected, atol=1e-3)


def test_gap_filled_along_a_zooming_path_stays_between_its_detections():
    # the motion measures a (wrong) zoom of 2 % a frame; both detections around the gap are
    # 30 px: the filled boxes keep their size (a larger zoom would make the detection after
    # the gap look like a partial view of the prediction, which the track widens on purpose)
    tr = IouTracker(TrackConfig(hold=20, lookahead=8, min_hits=1, grow=0.0), (W, H), 30.0,
                    motion=ZoomMotion(1.02))
    out = run(tr, {0: 100.0, 1: 100.0, 8: 100.0, 9: 100.0}, 12,
              observed=lambda f: f in (0, 1, 8, 9))
    np.testing.assert_allclose(widths(out[2:8]), [30.0] * 6, atol=1e-3)
