"""Small synthetic clips made with PyAV, so the default suite needs no media files.

Each clip has smooth content (a gradient and moving shapes) that encoders treat like real video,
and whatever the test asks for: codecs, VFR timestamps, rotation, 10-bit, audio tracks, subtitles,
attachments, chapters and tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass
class Clip:
    path: Path
    pts: list[int]
    time_base: Fraction
    width: int
    height: int
    streams: dict[str, int] = field(default_factory=dict)


def picture(i: int, width: int, height: int) -> np.ndarray:
    """Frame ``i``: a diagonal gradient with two moving blocks (uint8 RGB)."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(1, width - 1)).astype(np.uint8)
    g = (y * 255 // max(1, height - 1)).astype(np.uint8)
    b = ((x + y + 3 * i) % 256).astype(np.uint8)
    img = np.stack([r, g, b], axis=-1)
    s = max(4, min(width, height) // 5)
    cx = (i * 3) % max(1, width - s)
    img[height // 4: height // 4 + s, cx: cx + s] = (240, 240, 40)
    img[height // 2: height // 2 + s, width - s - cx // 2: width - cx // 2] = (30, 60, 200)
    return img


def make_clip(
    path: str | Path,
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    size: tuple[int, int] = (96, 64),
    frames: int = 30,
    rate: int = 30,
    time_base: Fraction = Fraction(1, 15360),
    vfr: bool = False,
    rotation: int = 0,
    audio: tuple[tuple[str, str], ...] = (),
    subtitles: str | None = None,
    attachment: bool = False,
    chapters: bool = False,
    tags: dict[str, str] | None = None,
    video_tags: dict[str, str] | None = None,
    color: dict[str, int] | None = None,
    options: dict[str, str] | None = None,
    second_video: bool = False,
    audio_rate: int = 48000,
    audio_delay: int = 0,
    container_options: dict[str, str] | None = None,
) -> Clip:
    """Write a clip; returns its video pts list (in ``time_base``).

    ``audio`` is a tuple of (codec, language) pairs, ``subtitles`` a codec name
    ("mov_text" for MP4, "subrip" for Matroska). The audio tracks have ``audio_rate`` samples
    per second, and their first packet starts ``audio_delay`` samples after the video (the
    encoder's priming is skipped, as cameras do). ``container_options`` go to the muxer (e.g.
    ``movflags=faststart``, ``movie_timescale``).
    """
    path = Path(path)
    w, h = size
    out = av.open(str(path), "w", options=container_options or {})
    if tags:
        out.metadata.update(tags)
    v = out.add_stream(codec, rate=rate, options=options or {})
    v.width, v.height, v.pix_fmt = w, h, pix_fmt
    v.time_base = time_base
    # MPEG-1/2 count pictures: their encoder needs a 1/fps clock; the muxer rescales.
    enc_tb = Fraction(1, rate) if codec in ("mpeg1video", "mpeg2video") else time_base
    v.codec_context.time_base = enc_tb
    if codec == "libx264":
        v.codec_context.options = {"preset": "ultrafast", "crf": "20", **(options or {})}
    if color:
        for k, val in color.items():
            setattr(v.codec_context, k, val)
    if video_tags:
        v.metadata.update(video_tags)
    if rotation:
        v.set_display_rotation(rotation)
    streams = {"video": v.index}
    v2 = None
    if second_video:
        v2 = out.add_stream("mpeg4" if path.suffix != ".webm" else "libvpx", rate=rate)
        v2.width, v2.height, v2.pix_fmt = 32, 32, "yuv420p"
        streams["video2"] = v2.index
    auds = []
    for i, (acodec, lang) in enumerate(audio):
        a = out.add_stream(acodec, rate=audio_rate)
        a.layout = "mono"
        a.metadata["language"] = lang
        if i == 1:
            a.disposition = av.stream.Disposition.comment
        auds.append(a)
        streams[f"audio{i}"] = a.index
    sub = None
    if subtitles:
        sub = out.add_mux_stream(subtitles)
        sub.metadata["language"] = "eng"
        sub.metadata["title"] = "Signs"
        streams["subtitle"] = sub.index
    if attachment:
        out.add_attachment("notes.txt", "text/plain", b"attached bytes")
    if chapters:
        out.set_chapters([
            {"id": 1, "start": 0, "end": 500, "time_base": Fraction(1, 1000), "metadata": {"title": "One"}},
            {"id": 2, "start": 500, "end": 1000, "time_base": Fraction(1, 1000), "metadata": {"title": "Two"}},
        ])

    step = int(round(1 / (rate * time_base)))
    pattern = [1, 2, 1, 3, 1, 1, 2] if vfr else [1]
    pts_list: list[int] = []
    t = 0
    src_fmt = "rgb24"
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(picture(i, w, h), src_fmt).reformat(format=pix_fmt)
        frame.pts = int(t * time_base / enc_tb)
        frame.time_base = enc_tb
        pts_list.append(t)
        t += step * pattern[i % len(pattern)]
        for p in v.encode(frame):
            out.mux(p)
        if v2 is not None:
            f2 = av.VideoFrame.from_ndarray(picture(i, 32, 32), "rgb24").reformat(format="yuv420p")
            f2.pts = i
            for p in v2.encode(f2):
                out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    if v2 is not None:
        for p in v2.encode(None):
            out.mux(p)
    duration = float(t * time_base)
    for k, a in enumerate(auds):
        n = a.codec_context.frame_size or 1024
        total = int(duration * audio_rate)
        shift = None  # packets moved so that the first starts at audio_delay
        s = 0
        while s < total:
            tt = (np.arange(n) + s) / audio_rate
            samples = (0.2 * np.sin(2 * np.pi * (330 + 110 * k) * tt)).astype(np.float32)[None, :]
            fmt = a.codec_context.format.name
            af = av.AudioFrame.from_ndarray(samples if fmt == "flt" or fmt == "fltp" else
                                            (samples * 32767).astype(np.int16), format=fmt, layout="mono")
            af.sample_rate = audio_rate
            af.pts = s
            s += n
            for p in a.encode(af):
                shift = _mux_from(out, p, audio_delay, shift)
        for p in a.encode(None):
            shift = _mux_from(out, p, audio_delay, shift)
    if sub is not None:
        for k, text in enumerate([b"Hello", b"World"]):
            payload = (len(text).to_bytes(2, "big") + text) if subtitles == "mov_text" else text
            pk = av.Packet(payload)
            pk.stream = sub
            pk.time_base = Fraction(1, 1000)
            pk.pts = pk.dts = 200 + k * 400
            pk.duration = 300
            out.mux(pk)
    out.close()
    return Clip(path, pts_list, time_base, w, h, streams)


def _mux_from(out, packet, start: int, shift: int | None) -> int:
    """Mux an audio packet; without a ``start`` as it is, else moved by ``shift`` (computed from
    the first packet so that it starts at ``start``). Returns the shift."""
    if not start:
        out.mux(packet)
        return 0
    if shift is None:
        shift = start - packet.pts
    packet.pts += shift
    packet.dts += shift
    out.mux(packet)
    return shift


def make_audio_only(path: Path, codec: str = "aac", rate: int = 48000) -> Path:
    """A file with one short mono audio stream and no video."""
    fmt = "s16" if codec.startswith("pcm") else "fltp"
    dtype = np.int16 if fmt == "s16" else np.float32
    with av.open(str(path), "w") as c:
        a = c.add_stream(codec, rate=rate)
        a.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype), format=fmt, layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        for p in a.encode(frame):
            c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    return path


def make_gif(path: str | Path, *, size: tuple[int, int] = (97, 63), frames: int = 12,
             rate: int = 10) -> Path:
    """An animated GIF in colour (odd sizes by default, as GIFs often are), one palette of the
    picture's own colours per frame."""
    path = Path(path)
    w, h = size
    with av.open(str(path), "w") as out:
        s = out.add_stream("gif", rate=rate)
        s.width, s.height, s.pix_fmt = w, h, "rgb8"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(picture(i, w, h), "rgb24").reformat(format="rgb8")
            frame.pts = i
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def truncate(src: Path, dst: Path, fraction: float) -> Path:
    """The first ``fraction`` of ``src``'s bytes in ``dst``: a copy cut short."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)
