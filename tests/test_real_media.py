"""Core invariants on every clip in ../shared/media/video (marked `media`; skipped without it).

A fixed box stands in for the detector so these tests check media handling only. ffprobe
(Debian's ffmpeg) is used as an independent oracle where it is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

import avanon
from avanon.track.config import TrackConfig
from support import SHARED_MEDIA, BoxDetector
from probe import display_matrix, first_frame, packets, video_pts

pytestmark = pytest.mark.media

CLIPS = sorted(p for p in (SHARED_MEDIA / "video").rglob("*")
               if p.suffix.lower() in (".mp4", ".mkv", ".mpg", ".mov", ".webm")) \
    if (SHARED_MEDIA / "video").is_dir() else []
#: Containers whose demuxer interpolates timestamps of packets without one (PES without PTS):
#: a remux can read back 1 tick (1/90000 s) off there.
TICK_TOLERANT = {".mpg"}


def _ids(p: Path) -> str:
    return str(p.relative_to(SHARED_MEDIA / "video"))


def ffprobe_frames(path: Path) -> list[str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts,best_effort_timestamp",
         "-of", "json", str(path)], check=True, capture_output=True, text=True).stdout
    return [f.get("pts", f.get("best_effort_timestamp")) for f in json.loads(out)["frames"]]


@pytest.fixture(scope="module", params=CLIPS or [None], ids=(lambda p: _ids(p) if p else "none"))
def result(request, tmp_path_factory):
    src = request.param
    if src is None:
        pytest.skip(f"real media folder {SHARED_MEDIA}/video is absent")
    dst = tmp_path_factory.mktemp("real") / src.name
    cfg = avanon.Config(track=TrackConfig(enabled=False))
    summary = avanon.anonymize(src, dst, cfg, detector=BoxDetector(lambda i: [[16, 16, 80, 80]]))
    return src, dst, summary


def test_same_frames_and_pts(result):
    src, dst, summary = result
    assert video_pts(dst) == video_pts(src)
    assert summary.frames == len(video_pts(src))


def test_same_frames_and_pts_ffprobe(result):
    if not shutil.which("ffprobe"):
        pytest.skip("ffprobe not installed (apt-get install ffmpeg)")
    src, dst, _ = result
    a, b = ffprobe_frames(src), ffprobe_frames(dst)
    assert len(a) == len(b)
    with av.open(str(src)) as c1, av.open(str(dst)) as c2:
        ta, tb = c1.streams.video[0].time_base, c2.streams.video[0].time_base
    assert [Fraction(x) * ta for x in a] == [Fraction(x) * tb for x in b]


def test_other_streams_identical(result):
    src, dst, _ = result
    with av.open(str(src)) as c:
        others = [s.index for s in c.streams if s.type != "video"]
    for i in others:
        a, b = packets(src, i), packets(dst, i)
        assert [x[0] for x in a] == [y[0] for y in b], f"stream {i} payload"
        if src.suffix in TICK_TOLERANT:
            assert all(abs(x[1] - y[1]) <= Fraction(1, 90000) for x, y in zip(a, b))
        else:
            assert [x[1:] for x in a] == [y[1:] for y in b], f"stream {i} timestamps"


def test_rotation_and_colour_tags(result):
    src, dst, _ = result
    assert display_matrix(dst) == display_matrix(src)
    fa, fb = first_frame(src), first_frame(dst)
    assert (fa.width, fa.height, fa.format.name) == (fb.width, fb.height, fb.format.name)
    for attr in ("color_range", "color_primaries", "color_trc", "colorspace"):
        assert getattr(fa, attr) == getattr(fb, attr), attr


def test_size_within_half_and_double(result):
    src, dst, _ = result
    ratio = dst.stat().st_size / src.stat().st_size
    assert 0.5 <= ratio <= 2.0, ratio
