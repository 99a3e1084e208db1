"""Track stage microbenchmarks: the tracker per frame, and the shot-cut test per 1080p frame.

Run with::

    python -m pytest bench/bench_track.py --benchmark-enable

The tracker benchmark feeds 100 frames of N objects moving at constant velocity, each missed by
the detector on 10 % of the frames, with the default hold and lookahead. ``extra_info`` records
the mean time per frame.
"""

from __future__ import annotations

import av
import numpy as np
import pytest

from avanon.detections import Detections
from avanon.track import IouTracker, ShotCutDetector, TrackConfig

WIDTH, HEIGHT = 1920, 1080
FRAMES = 100


def _sequence(n_objects: int) -> list[Detections]:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, [WIDTH - 100, HEIGHT - 100], (n_objects, 2))
    vel = rng.uniform(-4, 4, (n_objects, 2))
    size = rng.uniform(20, 100, (n_objects, 1))
    cls = rng.integers(0, 2, n_objects)
    out = []
    for i in range(FRAMES):
        p = xy + vel * i
        seen = rng.random(n_objects) > 0.1
        boxes = np.hstack([p, p + size])[seen] + rng.normal(0, 1, (int(seen.sum()), 4))
        out.append(Detections.from_boxes(boxes, scores=rng.uniform(0.3, 1, len(boxes)),
                                         class_ids=cls[seen], frame_index=i))
    return out


@pytest.mark.parametrize("n_objects", [1, 20, 100])
def test_tracker_per_frame(benchmark, n_objects: int) -> None:
    frames = _sequence(n_objects)

    def run(tracker: IouTracker) -> None:
        for d in frames:
            tracker.update(d)
        tracker.flush()

    def setup():
        return (IouTracker(TrackConfig(), (WIDTH, HEIGHT), 30.0),), {}

    benchmark.pedantic(run, setup=setup, rounds=10)
    benchmark.extra_info["frames_per_round"] = FRAMES
    if benchmark.stats is not None:
        benchmark.extra_info["ms_per_frame"] = round(benchmark.stats.stats.mean * 1e3 / FRAMES, 4)


def test_cut_detector_1080p(benchmark) -> None:
    rng = np.random.default_rng(0)
    frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8),
                                       format="rgb24").reformat(format="yuv420p")
    det = ShotCutDetector()
    det.update(frame)
    benchmark(det.update, frame)
