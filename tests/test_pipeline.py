"""File-to-file invariants of the core: only the video changes, and only inside the boxes."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

import avanon
from avanon.mask.config import MaskConfig
from avanon.track.config import TrackConfig
from mediafactory import make_audio_only
from support import BoxDetector, moving_box
from probe import display_matrix, first_frame, packets, psnr, streams, video_frames, video_pts


def solid_config(**kw):
    return avanon.Config(mask=MaskConfig(mode="solid", color=(0, 0, 0)),
                         track=TrackConfig(enabled=False), **kw)


def run(src, dst, config=None, **kw):
    kw.setdefault("detector", BoxDetector(moving_box))
    return avanon.anonymize(src, dst, config or solid_config(), **kw)


@pytest.fixture(scope="module")
def mp4_out(clips, tmp_path_factory):
    dst = tmp_path_factory.mktemp("out") / "out.mp4"
    summary = run(clips["mp4"].path, dst, export_detections=dst.with_suffix(".json"))
    return clips["mp4"], dst, summary


def test_frame_count_and_pts_identical_vfr(mp4_out):
    clip, dst, summary = mp4_out
    src_frames = video_frames(clip.path)
    out_frames = video_frames(dst)
    assert [p for p, *_ in out_frames] == [p for p, *_ in src_frames]
    assert out_frames[0][1] == src_frames[0][1]  # same time base
    gaps = np.diff([p for p, *_ in out_frames])
    assert len(set(gaps.tolist())) > 1, "fixture should be VFR"
    assert summary.frames == len(src_frames) == 30


@pytest.mark.parametrize("name", ["audio0", "audio1", "subtitle"])
def test_other_streams_copied_packet_for_packet(mp4_out, name):
    clip, dst, _ = mp4_out
    idx = clip.streams[name]
    src = packets(clip.path, idx)
    out = packets(dst, idx)
    assert len(src) > 0
    assert out == src


def test_languages_dispositions_and_order_kept(mp4_out):
    clip, dst, _ = mp4_out
    s_in, _ = streams(clip.path)
    s_out, _ = streams(dst)
    assert [(s["type"], s["language"], s["disposition"]) for s in s_out] == \
           [(s["type"], s["language"], s["disposition"]) for s in s_in]


def test_rotation_kept(mp4_out):
    clip, dst, _ = mp4_out
    assert display_matrix(clip.path) is not None
    assert display_matrix(dst) == display_matrix(clip.path)
    assert first_frame(dst).rotation == -90


def test_identifying_tags_stripped_others_kept(mp4_out):
    clip, dst, summary = mp4_out
    _, tags = streams(dst)
    assert tags.get("title") == "Holiday"
    assert tags.get("comment") == "keep me"
    assert not any(k.lower().startswith(("location", "artist")) for k in tags), tags
    assert any("location" in t for t in summary.stripped_tags)
    assert "artist" in summary.line()


def test_solid_inside_boxes_and_untouched_outside(mp4_out):
    clip, dst, _ = mp4_out
    src_frames = video_frames(clip.path)
    out_frames = video_frames(dst)
    for i, ((_, _, sp, _), (_, _, op, _)) in enumerate(zip(src_frames, out_frames)):
        x0, y0, x1, y1 = (int(v) for v in moving_box(i)[0])
        y_out = op[0]
        # Inside: black in limited range (Y=16, U=V=128) within codec noise.
        inner = y_out[y0 + 2:y1 - 2, x0 + 2:x1 - 2]
        assert abs(float(inner.mean()) - 16) < 3 and inner.max() < 30, f"frame {i}"
        u = op[1][y0 // 2 + 1:y1 // 2 - 1, x0 // 2 + 1:x1 // 2 - 1]
        assert abs(float(u.mean()) - 128) < 3
        # Outside (with a margin for the codec's blocks): close to the input.
        keep = np.ones_like(y_out, bool)
        keep[max(0, y0 - 8):y1 + 8, max(0, x0 - 8):x1 + 8] = False
        assert psnr(sp[0][keep], y_out[keep]) > 35, f"frame {i}"


def test_detections_export(mp4_out):
    clip, dst, _ = mp4_out
    data = json.loads(dst.with_suffix(".json").read_text())
    assert data["width"] == clip.width and len(data["frames"]) == 30
    f3 = data["frames"][3]
    assert f3["frame"] == 3 and f3["pts"] == clip.pts[3]
    assert f3["objects"][0]["class"] == "face"
    assert f3["objects"][0]["box"] == [float(v) for v in moving_box(3)[0]]


def test_matroska_attachments_chapters_subtitles(clips, tmp_path):
    clip = clips["mkv"]
    dst = tmp_path / "out.mkv"
    summary = run(clip.path, dst)
    assert video_pts(dst) == video_pts(clip.path)
    for name in ("audio0", "subtitle"):
        assert packets(dst, clip.streams[name]) == packets(clip.path, clip.streams[name])
    s_out, tags = streams(dst)
    assert [s["type"] for s in s_out] == [s["type"] for s in streams(clip.path)[0]]
    att = [s for s in s_out if s["type"] == "attachment"]
    assert att and att[0]["metadata"].get("filename") == "notes.txt"
    assert tags.get("title") == "Street"
    assert not {"MAKE", "MODEL", "SERIAL_NUMBER"} & {k.upper() for k in tags}
    with av.open(str(dst)) as c:
        assert [ch["metadata"].get("title") for ch in c.chapters()] == ["One", "Two"]
    assert summary.encoder == "mpeg4"


def test_keep_metadata_keeps_everything(clips, tmp_path):
    clip = clips["mkv"]
    dst = tmp_path / "out.mkv"
    summary = run(clip.path, dst, solid_config(keep_metadata=True))
    _, tags = streams(dst)
    assert {"MAKE", "MODEL", "SERIAL_NUMBER"} <= {k.upper() for k in tags}
    assert summary.stripped_tags == []


def test_10bit_and_colour_tags_kept(clips, tmp_path):
    clip = clips["hevc10"]
    dst = tmp_path / "out.mkv"
    run(clip.path, dst)
    fi, fo = first_frame(clip.path), first_frame(dst)
    assert fo.format.name == fi.format.name == "yuv420p10le"
    for attr in ("color_range", "color_primaries", "color_trc", "colorspace"):
        assert getattr(fo, attr) == getattr(fi, attr), attr
    with av.open(str(dst)) as c:
        assert c.streams.video[0].codec_context.name == "hevc"
    # Solid black in 10-bit limited range is Y=64.
    y = video_frames(dst)[5][2][0]
    x0, y0, x1, y1 = (int(v) for v in moving_box(5)[0])
    assert abs(float(y[y0 + 2:y1 - 2, x0 + 2:x1 - 2].mean()) - 64) < 8


def test_mpeg_ps_with_mp2_audio(clips, tmp_path):
    clip = clips["mpg"]
    dst = tmp_path / "out.mpg"
    summary = run(clip.path, dst)
    assert video_pts(dst) == video_pts(clip.path)
    idx = clip.streams["audio0"]
    assert packets(dst, idx) == packets(clip.path, idx)
    assert summary.encoder == "mpeg1video"


def test_other_video_streams_dropped_unless_asked(clips, tmp_path):
    clip = clips["twovideo"]
    dst = tmp_path / "out.mkv"
    summary = run(clip.path, dst)
    assert [s["type"] for s in streams(dst)[0]] == ["video"]
    assert any("not anonymized" in d for d in summary.dropped_streams)
    dst2 = tmp_path / "out2.mkv"
    run(clip.path, dst2, solid_config(keep_other_video=True))
    assert [s["type"] for s in streams(dst2)[0]] == ["video", "video"]


def test_video_stream_choice(clips, tmp_path):
    clip = clips["twovideo"]
    dst = tmp_path / "second.mkv"
    run(clip.path, dst, solid_config(video_stream=1), detector=BoxDetector(lambda i: [[0, 0, 8, 8]]))
    s_out, _ = streams(dst)
    assert [s["type"] for s in s_out] == ["video"]
    assert first_frame(dst).width == 32


# -- failure paths -------------------------------------------------------------------------

class Boom(Exception):
    pass


class FailingDetector:
    def __init__(self, at: int):
        self.at = at

    def detect(self, frames, indices):
        if self.at in indices:
            raise Boom("detector crashed")
        return BoxDetector(moving_box).detect(frames, indices)


def test_fails_closed_and_leaves_nothing(clips, tmp_path):
    dst = tmp_path / "out.mp4"
    with pytest.raises(avanon.PipelineError, match="detect stage failed on frame 10: Boom") as err:
        run(clips["mp4"].path, dst, detector=FailingDetector(at=10))
    assert isinstance(err.value.__cause__, Boom)
    assert not dst.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_failed_run_leaves_existing_output_untouched(clips, tmp_path):
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous")
    with pytest.raises(avanon.PipelineError, match="frame 0"):
        run(clips["mp4"].path, dst, overwrite=True, detector=FailingDetector(at=0))
    assert dst.read_bytes() == b"previous"


def test_a_failing_reader_thread_fails_the_run_closed(clips, tmp_path, monkeypatch):
    """A decoder that breaks mid-stream stops every stage; nothing reaches the destination."""
    from avanon.media.source import MediaSource

    decode = MediaSource.decode
    calls = []

    def broken(self, packet):
        calls.append(packet)
        if len(calls) == 12:
            raise Boom("decoder broke")
        return decode(self, packet)

    monkeypatch.setattr(MediaSource, "decode", broken)
    dst = tmp_path / "out.mp4"
    with pytest.raises(avanon.PipelineError, match="read stage failed at frame .*Boom") as err:
        run(clips["mp4"].path, dst, detector=BoxDetector(moving_box))
    assert isinstance(err.value.__cause__, Boom)
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_failing_writer_thread_fails_the_run_closed(clips, tmp_path, monkeypatch):
    """An encoder that breaks mid-stream stops every stage; the old output stays as it was."""
    from avanon.media.sink import MediaSink

    write = MediaSink.write

    def broken(self, frame):
        if self.frames_encoded == 5:
            raise Boom("encoder broke")
        return write(self, frame)

    monkeypatch.setattr(MediaSink, "write", broken)
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous")
    with pytest.raises(avanon.PipelineError, match="write stage failed at frame 5: Boom"):
        run(clips["mp4"].path, dst, overwrite=True, detector=BoxDetector(moving_box))
    assert dst.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


@pytest.mark.parametrize(
    "make_src, make_dst, overwrite, error, text",
    [
        (lambda d, c: d / "missing.mp4", lambda d, c: d / "o.mp4", False, avanon.InputNotFoundError, "not found"),
        (lambda d, c: (d / "notes.txt").write_text("hello") and d / "notes.txt", lambda d, c: d / "o.mp4",
         False, avanon.InputError, "cannot read"),
        (lambda d, c: c, lambda d, c: c, True, avanon.OutputError, "is the input"),
        (lambda d, c: c, lambda d, c: (d / "exists.mp4").write_bytes(b"x") and d / "exists.mp4", False,
         avanon.OutputError, "-y"),
        (lambda d, c: c, lambda d, c: d / "nodir" / "o.mp4", False, avanon.OutputError, "does not exist"),
    ],
    ids=["missing", "not-media", "same-as-input", "exists", "no-folder"],
)
def test_bad_paths(clips, tmp_path, make_src, make_dst, overwrite, error, text):
    src = make_src(tmp_path, clips["mp4"].path)
    dst = make_dst(tmp_path, clips["mp4"].path)
    before = Path(clips["mp4"].path).stat().st_mtime_ns
    with pytest.raises(error, match=text):
        run(src, dst, overwrite=overwrite)
    assert Path(clips["mp4"].path).stat().st_mtime_ns == before


def test_missing_video_stream_index(clips, tmp_path):
    with pytest.raises(avanon.InputError, match="video_stream 3"):
        run(clips["mp4"].path, tmp_path / "o.mp4", solid_config(video_stream=3))


def test_audio_only_input_is_refused(tmp_path):
    src = make_audio_only(tmp_path / "a.m4a")
    with pytest.raises(avanon.InputError, match="no video stream"):
        run(src, tmp_path / "o.mp4")


def test_hwaccel_is_opt_in_and_fails_clearly_without_a_device(clips, tmp_path):
    """On a machine without the device: one clear error; with it: the same invariants."""
    dst = tmp_path / "out.mp4"
    try:
        run(clips["mp4"].path, dst, solid_config(hwaccel="cuda"))
    except avanon.InputError as exc:
        assert "hwaccel cuda" in str(exc) and "software" in str(exc)
        assert not dst.exists()
    else:
        assert video_pts(dst) == video_pts(clips["mp4"].path)


def test_same_input_and_settings_give_the_same_output_with_tracking_and_motion(clips, tmp_path):
    """Tracking with measured motion, skipped frames and back-fill: byte-identical outputs."""
    cfg = avanon.Config(mask=MaskConfig(mode="solid", color=(0, 0, 0)), detect_every=3)
    assert cfg.track.motion
    outs = []
    for k in range(2):
        dst = tmp_path / f"out{k}.mkv"
        run(clips["mkv"].path, dst, cfg,
            detector=BoxDetector(moving_box, skip=range(5, 12)),
            export_detections=tmp_path / f"d{k}.json")
        outs.append(dst)
    def video_packets(path):  # Matroska headers hold a random segment id: compare the video
        with av.open(str(path)) as c:
            return [(p.pts, bytes(p)) for p in c.demux(video=0) if p.size]

    assert video_packets(outs[0]) == video_packets(outs[1])
    assert (tmp_path / "d0.json").read_text() == (tmp_path / "d1.json").read_text()
