"""One video split at keyframes, run in segments at once and joined: the same frames, pts,
copied packets and masks as one run; failures leave nothing behind."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import av
import pytest

import avanon
from avanon.detect import DetectConfig, DetectStage
from avanon.engine import LocalEngine
from avanon.mask.config import MaskConfig
from avanon.track.config import TrackConfig
from avanon.segments import (MIN_SEGMENT_FRAMES, Timeline, anonymize_segmented, plan_segments,
                             run_segment, scan_video, warmup_frames)
from mediafactory import make_clip
from probe import display_matrix
from support import BoxDetector, FailingDetector, KillingDetector

CFG = avanon.Config(mask=MaskConfig(mode="solid"))
SIZE = (96, 64)


def box(i: int) -> list[list[float]]:
    """The clip's yellow block (see mediafactory.picture): 12 px, 3 px a frame to the right,
    back to the left edge every 28 frames (a new track each time)."""
    x = (i * 3) % (SIZE[0] - 12)
    return [[x, 16, x + 12, 28]]


#: frames where the detector misses the object: the scheduled passes at the seams of a 3-way
#: split of 240 frames (cuts at keyframes 90 and 150), so tracks are held over both seams
MISSES = {90, 150}


def clip(path, frames=240, **kw):
    return make_clip(path, size=SIZE, frames=frames, options={"g": "30", "bf": "2"}, **kw)


def packets(path):
    """Per stream: video (pts, dts) and every other stream's (pts, dts, bytes), in file order."""
    out: dict[int, list] = {}
    with av.open(str(path)) as c:
        for p in c.demux():
            if p.size:
                body = None if p.stream.type == "video" else bytes(p)
                out.setdefault(p.stream.index, []).append((p.pts, p.dts, body))
    return out


def masked(path) -> list[bool]:
    """Per output frame: is the yellow block painted out (black) in it?"""
    flags = []
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            x0, y0, x1, y1 = (int(v) for v in box(i)[0])
            inner = frame.to_ndarray(format="gray")[y0 + 2:y1 - 2, x0 + 2:x1 - 2]
            flags.append(float(inner.mean()) < 60.0)  # the block itself is about 216
    return flags


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- the plan -------------------------------------------------------------------------------
def test_cuts_fall_on_keyframes_near_equal_shares_with_a_warm_up_before_each():
    pts = tuple(range(0, 300 * 512, 512))  # 300 frames
    keys = tuple(pts[::25])
    tl = Timeline(pts, keys, Fraction(1, 15360), 30.0)
    plan = plan_segments(tl, 3, warmup=40)
    assert [s.start for s in plan] == [0, pts[100], pts[200]]
    assert sum(s.frames for s in plan) == 300
    assert [s.end for s in plan] == [pts[100], pts[200], None]
    assert all(s.start in keys for s in plan)
    second = plan[1]
    assert second.warm == pts[60] and second.first_index == 60
    assert second.seek == pts[50]  # the keyframe at or before the warm-up's first frame
    assert plan[0].seek is None and plan[0].warm == 0


def test_segments_too_short_are_merged_and_a_short_video_is_not_cut():
    pts = tuple(range(100))
    tl = Timeline(pts, (0, 30, 60, 90), Fraction(1, 30), 30.0)
    assert len(plan_segments(tl, 4, warmup=10)) == 1  # no two segments of MIN_SEGMENT_FRAMES
    long = Timeline(tuple(range(200)), tuple(range(0, 200, 10)), Fraction(1, 30), 30.0)
    plan = plan_segments(long, 8, warmup=10)
    assert all(s.frames >= MIN_SEGMENT_FRAMES for s in plan) and len(plan) == 4


def test_warm_up_covers_the_hold_and_confirming_detections():
    cfg = avanon.Config(detect_every={"face": 6, "plate": 6})
    n = warmup_frames(cfg, 30.0)
    assert n >= cfg.track.hold_frames(30.0) + 6 * cfg.track.min_hits and n >= 30
    assert warmup_frames(avanon.Config(track=TrackConfig(enabled=False)), 30.0) == 0


def test_scan_refuses_what_cannot_be_split(tmp_path):
    c = clip(tmp_path / "a.mp4", frames=60)
    tl = scan_video(c.path)
    assert isinstance(tl, Timeline) and list(tl.pts) == c.pts and tl.keys[0] == c.pts[0]


# -- a split run ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine():
    e = LocalEngine(2)
    yield e
    e.close()


@pytest.mark.parametrize("ext,vfr", [("mp4", False), ("mkv", True), ("ts", False)])
def test_split_run_gives_one_runs_frames_pts_packets_and_masks(tmp_path, engine, ext, vfr):
    c = clip(tmp_path / f"in.{ext}", vfr=vfr, audio=(("aac", "eng"), ("mp2", "fra")),
             rotation=90 if ext == "mp4" else 0)
    one = avanon.anonymize(c.path, tmp_path / f"one.{ext}", CFG,
                           detector=BoxDetector(box, skip=MISSES))
    seen = []
    two = anonymize_segmented(c.path, tmp_path / f"two.{ext}", CFG, engine=engine, segments=3,
                              detector=BoxDetector(box, skip=MISSES), progress=seen.append)
    assert "3 segments on local (2 at once)" in two.notes
    assert seen[-1].frames == seen[-1].total == 240  # progress ends at every frame encoded
    assert [p.frames for p in seen] == sorted(p.frames for p in seen)
    assert two.frames == one.frames == 240
    a, b = packets(tmp_path / f"one.{ext}"), packets(tmp_path / f"two.{ext}")
    assert a.keys() == b.keys() and len(a) == 3
    for index in a:
        if index == 0:  # video: the same frames at the same times, decodable in order
            assert sorted(p for p, _, _ in a[0]) == sorted(p for p, _, _ in b[0])
            dts = [d for _, d, _ in b[0] if d is not None]
            assert dts == sorted(set(dts))
        else:  # copied streams: byte for byte, once
            assert a[index] == b[index]
    # a track crossing a seam (held over the misses there) is masked as in one run
    ma, mb = masked(tmp_path / f"one.{ext}"), masked(tmp_path / f"two.{ext}")
    assert ma == mb
    assert all(ma[84:96]) and all(ma[144:156])  # held over the misses at both seams
    rotation = display_matrix(tmp_path / f"two.{ext}")
    assert rotation == display_matrix(tmp_path / f"one.{ext}")
    assert (rotation is not None) == (ext == "mp4")  # the rotated clip keeps its rotation
    assert leftovers(tmp_path) == []


def test_a_segment_keeps_the_whole_videos_frame_numbers_and_schedule(tmp_path):
    c = clip(tmp_path / "in.mp4", frames=150)
    cfg = avanon.Config(mask=MaskConfig(mode="solid"), detect_every=5)
    whole = BoxDetector(box)
    avanon.anonymize(c.path, tmp_path / "one.mp4", cfg, detector=whole)
    plan = plan_segments(scan_video(c.path), 2, warmup_frames(cfg, 30.0))
    seg = plan[1]
    assert len(plan) == 2 and seg.first_index > 0
    part = BoxDetector(box)
    result = run_segment(cfg, str(c.path), str(tmp_path / "seg.mp4"), seg, detector=part)
    own = range(seg.first_index + (c.pts.index(seg.start) - seg.first_index), 150)
    # the frames it examines are numbered as in the whole video, on the same schedule
    assert min(part.calls) == -(-seg.first_index // 5) * 5  # the first one due, not before
    assert [i for i in part.calls if i in own] == [i for i in whole.calls if i in own]
    assert result.frames == seg.frames and result.first_pts == seg.start
    assert [t[0] for t in result.timestamps] != [] and len(result.timestamps) == seg.frames


def test_a_file_that_cannot_be_split_runs_in_one_process_and_says_why(tmp_path, engine):
    short = clip(tmp_path / "short.mp4", frames=40)
    s = anonymize_segmented(short.path, tmp_path / "o1.mp4", CFG, engine=engine,
                            detector=BoxDetector(box))
    assert s.frames == 40 and any(n.startswith("not split (40 frames") for n in s.notes)
    c = clip(tmp_path / "in.mp4")
    cfg = avanon.Config(mask=MaskConfig(mode="solid"), vf="hflip")
    s = anonymize_segmented(c.path, tmp_path / "o2.mp4", cfg, engine=engine,
                            detector=BoxDetector(box))
    assert s.frames == 240 and any("filter chain" in n for n in s.notes)


def test_a_failed_segment_fails_the_run_and_leaves_nothing(tmp_path, engine):
    c = clip(tmp_path / "in.mp4")
    with pytest.raises(avanon.PipelineError, match="detector broke on frame 204"):
        anonymize_segmented(c.path, tmp_path / "out.mp4", CFG, engine=engine, segments=3,
                            detector=FailingDetector(box, 204))
    assert not (tmp_path / "out.mp4").exists()
    assert leftovers(tmp_path) == []


def test_a_killed_worker_is_run_again_and_a_worker_that_always_dies_fails_the_run(tmp_path):
    c = clip(tmp_path / "in.mp4")
    engine = LocalEngine(2, retries=1)
    s = anonymize_segmented(c.path, tmp_path / "out.mp4", CFG, engine=engine, segments=3,
                            detector=KillingDetector(box, 174, tmp_path / "killed"))
    assert (tmp_path / "killed").read_text().count("\n") == 1  # killed once, then run again
    assert s.frames == 240 and len(packets(tmp_path / "out.mp4")[0]) == 240
    with pytest.raises(avanon.PipelineError, match="worker process died"):
        anonymize_segmented(c.path, tmp_path / "dead.mp4", CFG, engine=engine, segments=3,
                            detector=KillingDetector(box, 174, tmp_path / "k2", always=True))
    assert not (tmp_path / "dead.mp4").exists()
    assert leftovers(tmp_path) == []


def _cli(*args):
    return subprocess.run([sys.executable, "-c", "import sys; from avanon.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", *map(str, args)],
                          capture_output=True, text=True)


def test_cli_address_needs_the_ray_engine_and_jobs_must_be_positive(tmp_path):
    c = clip(tmp_path / "in.mkv", frames=10)
    r = _cli(c.path, tmp_path / "out.mkv", "--address", "localhost:1")
    assert r.returncode == 2 and "--address: only with --engine ray" in r.stderr
    r = _cli(c.path, tmp_path / "out.mkv", "--jobs", "0")
    assert r.returncode == 2 and "--jobs" in r.stderr
    assert not (tmp_path / "out.mkv").exists()


@pytest.mark.models
def test_cli_jobs_splits_one_video_with_the_real_detectors(tmp_path):
    c = clip(tmp_path / "in.mkv", frames=900, audio=(("aac", "eng"),))
    r = _cli(c.path, tmp_path / "out.mkv", "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert "900 frames" in r.stderr and "2 segments on local (2 at once)" in r.stderr
    assert len(packets(tmp_path / "out.mkv")[0]) == 900
    # too short to pay for its overlap: one process, and the summary says why
    r = _cli(c.path, tmp_path / "short.mkv", "--jobs", "2", "--vf-pre", "trim=end_frame=300")
    assert r.returncode == 0 and "not split (a filter chain" in r.stderr


@pytest.mark.media
@pytest.mark.models
def test_a_real_vfr_clip_with_audio_split_in_two_matches_one_run(tmp_path, media, engine):
    src = media / "video" / "derived" / "grid_concat_vfr_audio.mp4"
    one = avanon.anonymize(src, tmp_path / "one.mp4")
    two = anonymize_segmented(src, tmp_path / "two.mp4", engine=engine, segments=2)
    assert "2 segments on local (2 at once)" in two.notes and two.frames == one.frames
    a, b = packets(tmp_path / "one.mp4"), packets(tmp_path / "two.mp4")
    assert sorted(p for p, _, _ in a[0]) == sorted(p for p, _, _ in b[0])
    assert [v for k, v in a.items() if k] == [v for k, v in b.items() if k]
    # the same faces, give or take the frames around the seam
    assert abs(two.boxes.get("face", 0) - one.boxes.get("face", 0)) <= 0.05 * one.boxes["face"]


class YellowFinder:
    """Image detector: one face box per run of image columns holding yellow pixels, scored by
    the width of the image it was found in (so a crop and the whole frame can be told apart)."""

    classes = ("face",)

    def __init__(self):
        self.widths: list[int] = []

    def detect(self, images):
        import numpy as np

        from avanon.detections import Detections

        out = []
        for img in images:
            self.widths.append(img.shape[1])
            yellow = (img[..., 0] > 150) & (img[..., 1] > 150) & (img[..., 2] < 110)
            cols = np.flatnonzero(yellow.any(axis=0))
            boxes = []
            if len(cols):
                breaks = np.flatnonzero(np.diff(cols) > 1)
                for a, b in zip(np.r_[0, breaks + 1], np.r_[breaks, len(cols) - 1]):
                    rows = np.flatnonzero(yellow[:, cols[a]:cols[b] + 1].any(axis=1))
                    boxes.append([cols[a], rows[0], cols[b] + 1, rows[-1] + 1])
            score = 0.5 + img.shape[1] / 10000
            out.append(Detections.from_boxes(boxes, [score] * len(boxes), 0) if boxes
                       else Detections.empty())
        return out


STILL_SIZE = (320, 192)


def still_camera_clip(path, frames=300):
    """A fixed camera: a textured background that does not move (grain aside), a yellow block
    that stands at the left and one that crosses the picture at 2 px a frame."""
    import numpy as np

    rng = np.random.default_rng(5)
    w, h = STILL_SIZE
    background = rng.integers(20, 120, (h, w, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=30, options={"g": "30", "crf": "18"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            img = background.copy()
            img[40:56, 16:32] = (240, 240, 40)
            x = 96 + (2 * i) % 200
            img[120:136, x:x + 16] = (240, 240, 40)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            f.time_base = Fraction(1, 30)
            out.mux(v.encode(f))
        out.mux(v.encode(None))


def still_masked(path) -> list[tuple[bool, bool]]:
    """Per frame: are the standing and the crossing block painted out?"""
    flags = []
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            g = frame.to_ndarray(format="gray")
            x = 96 + (2 * i) % 200
            flags.append((float(g[42:54, 18:30].mean()) < 40, float(g[122:134, x + 2:x + 14].mean()) < 40))
    return flags


class Recording(DetectStage):
    """The detect stage with :class:`YellowFinder`, keeping what it returns per frame index."""

    def __init__(self):
        super().__init__(DetectConfig(classes=("face",), det_size=320), detectors=[YellowFinder()])
        self.found: dict[int, list] = {}

    def detect(self, frames, indices, **kwargs):
        out = super().detect(frames, indices, **kwargs)
        for i, d in zip(indices, out):
            self.found[int(i)] = (d.xyxy.round(2).tolist(), d.scores.round(4).tolist())
        return out


def test_a_split_run_remembers_the_still_parts_as_one_run_does(tmp_path, engine):
    still_camera_clip(tmp_path / "in.mp4")
    # a whole picture every 10th run: the warm-up must reach back to one (60 frames)
    cfg = avanon.Config(mask=MaskConfig(mode="solid"),
                        detect_every=avanon.Schedule({"face": 6}, {"face": 2}, rescan=10))
    assert cfg.schedule.settles == 60 and warmup_frames(cfg, 30.0) > 60
    one = Recording()
    avanon.anonymize(tmp_path / "in.mp4", tmp_path / "one.mp4", cfg, detector=one)
    # most runs examined only the part around the crossing block
    widths = one.detectors[0].widths
    assert sum(w < STILL_SIZE[0] for w in widths) > len(widths) / 2
    # a segment that starts mid-video finds exactly what the one run found on its frames
    timeline = scan_video(tmp_path / "in.mp4")
    plan = plan_segments(timeline, 3, warmup_frames(cfg, 30.0), MIN_SEGMENT_FRAMES // 8)
    assert len(plan) == 3
    for seg in plan[1:]:
        part = Recording()
        run_segment(cfg, str(tmp_path / "in.mp4"), str(tmp_path / f"seg{seg.index}.mp4"), seg,
                    detector=part)
        start = timeline.pts.index(seg.start)
        own = sorted(i for i in part.found if i >= start)
        assert own and [part.found[i] for i in own] == [one.found[i] for i in own]
    # and the joined split run masks what the one run masks
    s = anonymize_segmented(tmp_path / "in.mp4", tmp_path / "two.mp4", cfg, engine=engine,
                            segments=3, detector=Recording())
    assert s.frames == 300
    a, b = still_masked(tmp_path / "one.mp4"), still_masked(tmp_path / "two.mp4")
    assert all(x and y for x, y in a)  # both blocks masked on every frame
    assert a == b
