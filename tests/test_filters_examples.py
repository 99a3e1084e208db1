"""Every example in filters/ runs, on fixture media: the scripts as a user runs them, and every
chain in filters/presets.md through FFmpeg."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from avanon.media.filtergraph import probe_chain
from avanon.media.source import MediaSource

from mediafactory import make_clip
from probe import packets, video_frames, video_pts

FILTERS = Path(__file__).resolve().parents[1] / "filters"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("ex") / "in.mp4", size=(96, 64),
                     audio=(("aac", "eng"),))


def run(*args, env=None):
    return subprocess.run([*map(str, args)], capture_output=True, timeout=600,
                          env={**os.environ, **(env or {})})


def test_custom_detector_masks_its_fixed_region(clip, tmp_path):
    out = tmp_path / "o.mp4"
    r = run(sys.executable, FILTERS / "custom_detector.py", clip.path, out)
    assert r.returncode == 0, r.stderr.decode()
    assert "30 frames" in r.stdout.decode() and "30 plate" in r.stdout.decode()
    assert video_pts(out) == video_pts(clip.path)
    src = video_frames(clip.path)[0][2][0]
    got = video_frames(out)[0][2][0]
    assert abs(got[:60, :80].astype(int) - src[:60, :80]).mean() > 3  # the region is masked


@pytest.mark.models
def test_pyav_transcode_loop_keeps_frames_and_pts(clip, tmp_path):
    out = tmp_path / "o.mp4"
    r = run(sys.executable, FILTERS / "pyav_transcode_loop.py", clip.path, out)
    assert r.returncode == 0, r.stderr.decode()
    assert video_pts(out) == video_pts(clip.path)


@pytest.mark.models
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the example pipes through ffmpeg")
def test_ffmpeg_pipe_copies_audio_between_two_ffmpegs(clip, tmp_path):
    out = tmp_path / "o.mkv"
    r = run("bash", FILTERS / "ffmpeg_pipe.sh", clip.path, out,
            env={"AVANON": f"{sys.executable} -m avanon"})
    assert r.returncode == 0, r.stderr.decode()
    assert len(video_pts(out)) == 30
    assert [p[0] for p in packets(out, 1)] == [p[0] for p in packets(clip.path, 1)]


def presets() -> list[str]:
    rows = re.findall(r"^\|[^|]*\| `(--vf(?:-pre)?)` \| `(.+)` \|$",
                      (FILTERS / "presets.md").read_text(), re.M)
    assert len(rows) >= 8, rows
    return rows


@pytest.mark.parametrize("option, chain", presets())
def test_every_preset_is_a_chain_ffmpeg_takes(clip, option, chain):
    source = MediaSource(clip.path)
    try:
        info = source.info
        seen = probe_chain(chain.replace("1280", "48").replace("640:360", "48:32"),
                           width=info.width, height=info.height, pix_fmt="yuv420p",
                           time_base=info.time_base, rate=info.average_rate, option=option)
    finally:
        source.close()
    assert seen is not None and seen.width > 0
