"""Folders: a mirror of the tree, failures alone, resume, parallel jobs, one summary."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from fractions import Fraction

import av
import pytest

import avanon
from avanon.batch import _threads, anonymize_folder
from avanon.mask.config import MaskConfig
from imagefactory import make_jpeg, make_png
from mediafactory import make_clip
from support import BoxDetector, moving_box

CFG = avanon.Config(mask=MaskConfig(mode="solid"))


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "in"
    (src / "day2" / "cam").mkdir(parents=True)
    make_clip(src / "a.mkv", codec="mpeg4", time_base=Fraction(1, 1000), frames=12)
    make_clip(src / "day2" / "b.mp4", frames=10)
    make_jpeg(src / "day2" / "photo.jpg")
    make_png(src / "day2" / "cam" / "shot.png")
    (src / "notes.txt").write_text("not media")
    (src / "day2" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    (src / ".hidden.mp4").write_bytes(b"ignored")
    return src, tmp_path / "out"


def snapshot(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


def video_packets(path):
    with av.open(str(path)) as c:
        return [(p.pts, bytes(p)) for p in c.demux(video=0) if p.size]


def test_mirrors_the_tree_fails_alone_and_lists_what_it_skipped(tree):
    src, dst = tree
    before = snapshot(src)
    calls = []
    summary = anonymize_folder(src, dst, CFG, detector=BoxDetector(moving_box),
                               progress=calls.append)
    got = {r.src: (r.status, r.reason) for r in summary.results}
    assert {k for k, v in got.items() if v[0] == "ok"} == {
        "a.mkv", "day2/b.mp4", "day2/photo.jpg", "day2/cam/shot.png"}
    assert got["notes.txt"] == ("skipped", "not a video or image")
    assert got["day2/broken.mp4"][0] == "failed" and "cannot read" in got["day2/broken.mp4"][1]
    assert summary.failed
    assert sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file()) == [
        "a.mkv", "day2/b.mp4", "day2/cam/shot.png", "day2/photo.jpg"]
    assert snapshot(src) == before  # the input is never written
    with av.open(str(dst / "a.mkv")) as c:
        assert c.streams.video[0].frames in (0, 12) and len(list(c.decode(video=0))) == 12
    lines = summary.lines()
    assert lines[0].startswith("avanon: 6 files | 4 ok (24 frames) | 1 failed | 1 skipped")
    assert lines[1].startswith("avanon: failed day2/broken.mp4: ")
    assert lines[2] == "avanon: skipped notes.txt: not a video or image"
    last = calls[-1]
    assert (last.files_done, last.files, last.frames) == (5, 5, 24)
    assert abs(last.total_frames - 24) <= 2  # estimated from the containers


def test_resume_skips_complete_outputs_and_without_it_existing_outputs_fail(tree):
    src, dst = tree
    anonymize_folder(src, dst, CFG, detector=BoxDetector(moving_box))
    stamp = {p: p.stat().st_mtime_ns for p in dst.rglob("*") if p.is_file()}
    again = anonymize_folder(src, dst, CFG, detector=BoxDetector(moving_box), resume=True)
    assert len(again.of("done")) == 4 and [r.src for r in again.of("failed")] == ["day2/broken.mp4"]
    assert {p: p.stat().st_mtime_ns for p in dst.rglob("*") if p.is_file()} == stamp
    (dst / "day2" / "b.mp4").unlink()
    third = anonymize_folder(src, dst, CFG, detector=BoxDetector(moving_box))
    assert {r.src for r in third.of("ok")} == {"day2/b.mp4"}
    assert all("exists: pass -y" in r.reason for r in third.of("failed")
               if r.src != "day2/broken.mp4")
    assert "already done" in again.lines()[0]


def test_parallel_jobs_give_the_same_files(tree, tmp_path):
    """Running files side by side changes nothing (with the thread counts fixed: the encoders'
    own threading, which the jobs share out, may change the bitstream). Both videos are written
    with the MPEG-4 Part 2 encoder: libx264 with one thread has, twice in ~10 full-suite runs
    on a loaded machine, given a different bitstream for the same run (not reproduced alone;
    followed up in the issue on throughput), and this test is about avanon's jobs, not x264."""
    src, dst = tree
    cfg = avanon.Config(mask=MaskConfig(mode="solid"),
                        encode=avanon.EncodeConfig(codec="mpeg4", threads=1))
    one = anonymize_folder(src, dst, cfg, detector=BoxDetector(moving_box), jobs=1)
    two = anonymize_folder(src, tmp_path / "out2", cfg, detector=BoxDetector(moving_box), jobs=3)
    assert [(r.src, r.status) for r in one.results] == [(r.src, r.status) for r in two.results]
    for name in ("a.mkv", "day2/b.mp4"):
        assert video_packets(dst / name) == video_packets(tmp_path / "out2" / name)
    assert (dst / "day2/photo.jpg").read_bytes() == (tmp_path / "out2/day2/photo.jpg").read_bytes()


def test_cores_are_shared_between_jobs():
    assert _threads(1, 16) == 16 and _threads(4, 16) == 4 and _threads(3, 2) == 1


def test_output_inside_the_input_is_not_walked_and_bad_folders_are_refused(tree):
    src, _ = tree
    summary = anonymize_folder(src, src / "anon", CFG, detector=BoxDetector(moving_box))
    assert not any(r.src.startswith("anon") for r in summary.results)
    with pytest.raises(avanon.OutputError, match="is the input folder"):
        anonymize_folder(src, src, CFG)
    with pytest.raises(avanon.ConfigError, match="jobs"):
        anonymize_folder(src, src / "x", CFG, jobs=0)


def avanon_cli(*args):
    return subprocess.run([sys.executable, "-m", "avanon", *map(str, args)],
                          capture_output=True, timeout=600)


def test_cli_exit_code_says_whether_any_failed_and_pipes_get_no_progress(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "notes.txt").write_text("x")
    r = avanon_cli(src, tmp_path / "out")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert err.splitlines() == [err.splitlines()[0], "avanon: skipped notes.txt: not a video or image"]
    (src / "bad.mkv").write_bytes(b"garbage")
    r = avanon_cli(src, tmp_path / "out", "--jobs", "2")
    err = r.stderr.decode()
    assert r.returncode == 1 and "\r" not in err and "Traceback" not in err
    assert "| 1 failed |" in err and "avanon: failed bad.mkv: cannot read" in err
    r = avanon_cli(src, tmp_path / "out", "--export-detections", tmp_path / "x.json")
    assert r.returncode == 2 and "not for a folder input" in r.stderr.decode()
    r = avanon_cli(tmp_path / "in" / "notes.txt", tmp_path / "o.mp4", "--resume")
    assert r.returncode == 2 and "only for a folder input" in r.stderr.decode()


@pytest.mark.models
def test_cli_folder_with_the_real_detectors(tree):
    src, dst = tree
    r = avanon_cli(src, dst, "--jobs", "2")
    err = r.stderr.decode()
    assert r.returncode == 1, err  # the broken file
    assert err.splitlines()[0].startswith("avanon: 6 files | 4 ok")
    assert os.path.exists(dst / "day2" / "cam" / "shot.png")


def test_a_killed_worker_is_run_again_and_one_that_always_dies_fails_its_file_alone(tmp_path):
    from support import KillingDetector

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mkv"):
        make_clip(src / name, frames=12)
    once = anonymize_folder(src, tmp_path / "once", CFG, jobs=2,
                            detector=KillingDetector(moving_box, 6, tmp_path / "killed"))
    assert [r.status for r in once.results] == ["ok", "ok", "ok"]
    assert (tmp_path / "killed").read_text().count("\n") == 1
    always = anonymize_folder(src, tmp_path / "always", CFG, jobs=2,
                              detector=KillingDetector(moving_box, 6, tmp_path / "k2",
                                                       always=True))
    assert [r.status for r in always.results] == ["failed"] * 3
    assert all("worker died" in r.reason for r in always.results)
    assert list((tmp_path / "always").iterdir()) == []  # no output, no temporary file
