"""Shared fixtures: synthetic clips built once per session."""

from __future__ import annotations

from fractions import Fraction

import pytest

from mediafactory import make_clip
from support import shared_media


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """The synthetic clips, built once per session."""
    d = tmp_path_factory.mktemp("clips")
    return {
        "mp4": make_clip(d / "h264_vfr_rot.mp4", vfr=True, rotation=-90,
                         audio=(("aac", "eng"), ("libopus", "fra")), subtitles="mov_text",
                         tags={"title": "Holiday", "comment": "keep me", "artist": "Jane Doe",
                               "location": "+48.8577+002.2950/"},
                         video_tags={"handler_name": "Camera"}),
        "mkv": make_clip(d / "mpeg4_chapters.mkv", codec="mpeg4", time_base=Fraction(1, 1000),
                         audio=(("libopus", "eng"),), subtitles="subrip", attachment=True,
                         chapters=True, tags={"title": "Street", "make": "Acme", "model": "X1",
                                              "serial_number": "SN123"}),
        "hevc10": make_clip(d / "hevc10.mkv", codec="libx265", pix_fmt="yuv420p10le",
                            time_base=Fraction(1, 1000), options={"x265-params": "log-level=error"},
                            color={"color_range": 1, "color_primaries": 9, "color_trc": 16,
                                   "colorspace": 9}),
        "mpg": make_clip(d / "mpeg1.mpg", codec="mpeg1video", rate=25,
                         time_base=Fraction(1, 90000), audio=(("mp2", "und"),), size=(96, 64)),
        "twovideo": make_clip(d / "two_video.mkv", time_base=Fraction(1, 1000), second_video=True),
    }


@pytest.fixture
def media():
    """../shared/media (the real clips and annotated images), or skip with the reason."""
    return shared_media()
