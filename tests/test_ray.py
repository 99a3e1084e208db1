"""Folders and split files on a local Ray instance: the same outputs as local processes, and a
killed worker's piece run again or reported failed with nothing left behind."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

import avanon
from avanon.batch import anonymize_folder
from avanon.mask.config import MaskConfig
from avanon.segments import anonymize_segmented
from imagefactory import make_jpeg
from mediafactory import make_clip
from support import BoxDetector, KillingDetector, moving_box

pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'avanon[ray]')")

from avanon.engine import RayEngine  # noqa: E402

CFG = avanon.Config(mask=MaskConfig(mode="solid"))
TESTS = str(Path(__file__).resolve().parent)


def block(i: int) -> list[list[float]]:
    """The yellow block of mediafactory's 96x64 pictures."""
    x = (i * 3) % 84
    return [[x, 16, x + 12, 28]]


@pytest.fixture(scope="module")
def ray_engine():
    # the workers import this folder's helpers (the detectors below) by name
    engine = RayEngine(cpus=2, runtime_env={"env_vars": {"PYTHONPATH": TESTS}})
    yield engine
    engine.close()


def video_pts(path):
    with av.open(str(path)) as c:
        return sorted(p.pts for p in c.demux(video=0) if p.size)


def other_packets(path):
    with av.open(str(path)) as c:
        return [(p.stream.index, p.pts, bytes(p)) for p in c.demux() if p.size
                and p.stream.type != "video"]


def hidden(folder: Path):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def test_the_engine_runs_on_the_local_instance(ray_engine):
    assert ray_engine.name == "ray" and ray_engine.slots == 2 and ray_engine.events is None


def test_a_folder_fans_out_on_ray_as_on_local_processes(tmp_path, ray_engine):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    make_clip(src / "a.mkv", codec="mpeg4", time_base=Fraction(1, 1000), frames=12)
    make_clip(src / "sub" / "b.mp4", frames=10, audio=(("aac", "eng"),))
    make_jpeg(src / "sub" / "photo.jpg")
    (src / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    local = anonymize_folder(src, tmp_path / "local", CFG, detector=BoxDetector(moving_box))
    on_ray = anonymize_folder(src, tmp_path / "ray", CFG, detector=BoxDetector(moving_box),
                              engine=ray_engine)
    assert [(r.src, r.status, r.frames) for r in on_ray.results] == \
        [(r.src, r.status, r.frames) for r in local.results]
    assert [r.status for r in on_ray.results].count("ok") == 3
    assert on_ray.of("failed")[0].src == "broken.mp4"
    for rel in ("a.mkv", "sub/b.mp4"):
        assert video_pts(tmp_path / "ray" / rel) == video_pts(tmp_path / "local" / rel)
        assert other_packets(tmp_path / "ray" / rel) == other_packets(tmp_path / "local" / rel)
    assert hidden(tmp_path / "ray") == []


def test_a_split_file_on_ray_has_one_runs_pts_and_copied_packets(tmp_path, ray_engine):
    c = make_clip(tmp_path / "in.mp4", size=(96, 64), frames=240, options={"g": "30"},
                  vfr=True, audio=(("aac", "eng"),))
    avanon.anonymize(c.path, tmp_path / "one.mp4", CFG, detector=BoxDetector(block))
    s = anonymize_segmented(c.path, tmp_path / "ray.mp4", CFG, engine=ray_engine, segments=3,
                            detector=BoxDetector(block))
    assert "3 segments on ray (2 at once)" in s.notes and s.frames == 240
    assert video_pts(tmp_path / "ray.mp4") == video_pts(tmp_path / "one.mp4") == c.pts
    assert other_packets(tmp_path / "ray.mp4") == other_packets(tmp_path / "one.mp4")
    assert hidden(tmp_path) == []


def test_a_killed_ray_worker_is_retried_and_one_that_always_dies_fails_its_file_alone(
        tmp_path, ray_engine):
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "a.mp4", frames=30)
    make_clip(src / "b.mp4", frames=30)
    once = anonymize_folder(src, tmp_path / "once", CFG, engine=ray_engine,
                            detector=KillingDetector(moving_box, 6, tmp_path / "killed"))
    assert [r.status for r in once.results] == ["ok", "ok"]
    assert (tmp_path / "killed").read_text().count("\n") == 1  # one worker died, re-run
    always = anonymize_folder(src, tmp_path / "always", CFG, engine=ray_engine,
                              detector=KillingDetector(moving_box, 6, tmp_path / "k2",
                                                       always=True))
    assert [r.status for r in always.results] == ["failed", "failed"]
    assert "worker died" in always.results[0].reason
    assert sorted(p.name for p in (tmp_path / "always").rglob("*")) == []  # nothing, not even temps


def test_a_failed_segment_on_ray_fails_the_run_with_its_own_error(tmp_path, ray_engine):
    from support import FailingDetector

    c = make_clip(tmp_path / "in.mp4", size=(96, 64), frames=240, options={"g": "30"})
    with pytest.raises(avanon.PipelineError, match="detector broke on frame 204"):
        anonymize_segmented(c.path, tmp_path / "out.mp4", CFG, engine=ray_engine, segments=3,
                            detector=FailingDetector(block, 204))
    assert not (tmp_path / "out.mp4").exists() and hidden(tmp_path) == []
