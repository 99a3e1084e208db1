"""The `avanon` command: one-line errors, exit codes, no tracebacks, pipes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from avanon.cli import build_parser, config_from_args, main
from avanon.schedule import Schedule

from probe import packets, video_pts


def avanon(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "avanon", *map(str, args)], input=stdin,
                          capture_output=True, timeout=600)


@pytest.mark.parametrize(
    "args, code, text",
    [
        (["{d}/missing.mp4", "{d}/o.mp4"], 1, "input not found"),
        (["{d}/notes.txt", "{d}/o.mp4"], 1, "cannot read"),
        (["{clip}", "{clip}"], 1, "is the input"),
        (["{clip}", "{d}/exists.mp4"], 1, "exists: pass -y"),
        (["{clip}", "{d}/o.mp4", "--mode", "smudge"], 2, "invalid choice"),
        (["{clip}", "{d}/o.mp4", "--threshold", "face=1.5"], 2, "threshold"),
        (["{clip}", "{d}/o.mp4", "--classes", "cat"], 2, "unknown class"),
        (["{clip}", "{d}/o.mp4", "--color", "1,2"], 2, "R,G,B"),
        (["{clip}", "{d}/o.mp4", "--detect-every", "3", "--no-track"], 2, "needs tracking"),
        (["{clip}", "{d}/o.mp4", "--crf", "99"], 2, "--crf"),
        (["{clip}", "{d}/o.mp4", "--codec", "nosuchcodec"], 2, "no such encoder"),
        (["{clip}", "{d}/o.mp4", "--bitrate", "fast"], 2, "--bitrate"),
        (["{clip}", "-"], 2, "needs --format"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_errors_are_one_line_with_exit_code(clips, tmp_path, args, code, text):
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "exists.mp4").write_bytes(b"old")
    clip = clips["mp4"].path
    argv = [a.format(d=tmp_path, clip=clip) for a in args]
    r = avanon(*argv)
    err = r.stderr.decode()
    assert r.returncode == code, err
    assert text in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "exists.mp4").read_bytes() == b"old"
    assert not (tmp_path / "o.mp4").exists()


def test_config_from_args_maps_every_option(tmp_path):
    args = build_parser().parse_args([
        "in.mp4", "out.mp4", "--classes", "face", "--threshold", "face=0.4", "--mode", "blur",
        "--shape", "ellipse", "--mask-scale", "1.3", "--color", "#ff0000", "--crf", "21",
        "--bitrate", "2.5M", "--preset", "fast", "--keep-metadata", "--video-stream", "1",
        "--hold", "0.5s", "--lookahead", "12", "--detect-every", "2", "--det-size", "512",
        "--model-dir", str(tmp_path)])
    cfg = config_from_args(args)
    assert cfg.detect.classes == ("face",)
    assert cfg.detect.thresholds["face"] == pytest.approx(0.4)
    assert cfg.detect.det_size == 512 and str(cfg.detect.model_dir) == str(tmp_path)
    assert (cfg.mask.mode, cfg.mask.shape, cfg.mask.scale, cfg.mask.color) == ("blur", "ellipse", 1.3, (255, 0, 0))
    assert (cfg.encode.crf, cfg.encode.bitrate, cfg.encode.preset) == (21, 2_500_000, "fast")
    assert cfg.keep_metadata and cfg.video_stream == 1 and cfg.detect_every == Schedule.of(2)
    assert cfg.track.lookahead == 12


def test_main_returns_code_instead_of_raising(tmp_path, capsys):
    assert main([str(tmp_path / "nope.mp4"), str(tmp_path / "o.mp4")]) == 1
    assert capsys.readouterr().err.startswith("avanon: error: input not found")


@pytest.mark.models
def test_pipe_in_pipe_out(clips, tmp_path):
    src = clips["mkv"].path
    r = avanon("-", "-", "--format", "matroska", "--quiet", stdin=src.read_bytes())
    assert r.returncode == 0, r.stderr.decode()
    out = tmp_path / "out.mkv"
    out.write_bytes(r.stdout)
    assert video_pts(out) == video_pts(src)
    idx = clips["mkv"].streams["audio0"]
    assert [p[0] for p in packets(out, idx)] == [p[0] for p in packets(src, idx)]


@pytest.mark.models
def test_cli_end_to_end_with_summary(clips, tmp_path):
    out = tmp_path / "out.mp4"
    r = avanon(clips["mp4"].path, out, "--mode", "solid")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert err.startswith("avanon: 30 frames") and "stripped" in err
    assert len(err.strip().splitlines()) == 1
    assert video_pts(out) == video_pts(clips["mp4"].path)
