"""The `avanon` command: one-line errors, exit codes, no tracebacks, pipes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from avanon import cli
from avanon.cli import build_parser, config_from_args, main
from avanon.schedule import Schedule

from mediafactory import make_clip
from probe import packets, video_pts
from support import unwritable_folder


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
        (["{clip}", "{d}/o.mp4", "--edge-mirror", "plate=0.5"], 2,
         "edge-mirror plate: expected a share of the detector input between 0 and 0.25"),
        (["{clip}", "{d}/o.mp4", "--color", "1,2"], 2, "R,G,B"),
        (["{clip}", "{d}/o.mp4", "--detect-every", "3", "--no-track"], 2, "needs tracking"),
        (["{clip}", "{d}/o.mp4", "--crf", "99"], 2, "--crf"),
        (["{clip}", "{d}/o.mp4", "--codec", "nosuchcodec"], 2, "no such encoder"),
        (["{clip}", "{d}/o.mp4", "--bitrate", "fast"], 2, "--bitrate"),
        (["{clip}", "-"], 2, "needs --format"),
        # Found by a new user (issue 11): each was an internal error or silently accepted.
        (["{clip}", "{d}/o.mp4", "--det-size", "0"], 2,
         "--det-size: expected a multiple of 32 between 128 and 4096 (e.g. 128), got 0"),
        (["{clip}", "{d}/o.mp4", "--codec", "aac"], 2, "--codec 'aac': not a video encoder"),
        (["{clip}", "{d}/o.mp4", "--codec", "gif"], 2, "--codec 'gif': the mp4 format cannot hold it"),
        (["{clip}", "{d}/o.mp4", "--crf", "60"], 2, "--crf 60: libx264 takes 0..51"),
        (["{clip}", "{d}/o.mp4", "--preset", "warp9"], 2,
         "--preset 'warp9': libx264 takes ultrafast, superfast"),
        (["{clip}", "{d}/o.mp4", "--export-detections", "{d}/nodir/x.json"], 1,
         "detections folder {d}/nodir does not exist"),
        (["{clip}", "{d}/o.xyz"], 1, "cannot write {d}/o.xyz: no output format for the extension"),
        (["{clip}", "{d}/o.wav"], 1, "no video encoder of this FFmpeg build fits the wav format"),
        (["{clip}", "{d}/fifo.mp4", "-y"], 1, "{d}/fifo.mp4 is a FIFO (named pipe), not a regular file"),
        (["{clip}", "/dev/null", "-y"], 1,
         "/dev/null is a character device, not a regular file: write to '-'"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_errors_are_one_line_with_exit_code(clips, tmp_path, args, code, text):
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "exists.mp4").write_bytes(b"old")
    os.mkfifo(tmp_path / "fifo.mp4")
    clip = clips["mp4"].path
    argv = [a.format(d=tmp_path, clip=clip) for a in args]
    r = avanon(*argv)
    err = r.stderr.decode()
    assert r.returncode == code, err
    assert text.format(d=tmp_path) in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert ".avanon-" not in err  # the output is named, never its temporary file
    assert (tmp_path / "exists.mp4").read_bytes() == b"old"
    assert not (tmp_path / "o.mp4").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.mp4", "fifo.mp4", "notes.txt"]
    assert (tmp_path / "fifo.mp4").is_fifo()


def test_unwritable_output_folder_is_one_line_naming_the_output(clips, tmp_path):
    for folder in unwritable_folder(tmp_path / "ro"):
        r = avanon(clips["mp4"].path, folder / "o.mp4")
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert err == f"avanon: error: cannot write {folder}/o.mp4: folder {folder} is not " \
                      "writable (permission denied)\n"
        assert list(folder.iterdir()) == []


def test_config_from_args_maps_every_option(tmp_path):
    args = build_parser().parse_args([
        "in.mp4", "out.mp4", "--classes", "face", "--threshold", "face=0.4", "--mode", "blur",
        "--shape", "ellipse", "--mask-scale", "1.3", "--color", "#ff0000", "--crf", "21",
        "--bitrate", "2.5M", "--preset", "fast", "--keep-metadata", "--video-stream", "1",
        "--hold", "0.5s", "--lookahead", "12", "--detect-every", "2", "--det-size", "512",
        "--model-dir", str(tmp_path), "--edge-mirror", "face=0.05"])
    cfg = config_from_args(args)
    assert cfg.detect.classes == ("face",)
    assert cfg.detect.thresholds["face"] == pytest.approx(0.4)
    assert cfg.detect.det_size == 512 and str(cfg.detect.model_dir) == str(tmp_path)
    assert (cfg.mask.mode, cfg.mask.shape, cfg.mask.scale, cfg.mask.color) == ("blur", "ellipse", 1.3, (255, 0, 0))
    assert (cfg.encode.crf, cfg.encode.bitrate, cfg.encode.preset) == (21, 2_500_000, "fast")
    assert cfg.keep_metadata and cfg.video_stream == 1 and cfg.detect_every == Schedule.of(2)
    assert cfg.track.lookahead == 12
    assert dict(cfg.detect.edge_mirror) == {"plate": 0.1, "face": 0.05}


def test_main_returns_code_instead_of_raising(tmp_path, capsys):
    assert main([str(tmp_path / "nope.mp4"), str(tmp_path / "o.mp4")]) == 1
    assert capsys.readouterr().err.startswith("avanon: error: input not found")


@pytest.fixture
def python_sigint():
    yield
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.mark.skipif(not hasattr(os, "kill"), reason="needs os.kill")
def test_ctrl_c_that_a_library_reports_as_its_own_error_is_an_interrupt(
        monkeypatch, capsys, python_sigint):
    """NumPy turns a Ctrl-C during its import into an ImportError (found by the start-up signal
    test): the run still ends as interrupted, in one line."""
    def run(argv):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises here
        except KeyboardInterrupt as exc:
            raise ImportError("\n\nIMPORTANT: PLEASE READ THIS\nC-extensions failed") from exc
        raise AssertionError("no interrupt arrived")

    monkeypatch.setattr(cli, "_run", run)
    assert main(["a.mp4", "b.mp4"]) == 130
    assert capsys.readouterr().err == "avanon: interrupted; no output written\n"


def test_an_internal_error_is_one_line(monkeypatch, capsys, python_sigint):
    def run(argv):
        raise RuntimeError("\nfirst line\nsecond line")

    monkeypatch.setattr(cli, "_run", run)
    assert main(["a.mp4", "b.mp4"]) == 1
    assert capsys.readouterr().err == ("avanon: internal error: RuntimeError: first line "
                                       "(set AVANON_DEBUG=1 for a traceback)\n")


def test_an_ignored_ctrl_c_stays_ignored(monkeypatch, python_sigint):
    """A background job starts with SIGINT ignored; the command must not take it back."""
    seen = []
    monkeypatch.setattr(cli, "_run", lambda argv: seen.append(signal.getsignal(signal.SIGINT)) or 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    assert main(["a.mp4", "b.mp4"]) == 0
    assert seen == [signal.SIG_IGN]


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


@pytest.mark.models
def test_mp4_to_stdout_is_fragmented_with_every_timestamp_kept(clips, tmp_path):
    src = clips["mp4"]
    r = avanon(src.path, "-", "--format", "mp4", "--classes", "face")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "fragmented mp4 (stdout cannot seek)" in err and len(err.strip().splitlines()) == 1
    out = tmp_path / "out.mp4"
    out.write_bytes(r.stdout)
    assert video_pts(out) == video_pts(src.path)  # B-frame start kept (moov after the first fragment)
    for name in ("audio0", "audio1"):  # the AAC priming too
        idx = src.streams[name]
        assert packets(out, idx) == packets(src.path, idx)


# -- signals ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """Long enough (15 s at 320x240) that a run is still going when it is signalled."""
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", frames=450, size=(320, 240),
                     audio=(("aac", "und"),)).path


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and children inherit that (then
    # Python never turns Ctrl-C into KeyboardInterrupt): give the run the disposition a
    # terminal gives it, whatever the test runner was started with.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "avanon", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint if os.name == "posix" else None)


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.mark.models
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stop_signal_mid_run_removes_the_temporary_file(long_clip, tmp_path, name):
    signum = getattr(signal, name, None)
    if signum is None:
        pytest.skip(f"no {name} on this platform")
    (tmp_path / "o.mp4").write_bytes(b"previous")
    proc = start(long_clip, tmp_path / "o.mp4", "-y", "--classes", "face")
    try:
        wait_for(lambda: any(".avanon-" in p.name for p in tmp_path.iterdir()) or
                 proc.poll() is not None, "the temporary output")
        time.sleep(0.3)  # frames are flowing
        assert proc.poll() is None, "the run ended before it could be signalled"
        proc.send_signal(signum)
        err = proc.communicate(timeout=60)[1].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    expected = "interrupted" if name == "SIGINT" else f"stopped by {name}"
    assert err == f"avanon: {expected}; no output written\n"
    assert proc.returncode == 128 + signum
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]
    assert (tmp_path / "o.mp4").read_bytes() == b"previous"


def test_sigint_during_start_up_is_one_line(long_clip, tmp_path):
    """Ctrl-C while the libraries (PyAV, NumPy, onnxruntime) load: no traceback."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("needs /proc to see when the libraries start loading")
    proc = start(long_clip, tmp_path / "o.mp4")
    maps = Path(f"/proc/{proc.pid}/maps")

    def loading() -> bool:
        try:
            return "numpy" in maps.read_text() or proc.poll() is not None
        except OSError:
            return proc.poll() is not None

    try:
        wait_for(loading, "the start-up imports")
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert err == "avanon: interrupted; no output written\n"
    assert proc.returncode == 130
    assert list(tmp_path.iterdir()) == []
