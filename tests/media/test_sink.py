"""MediaSource and MediaSink on small clips: exact timestamps through a picture-clock encoder,
copied packets, rotation, abort, and the errors of opening an input."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from avanon.errors import InputError, InputNotFoundError
from avanon.media.encode import EncodeConfig
from avanon.media.sink import MediaSink
from avanon.media.source import MediaSource, display_matrix_of
from mediafactory import make_audio_only, make_clip

FAST = EncodeConfig(preset="ultrafast")


def run_through(source: MediaSource, sink: MediaSink, hook=None, on_copy=None) -> list[int]:
    """Demux ``source`` into ``sink`` as the pipeline does: decode and write the video (each frame
    through ``hook(i, frame)`` first), copy every other packet (shown to ``on_copy`` first), then
    finish. Returns the pts written."""
    written: list[int] = []

    def write(frames):
        for frame in frames:
            if hook is not None:
                frame = hook(len(written), frame)
            written.append(frame.pts)
            sink.write(frame)

    for packet in source.demux():
        if packet.stream.index == source.video.index:
            write(source.decode(packet if packet.size or packet.dts is not None else None))
        else:
            if on_copy is not None:
                on_copy(packet)
            sink.copy(packet)
    write(source.decode(None))
    sink.finish()
    return written


def video_pts(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return sorted(p.pts for p in c.demux(c.streams.video[0]) if p.pts is not None)


def open_fds(path: Path) -> list[str]:
    fd_dir = "/proc/self/fd"
    if not os.path.isdir(fd_dir):
        pytest.skip("no /proc/self/fd here to see which files are open")
    return [fd for fd in os.listdir(fd_dir) if os.path.realpath(f"{fd_dir}/{fd}") == str(path)]


@pytest.fixture(scope="module")
def mpeg1_vfr(tmp_path_factory):
    """MPEG-1 in MPEG-TS (one PES, so one timestamp, per frame) with irregular frame gaps."""
    d = tmp_path_factory.mktemp("mpeg1")
    return make_clip(d / "mpeg1_vfr.ts", codec="mpeg1video", rate=25, time_base=Fraction(1, 90000),
                     vfr=True, frames=20)


# -- pts through a picture-clock encoder -----------------------------------------------------

def test_picture_clock_encoder_keeps_vfr_pts_exactly(mpeg1_vfr, tmp_path):
    source = MediaSource(mpeg1_vfr.path)
    out = tmp_path / "out.ts"
    sink = MediaSink(str(out), source, EncodeConfig())
    try:
        written = run_through(source, sink)
    finally:
        source.close()
    assert sink.report.encoder == "mpeg1video"
    assert len(written) == 20
    assert len(set(np.diff(written))) > 1, "the source should be VFR"
    assert not any("bumped" in n for n in sink.report.notes)
    assert video_pts(out) == written


def test_picture_clock_restores_pts_off_the_frame_grid(mpeg1_vfr, tmp_path):
    """Pts a few ticks off the 1/25 s grid are rounded for the encoder, then restored exactly."""
    def jitter(i, frame):
        frame.pts += (i * 37) % 1000  # < half a frame period (3600 ticks): no two frames collide
        return frame

    source = MediaSource(mpeg1_vfr.path)
    out = tmp_path / "jitter.ts"
    sink = MediaSink(str(out), source, EncodeConfig())
    try:
        written = run_through(source, sink, jitter)
    finally:
        source.close()
    off_grid = [p for p in written if (p - written[0]) % 3600]
    assert len(off_grid) >= 15  # a grid-only reconstruction would get all of these wrong
    assert video_pts(out) == written


#: VFR pts (1/90000 s) where 4600, 11600, 18900, 29500, 40800 and 51000 round to the same
#: 1/25 s slot as the frame before them, so the encoder's clock has to bump them.
COLLIDING_PTS = [3600, 4600, 7200, 10800, 11600, 14400, 18000, 18900, 21600, 25200,
                 28800, 29500, 32400, 36000, 39600, 40800, 43200, 46800, 50400, 51000]


def test_picture_clock_keeps_exact_pts_of_frames_sharing_a_slot(mpeg1_vfr, tmp_path):
    """Frames whose pts round to one 1/fps slot are bumped on the encoder's clock only: each
    packet still gets its own source pts back, not its neighbour's or a grid approximation."""
    def collide(i, frame):
        frame.pts = COLLIDING_PTS[i]
        return frame

    source = MediaSource(mpeg1_vfr.path)
    out = tmp_path / "collide.ts"
    sink = MediaSink(str(out), source, EncodeConfig())
    try:
        written = run_through(source, sink, collide)
    finally:
        source.close()
    assert sink.report.encoder == "mpeg1video"
    assert written == COLLIDING_PTS
    assert video_pts(out) == COLLIDING_PTS
    # The source's timestamps were increasing: nothing in the output was bumped.
    assert not any("bumped" in n for n in sink.report.notes)


# -- copied streams and rotation -------------------------------------------------------------

@pytest.fixture(scope="module")
def rotated_run(clips, tmp_path_factory):
    """The rotated mp4 clip through a sink, with frames rebuilt without side data (as a mask
    stage may hand them over); returns what was fed and what came out."""
    clip = clips["mp4"]
    out = tmp_path_factory.mktemp("rot") / "out.mp4"
    first: dict = {}
    audio_in: list[tuple] = []

    def strip_side_data(i, frame):
        if i == 0:
            first["rotation"] = frame.rotation
            first["matrix"] = display_matrix_of(frame)
        bare = av.VideoFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name)
        bare.pts = frame.pts
        if i == 0:
            first["bare_rotation"] = bare.rotation
        return bare

    source = MediaSource(clip.path)
    before = source.display_matrix
    sink = MediaSink(str(out), source, FAST)

    def record_audio(packet):
        if packet.stream.type == "audio" and packet.size:
            audio_in.append((packet.stream.index, bytes(packet), packet.pts, packet.dts))

    try:
        run_through(source, sink, strip_side_data, record_audio)
    finally:
        source.close()
    return {"clip": clip, "out": out, "sink": sink, "source": source, "before": before,
            "first": first, "audio_in": audio_in}


def test_copied_audio_keeps_bytes_and_timestamps(rotated_run):
    with av.open(str(rotated_run["out"])) as c:
        langs = [(s.type, s.metadata.get("language")) for s in c.streams]
        audio_out = [(p.stream.index, bytes(p), p.pts, p.dts) for p in c.demux()
                     if p.stream.type == "audio" and p.size]
    audio_in = rotated_run["audio_in"]
    assert {i for i, *_ in audio_in} == {1, 2}  # both tracks, aac and opus
    assert len(audio_in) > 20
    assert audio_out == audio_in
    assert langs[:3] == [("video", "und"), ("audio", "eng"), ("audio", "fra")]


def test_display_matrix_is_read_from_the_first_decoded_frame(rotated_run):
    first = rotated_run["first"]
    assert rotated_run["before"] is None  # nothing decoded yet when the source opened
    assert first["rotation"] == -90
    assert first["matrix"] is not None
    assert rotated_run["source"].display_matrix == first["matrix"]


def test_sink_writes_the_source_rotation_even_from_bare_frames(rotated_run):
    assert rotated_run["first"]["bare_rotation"] == 0  # the frames written carried none
    with av.open(str(rotated_run["out"])) as c:
        stream = c.streams.video[0]
        assert stream.frames == len(rotated_run["clip"].pts)
        frame = next(c.decode(stream))
        assert frame.rotation == -90
        assert display_matrix_of(frame) == rotated_run["first"]["matrix"]
    assert rotated_run["sink"].report.copied[:2] == ["#1 audio aac (eng)", "#2 audio opus (fra)"]


def test_unrotated_source_has_no_display_matrix_and_output_stays_upright(clips, tmp_path):
    source = MediaSource(clips["mkv"].path)
    out = tmp_path / "out.mkv"
    sink = MediaSink(str(out), source, EncodeConfig())
    try:
        run_through(source, sink)
    finally:
        source.close()
    assert source.display_matrix is None
    with av.open(str(out)) as c:
        assert next(c.decode(video=0)).rotation == 0


# -- abort -----------------------------------------------------------------------------------

def test_abort_before_the_first_frame_writes_nothing(clips, tmp_path):
    source = MediaSource(clips["mp4"].path)
    out = tmp_path / "never.mp4"
    sink = MediaSink(str(out), source, FAST)
    try:
        for packet in source.demux():
            if packet.stream.index != source.video.index:
                sink.copy(packet)  # held back: the header needs the first video frame
        sink.abort()
        sink.abort()  # a second abort is harmless
    finally:
        source.close()
    assert not out.exists()
    assert sink.frames_encoded == 0


def test_abort_after_frames_closes_the_file_without_flushing(mpeg1_vfr, tmp_path):
    source = MediaSource(mpeg1_vfr.path)
    out = tmp_path / "aborted.ts"
    sink = MediaSink(str(out), source, EncodeConfig())
    try:
        for packet in source.demux():
            if packet.stream.index == source.video.index:
                for frame in source.decode(packet):
                    sink.write(frame)
            if sink.frames_encoded >= 5:
                break
        assert open_fds(out), "the sink should hold the output open while writing"
        sink.abort()
        assert open_fds(out) == []
        sink.abort()
    finally:
        source.close()
    assert sink.frames_encoded == 5
    with av.open(str(out)) as c:
        written = sum(1 for p in c.demux(c.streams.video[0]) if p.size)
    assert written < 5  # the encoder's delayed frame was dropped, not flushed


# -- MediaSource -----------------------------------------------------------------------------

def test_source_info_of_the_mp4_clip(clips):
    clip = clips["mp4"]
    source = MediaSource(clip.path)
    try:
        info = source.info
        assert (info.codec, info.width, info.height) == ("h264", clip.width, clip.height)
        assert info.time_base == clip.time_base
        assert info.index == clip.streams["video"]
        assert info.frames == len(clip.pts)
    finally:
        source.close()


def test_decode_sets_the_display_matrix_once_and_flushes_once(clips):
    clip = clips["mp4"]
    source = MediaSource(clip.path)
    try:
        frames = []
        for packet in source.container.demux(source.video):
            if packet.size:
                frames += source.decode(packet)
                if frames and source.display_matrix is None:
                    pytest.fail("display_matrix not set by the decode that produced the first frame")
        matrix = source.display_matrix
        frames += source.decode(None)
        assert source.decode(None) == []  # a second flush is a no-op, not an error
    finally:
        source.close()
    assert [f.pts for f in frames] == clip.pts
    assert matrix == display_matrix_of(frames[0])
    assert source.display_matrix is matrix  # later frames do not replace it
    assert source.decode_errors == 0


def test_missing_input(tmp_path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(InputNotFoundError) as info:
        MediaSource(path)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, InputError)
    assert str(info.value) == f"input not found: {path}"


def test_directory_input(tmp_path):
    with pytest.raises(InputError, match="is a directory") as info:
        MediaSource(tmp_path)
    assert not isinstance(info.value, InputNotFoundError)


@pytest.mark.parametrize("name, content", [("notes.mp4", b"shopping list\nmilk\neggs\n"),
                                           ("empty.mkv", b""),
                                           ("noise.bin", bytes(range(256)) * 8)])
def test_non_media_input(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        MediaSource(path)
    msg = str(info.value)
    assert msg.startswith(f"cannot read {path} as media: ")
    assert "\n" not in msg
    assert isinstance(info.value.__cause__, av.FFmpegError)


def test_audio_only_input(tmp_path):
    path = make_audio_only(tmp_path / "tone.wav", "pcm_s16le", 8000)
    with pytest.raises(InputError, match="no video stream"):
        MediaSource(path)


@pytest.mark.parametrize("name, index, count", [("mp4", 1, 1), ("mp4", -1, 1), ("twovideo", 2, 2)])
def test_video_stream_out_of_range(clips, name, index, count):
    with pytest.raises(InputError) as info:
        MediaSource(clips[name].path, video_stream=index)
    msg = str(info.value)
    assert msg.startswith(f"video_stream {index} does not exist")
    assert f"has {count} video stream(s) (0..{count - 1})" in msg


def test_second_video_stream_is_selectable(clips):
    clip = clips["twovideo"]
    source = MediaSource(clip.path, video_stream=1)
    try:
        assert source.video.index == clip.streams["video2"]
        assert (source.info.codec, source.info.width, source.info.height) == ("mpeg4", 32, 32)
    finally:
        source.close()
