"""End to end: the detector misses frames (or is skipped by --detect-every), and tracking still
masks the object on every frame of the output file."""

from __future__ import annotations

import av
import numpy as np
import pytest

import avanon
from avanon.mask.config import MaskConfig
from avanon.track.config import TrackConfig
from support import BoxDetector, moving_box
from mediafactory import make_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("track") / "moving.mp4", frames=30)


def luma(path) -> list[np.ndarray]:
    """The Y plane of every frame (limited range: black is 16)."""
    with av.open(str(path)) as c:
        return [f.reformat(format="yuv420p").to_ndarray()[: f.height] for f in c.decode(video=0)]


@pytest.mark.parametrize(
    "detect_every, missed",
    [
        (1, {0, 1, 2, 7, 8, 15, 16, 17}),  # late first detection and two gaps
        (2, {12}),
        (3, {12}),
    ],
)
def test_masked_on_every_frame_although_the_detector_misses(clip, tmp_path, detect_every, missed):
    dst = tmp_path / "out.mp4"
    detector = BoxDetector(moving_box, skip=missed)
    config = avanon.Config(mask=MaskConfig(mode="solid", color=(0, 0, 0)),
                           track=TrackConfig(hold=6, lookahead=4), detect_every=detect_every)
    summary = avanon.anonymize(clip.path, dst, config, detector=detector)
    assert summary.frames == 30
    assert sorted(detector.calls) == list(range(0, 30, detect_every))
    y_in, y_out = luma(clip.path), luma(dst)
    assert len(y_out) == 30
    for i, (a, b) in enumerate(zip(y_in, y_out)):
        x0, y0, x1, y1 = moving_box(i)[0]
        w, h = x1 - x0, y1 - y0
        core = (slice(int(y0 + 0.2 * h), int(y1 - 0.2 * h)), slice(int(x0 + 0.2 * w), int(x1 - 0.2 * w)))
        bright = a[core] > 40  # pixels that were not dark already
        assert bright.sum() > 20
        covered = (b[core] < 30)[bright].mean()
        assert covered >= 0.9, f"frame {i}: only {covered:.0%} of the object is masked"


def test_without_tracking_the_missed_frames_leak(clip, tmp_path):
    """The same setting with --no-track: the frames the detector missed are not masked, which is
    what the test above relies on tracking to fix."""
    dst = tmp_path / "out.mp4"
    config = avanon.Config(mask=MaskConfig(mode="solid", color=(0, 0, 0)),
                           track=TrackConfig(enabled=False))
    avanon.anonymize(clip.path, dst, config, detector=BoxDetector(moving_box, skip={7, 8}))
    y_out = luma(dst)
    x0, y0, x1, y1 = (int(v) for v in moving_box(7)[0])
    assert (y_out[7][y0 + 4:y1 - 4, x0 + 4:x1 - 4] < 30).mean() < 0.1
    x0, y0, x1, y1 = (int(v) for v in moving_box(6)[0])
    assert (y_out[6][y0 + 4:y1 - 4, x0 + 4:x1 - 4] < 30).mean() > 0.9
