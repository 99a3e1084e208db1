"""Media found in the field, through avanon.anonymize: an output container that cannot hold the
source's codec, animated GIFs, a copied track that starts late, and files cut short."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

import avanon
from avanon.mask.config import MaskConfig
from avanon.media.encode import EncodeConfig
from avanon.track.config import TrackConfig
from mediafactory import make_clip, make_gif, truncate
from probe import packets, video_frames, video_pts
from support import BoxDetector

BOX = [[10, 8, 40, 30]]


def config(**kw):
    return avanon.Config(mask=MaskConfig(mode="solid", color=(255, 0, 0), scale=1.0),
                         track=TrackConfig(enabled=False), **kw)


def run(src, dst, cfg=None, **kw):
    return avanon.anonymize(src, dst, cfg or config(), detector=BoxDetector(lambda i: BOX), **kw)


def has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:
        return False


def codec_of(path) -> tuple[str, str, int, int]:
    """(codec, pixel format, width, height) of the video stream."""
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        return cc.codec.canonical_name, cc.pix_fmt, cc.width, cc.height


def rgb(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


# -- the container decides the encoder --------------------------------------------------------

def test_webm_from_h264_is_vp9_and_the_summary_says_so(clips, tmp_path):
    if not has_encoder("libvpx-vp9"):
        pytest.skip("no libvpx-vp9 in this FFmpeg build")
    dst = tmp_path / "out.webm"
    summary = run(clips["mp4"].path, dst)
    assert summary.encoder == "libvpx-vp9"
    assert codec_of(dst)[0] == "vp9"
    assert "webm cannot hold h264: using libvpx-vp9" in summary.line()
    # Every frame, at its time (WebM counts milliseconds).
    src_pts = video_pts(clips["mp4"].path)
    out_pts = video_pts(dst)
    assert len(out_pts) == len(src_pts) == 30
    assert all(abs(a - b) <= Fraction(1, 1000) for a, b in zip(out_pts, src_pts))
    # Opus fits WebM and is copied; AAC and mov_text do not, and the summary names them.
    assert any("opus" in s for s in summary.copied_streams)
    assert any("aac" in d and "webm cannot carry it" in d for d in summary.dropped_streams)


def test_webm_without_vp9_takes_av1(clips, tmp_path, monkeypatch):
    """Where the build has no VP9 encoder, the next WebM codec this build can write: AV1."""
    from avanon.media import encode

    if not has_encoder("libsvtav1"):
        pytest.skip("no libsvtav1 in this FFmpeg build")
    real = encode._encoder_exists
    monkeypatch.setattr(encode, "_encoder_exists", lambda n: n != "libvpx-vp9" and real(n))
    dst = tmp_path / "out.webm"
    summary = run(make_clip(tmp_path / "in.mp4", size=(128, 96), frames=6).path, dst)
    assert summary.encoder == "libsvtav1" and codec_of(dst)[0] == "av1"


def test_codec_the_container_cannot_hold_is_a_config_error(clips, tmp_path):
    with pytest.raises(avanon.ConfigError, match="codec 'gif': the mp4 format cannot hold it"):
        run(clips["mp4"].path, tmp_path / "out.mp4", config(encode=EncodeConfig(codec="gif")))
    assert list(tmp_path.iterdir()) == []


def test_container_without_video_is_one_error(clips, tmp_path):
    with pytest.raises(avanon.EncoderError, match="wav cannot hold h264, and no video encoder .* "
                                                  "fits the wav format"):
        run(clips["mp4"].path, tmp_path / "out.wav")
    assert list(tmp_path.iterdir()) == []


# -- GIF -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gif(tmp_path_factory):
    return make_gif(tmp_path_factory.mktemp("gif") / "anim.gif")


def test_gif_to_gif_keeps_its_colours(gif, tmp_path):
    dst = tmp_path / "out.gif"
    summary = run(gif, dst)
    assert summary.notes == [] and summary.encoder == "gif"
    src, out = rgb(gif), rgb(dst)
    assert len(out) == len(src) == 12
    assert [p for p, *_ in video_frames(dst)] == [p for p, *_ in video_frames(gif)]
    x0, y0, x1, y1 = BOX[0]
    for a, b in zip(src, out):
        keep = np.ones(a.shape[:2], bool)
        keep[y0:y1, x0:x1] = False
        assert np.array_equal(a[keep], b[keep])  # the palette of each frame is its own
        assert (b[y0:y1, x0:x1] == (255, 0, 0)).all()  # red: in colour, not gray


def test_gif_to_mp4_is_h264_420_padded_to_even_sizes(gif, tmp_path):
    dst = tmp_path / "out.mp4"
    summary = run(gif, dst)
    assert codec_of(dst) == ("h264", "yuv420p", 98, 64)  # was: internal error
    assert "mp4 cannot hold gif: using libx264" in summary.notes
    assert any("97x63 padded to 98x64" in n for n in summary.notes)
    src, out = rgb(gif), rgb(dst)
    assert len(out) == 12
    # The padding repeats the last column and row; the picture is in colour.
    assert np.abs(out[5][:, 97].astype(int) - out[5][:, 96]).mean() < 12
    assert np.abs(out[5][63].astype(int) - out[5][62]).mean() < 12
    x0, y0, x1, y1 = BOX[0]
    keep = np.ones((63, 97), bool)
    keep[y0:y1, x0:x1] = False
    assert np.abs(out[5][:63, :97].astype(int) - src[5])[keep].mean() < 20  # 4:2:0, CRF
    inner = out[5][y0 + 2:y1 - 2, x0 + 2:x1 - 2].reshape(-1, 3).mean(axis=0)
    assert inner[0] > 200 and inner[1] < 60 and inner[2] < 60


# -- a copied track that starts late ------------------------------------------------------------

@pytest.fixture(scope="module")
def late_aac(tmp_path_factory):
    """MP4 whose AAC track starts 926/44100 s = 0.020998 s after the video, as a camera wrote it
    (the fixture itself is muxed with a movie time scale that holds that start exactly)."""
    return make_clip(tmp_path_factory.mktemp("late") / "late_aac.mp4", audio=(("aac", "und"),),
                     audio_rate=44100, audio_delay=926,
                     container_options={"movie_timescale": "44100"})


def ffprobe_audio(path):
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed (apt-get install ffmpeg)")
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries",
                          "stream=start_time:packet=pts,dts", "-of", "json", str(path)],
                         capture_output=True, check=True, text=True).stdout
    data = json.loads(out)
    return data["streams"][0]["start_time"], [(p["pts"], p["dts"]) for p in data["packets"]]


@pytest.mark.parametrize("ext", ["mp4", "mov"])
def test_late_audio_start_is_kept_exactly(late_aac, tmp_path, ext):
    idx = late_aac.streams["audio0"]
    start, pts_in = ffprobe_audio(late_aac.path)
    assert start == "0.020998" and pts_in[0] == (926, 926)
    dst = tmp_path / f"out.{ext}"
    run(late_aac.path, dst)
    assert packets(dst, idx) == packets(late_aac.path, idx)
    assert ffprobe_audio(dst) == (start, pts_in)  # was 0.020000, every packet 44 ticks early


# -- files cut short ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, make, text",
    [
        ("moov_first.mp4",
         lambda d: make_clip(d / "whole.mp4", frames=60, audio=(("aac", "und"),),
                             container_options={"movflags": "faststart"}),
         r"the input ended early: \d+ of the 60 video frames its index lists were there"),
        ("cut.mkv",
         lambda d: make_clip(d / "whole.mkv", frames=60, time_base=Fraction(1, 1000),
                             audio=(("libopus", "und"),)),
         r"the input ended early: at 1\.\d\d s of the [12]\.\d\d s its header states"),
    ],
)
def test_truncated_input_is_anonymized_to_the_cut_with_a_warning(tmp_path, name, make, text):
    whole = make(tmp_path)
    whole_summary = run(whole.path, tmp_path / f"whole_out{whole.path.suffix}")
    assert whole_summary.ended_early == "" and "WARNING" not in whole_summary.line()
    cut = truncate(whole.path, tmp_path / name, 0.6)
    dst = tmp_path / f"out{cut.suffix}"
    summary = run(cut, dst)
    assert 20 < summary.frames < 60
    assert re.match(text, summary.ended_early), summary.ended_early
    assert f"WARNING: {summary.ended_early}" in summary.line()
    # Every frame that was written is masked.
    x0, y0, x1, y1 = BOX[0]
    frames = rgb(dst)
    assert len(frames) == summary.frames
    for f in frames:
        inner = f[y0 + 2:y1 - 2, x0 + 2:x1 - 2].reshape(-1, 3).mean(axis=0)
        assert inner[0] > 200 and inner[1] < 60


def test_complete_fixture_clips_do_not_look_truncated(clips, tmp_path):
    for name in ("mp4", "mkv", "mpg", "hevc10"):
        summary = run(clips[name].path, tmp_path / f"{name}.out{clips[name].path.suffix}")
        assert summary.ended_early == "", name
