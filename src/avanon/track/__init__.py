"""Temporal tracking: carry masks through the frames where the detector misses an object.

Build a tracker for a stream with :func:`make_tracker`; the pipeline feeds it each frame's
detections and masks the final detections it releases (``lookahead`` frames later).
:class:`ShotCutDetector` tells the tracker where shots change, so no box crosses a cut.
"""

from __future__ import annotations

from .base import PassThroughTracker, Tracker
from .config import Duration, TrackConfig, parse_duration
from .cut import ShotCutDetector
from .flow import MotionEstimator
from .tracker import IouTracker

__all__ = [
    "Duration",
    "IouTracker",
    "MotionEstimator",
    "PassThroughTracker",
    "ShotCutDetector",
    "TrackConfig",
    "Tracker",
    "make_tracker",
    "parse_duration",
]


def make_tracker(config: TrackConfig, frame_size: tuple[int, int], fps: float,
                 motion=None) -> Tracker:
    """The tracker ``config`` asks for: an :class:`IouTracker`, or a :class:`PassThroughTracker`
    when tracking is disabled.

    Args:
        config: tracking options.
        frame_size: (width, height) of the coded picture.
        fps: the stream's average frame rate (resolves a ``hold`` given in seconds).
        motion: a :class:`~avanon.track.flow.MotionEstimator` fed every frame (see
            :class:`IouTracker`), or None.
    """
    if not config.enabled:
        return PassThroughTracker()
    return IouTracker(config, frame_size, fps, motion=motion)
