"""--vf-pre / --vf: FFmpeg filter chains before and after the masks (issue 11)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

import avanon
from avanon.errors import ConfigError
from avanon.media.filtergraph import parse_chain

from mediafactory import make_clip
from probe import display_matrix, packets, video_frames, video_pts


def cli(*args):
    return subprocess.run([sys.executable, "-m", "avanon", *map(str, args)],
                          capture_output=True, timeout=600)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("vf")
    return make_clip(d / "in.mp4", size=(96, 64), rotation=-90,
                     audio=(("aac", "eng"),), subtitles="mov_text")


def detections_file(path, clip, width, height, box):
    """A detections file masking ``box`` on every frame of a ``width`` x ``height`` stream."""
    tb = clip.time_base
    path.write_text(json.dumps({
        "format": "avanon-detections", "version": 1, "input": str(clip.path), "video_stream": 0,
        "width": width, "height": height, "time_base": f"{tb.numerator}/{tb.denominator}",
        "frames": [{"frame": i, "pts": p, "objects": [{"class": "face", "box": box}]}
                   for i, p in enumerate(clip.pts)]}))
    return path


@pytest.mark.parametrize("text, chain", [
    ("crop=64:32:0:0", [("crop", "64:32:0:0")]),
    ("yadif, scale=48:-2 ,hflip", [("yadif", None), ("scale", "48:-2"), ("hflip", None)]),
    ("select='not(mod(n,2))'", [("select", "not(mod(n,2))")]),
    (r"select=not(mod(n\,2))", [("select", "not(mod(n,2))")]),
])
def test_chains_parse_as_ffmpeg_quotes_them(text, chain):
    assert parse_chain(text) == chain


@pytest.mark.parametrize("text, message", [
    ("", "expected a filter chain"),
    ("[in]crop=1:1", "only one chain"),
    ("crop=1:1;hflip", "only one chain"),
    ("=1:1", "a filter without a name"),
])
def test_chains_that_are_not_one_chain_are_refused(text, message):
    with pytest.raises(ConfigError, match=message):
        avanon.Config(vf_pre=text)


def test_crop_keeps_every_pts_and_masks_land_on_the_cropped_picture(clip, tmp_path):
    out = tmp_path / "o.mp4"
    dets = detections_file(tmp_path / "d.json", clip, 48, 32, [0, 0, 16, 16])
    r = cli(clip.path, out, "--vf-pre", "crop=48:32:32:16", "--detections", dets,
            "--mode", "solid", "--mask-scale", "1")
    assert r.returncode == 0, r.stderr.decode()
    assert video_pts(out) == video_pts(clip.path)
    src = video_frames(clip.path)
    for (_, _, planes, f), (_, _, splanes, _) in zip(video_frames(out), src):
        assert (f.width, f.height) == (48, 32)
        y, sy = planes[0].astype(int), splanes[0].astype(int)[16:48, 32:80]
        assert y[:16, :16].max() <= 40  # the box, black, at the cropped picture's origin
        rest = np.abs(y[:, 20:] - sy[:, 20:])
        assert rest.mean() < 6  # elsewhere the source's pixels at the crop offset
    assert display_matrix(out) == display_matrix(clip.path)  # rotation tag kept


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="Debian's ffmpeg is the oracle here")
@pytest.mark.parametrize("graph", ["fps=10", "setpts=2*PTS", "select='not(mod(n,3))'"])
def test_vf_timestamps_are_what_ffmpeg_makes_of_the_same_graph(clip, tmp_path, graph):
    out, ref = tmp_path / "o.mkv", tmp_path / "ref.mkv"
    dets = detections_file(tmp_path / "d.json", clip, 96, 64, [4, 4, 20, 20])
    r = cli(clip.path, out, "--vf", graph, "--detections", dets)
    assert r.returncode == 0, r.stderr.decode()
    # The same graph in ffmpeg, the audio copied too (Matroska shifts every stream alike so
    # that the copied AAC's priming does not start below 0).
    subprocess.run(["ffmpeg", "-v", "error", "-noautorotate", "-i", clip.path, "-map", "0:v",
                    "-map", "0:a", "-vf", graph, "-c:v", "ffv1", "-c:a", "copy",
                    "-fps_mode", "passthrough", ref], check=True)
    got, want = video_pts(out), video_pts(ref)
    assert got == want
    assert (len(got) == 30) == graph.startswith("setpts")
    if graph.startswith("setpts"):
        span = video_pts(clip.path)[-1] - video_pts(clip.path)[0]
        assert abs(got[-1] - got[0] - 2 * span) <= Fraction(1, 1000)  # Matroska counts in ms


def test_vf_fps_changes_the_stream_time_base_to_the_graphs(clip, tmp_path):
    out = tmp_path / "o.mp4"
    dets = detections_file(tmp_path / "d.json", clip, 96, 64, [4, 4, 20, 20])
    r = cli(clip.path, out, "--vf", "fps=10", "--detections", dets)
    assert r.returncode == 0, r.stderr.decode()
    pts = video_pts(out)
    assert pts == [Fraction(i, 10) for i in range(len(pts))] and len(pts) == 10


def test_scale_before_changes_the_output_size_and_streams_are_still_copied(clip, tmp_path):
    out = tmp_path / "o.mp4"
    dets = detections_file(tmp_path / "d.json", clip, 48, 32, [4, 4, 20, 20])
    r = cli(clip.path, out, "--vf-pre", "scale=48:-2", "--detections", dets)
    assert r.returncode == 0, r.stderr.decode()
    f = video_frames(out)[0][3]
    assert (f.width, f.height) == (48, 32)
    for kind in ("audio0", "subtitle"):
        i = clip.streams[kind]
        assert packets(out, i) == packets(clip.path, i)


@pytest.mark.parametrize("args, text", [
    (["--vf-pre", "crop=abc"], "avanon: error: --vf-pre 'crop=abc': Undefined constant or missing '(' in 'abc'"),
    (["--vf", "nosuchfilter"], "avanon: error: --vf 'nosuchfilter': no filter named 'nosuchfilter'"),
    (["--vf-pre", "crop=500:500"], "avanon: error: --vf-pre 'crop=500:500': Invalid too big"),
    (["--vf", "a;b"], "avanon: error: --vf 'a;b': only one chain"),
])
def test_an_invalid_graph_is_one_line_exit_2_and_no_output(clip, tmp_path, args, text):
    out = tmp_path / "o.mp4"
    r = cli(clip.path, out, *args, "--model-dir", tmp_path / "no-models")
    err = r.stderr.decode()
    assert r.returncode == 2 and err.startswith(text) and err.count("\n") == 1, err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--vf-pre", "--vf"])
def test_a_chain_that_outputs_no_frame_writes_nothing(clip, tmp_path, option):
    out = tmp_path / "o.mp4"
    dets = detections_file(tmp_path / "d.json", clip, 96, 64, [4, 4, 20, 20])
    r = cli(clip.path, out, option, "select=0", "--detections", dets)
    err = r.stderr.decode()
    assert r.returncode == 1 and "output none of the 30 frames" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json"]


def test_no_chain_is_the_path_of_before(clip, tmp_path):
    a, b = tmp_path / "a.mkv", tmp_path / "b.mkv"
    dets = detections_file(tmp_path / "d.json", clip, 96, 64, [4, 4, 20, 20])
    avanon.anonymize(clip.path, a, avanon.Config(), detections=dets)
    avanon.anonymize(clip.path, b, avanon.Config(vf_pre="null", vf="null"), detections=dets)
    ra, rb = packets(a, 0), packets(b, 0)
    assert [p[1:] for p in ra] == [p[1:] for p in rb]
