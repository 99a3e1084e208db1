"""Media in: open a file or stream with FFmpeg (PyAV), pick the video stream, demux and decode.

The source exposes the demuxed packets of every stream in file order; the video stream's packets
are decoded here, the others pass through untouched to be copied by :mod:`avanon.media.sink`.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av

from ..errors import InputError, InputNotFoundError
from .output import is_url

__all__ = ["MediaSource", "VideoInfo", "display_matrix_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What the anonymized stream looks like, read from the container and its first frame."""

    index: int
    codec: str
    width: int
    height: int
    time_base: Fraction
    average_rate: Fraction | None
    bit_rate: int | None
    frames: int  # as the container states it; 0 when unknown


def display_matrix_of(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The frame's display matrix (9 int32, FFmpeg's layout) or None when it has none."""
    try:
        for sd in frame.side_data:
            if "DISPLAYMATRIX" in str(sd.type).upper():
                raw = bytes(sd)
                if len(raw) >= 36:
                    return struct.unpack("<9i", raw[:36])
    except Exception:  # side data is best effort: absence means "no rotation"
        return None
    return None


class MediaSource:
    """An opened input.

    Args:
        path: file path (or anything FFmpeg opens, e.g. ``pipe:0``).
        video_stream: index among the container's *video* streams to anonymize (default 0).
        hwaccel: decode on a hardware device (``"cuda"``, ``"vaapi"``, ``"videotoolbox"``...);
            frames are copied back to system memory (NV12 and kin, which the masks handle), and
            decoding falls back to software where the device cannot decode the stream.

    Raises:
        InputNotFoundError: the path does not exist.
        InputError: FFmpeg cannot read it, or it has no such video stream.
    """

    def __init__(self, path: str | os.PathLike, video_stream: int = 0, *, options: dict | None = None,
                 hwaccel: str | None = None):
        self.path = str(path)
        local = not is_url(self.path)
        if local and not Path(self.path).exists():
            raise InputNotFoundError(f"input not found: {self.path}")
        if local and Path(self.path).is_dir():
            raise InputError(f"input is a directory, expected a media file: {self.path}")
        accel = None
        if hwaccel and hwaccel != "none":
            try:
                accel = av.codec.hwaccel.HWAccel(device_type=hwaccel, allow_software_fallback=True)
            except Exception as exc:
                raise InputError(f"hwaccel {hwaccel}: not available here ({exc})") from exc
        try:
            self.container = av.open(self.path, "r", options=options or {}, hwaccel=accel)
        except (av.FFmpegError, ValueError) as exc:
            if accel is not None:
                raise InputError(f"hwaccel {hwaccel}: cannot decode on that device here "
                                 f"({_ffmsg(exc)}); decode in software instead") from exc
            raise InputError(f"cannot read {self.path} as media: {_ffmsg(exc)}") from exc
        videos = [s for s in self.container.streams.video if not _is_attached_picture(s)]
        if not videos:
            self.container.close()
            raise InputError(f"no video stream in {self.path}")
        if not 0 <= video_stream < len(videos):
            self.container.close()
            raise InputError(
                f"video_stream {video_stream} does not exist: {self.path} has "
                f"{len(videos)} video stream(s) (0..{len(videos) - 1})"
            )
        self.video: av.video.stream.VideoStream = videos[video_stream]
        if self.video.codec_context is None:
            self.container.close()
            raise InputError(f"no decoder for video codec of stream #{self.video.index} in {self.path}")
        cc = self.video.codec_context
        cc.thread_type = "AUTO"
        self.info = VideoInfo(
            index=self.video.index,
            codec=cc.name,
            width=cc.width,
            height=cc.height,
            time_base=self.video.time_base or Fraction(1, 90000),
            average_rate=self.video.average_rate or self.video.guessed_rate,
            bit_rate=self.video.bit_rate or cc.bit_rate or None,
            frames=self.video.frames or 0,
        )
        self.decode_errors = 0
        #: Video packets demuxed, and where the latest packet of any stream ended (seconds).
        self.video_packets = 0
        self._end: float | None = None
        #: The display matrix of the first decoded frame (None before it, or when it has none):
        #: the sink writes it, since a masked frame may no longer carry its side data.
        self.display_matrix: tuple[int, ...] | None = None
        self._first_seen = False
        self._flushed = False

    @property
    def streams(self):
        return self.container.streams

    def demux(self) -> Iterator[av.Packet]:
        """Every packet of every stream, in file order (flush packets of the video stream included)."""
        vi = self.video.index
        try:
            for packet in self.container.demux():
                if packet.pts is not None and packet.time_base:
                    end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    if self._end is None or end > self._end:
                        self._end = end
                if packet.size and packet.stream.index == vi:
                    self.video_packets += 1
                yield packet
        except av.FFmpegError as exc:
            raise InputError(f"cannot demux {self.path}: {_ffmsg(exc)}") from exc

    def ended_early(self) -> str | None:
        """After demuxing to the end: why the input looks cut short, or None.

        A file cut off (a copy interrupted, a camera without power) still demuxes up to the cut
        and FFmpeg stops without an error. Two signs tell it: fewer video packets than the
        container's index lists (MP4, AVI), or packets ending well before the duration its
        header states (Matroska, MP4): more than 0.5 s and 2 % of it.
        """
        duration = self.container.duration
        if self._end is None or not duration:
            return None
        stated = ((self.container.start_time or 0) + duration) / 1e6
        gap = stated - self._end
        rate = float(self.info.average_rate or 25)
        declared = self.info.frames
        if declared and self.video_packets < declared and gap > 0.5 / rate:
            return (f"the input ended early: {self.video_packets} of the {declared} video frames "
                    f"its index lists were there (truncated file?)")
        if gap > max(0.5, 0.02 * stated):
            return (f"the input ended early: at {self._end:.2f} s of the {stated:.2f} s its "
                    f"header states (truncated file?)")
        return None

    def decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        """Decode one video packet (None flushes). A packet that fails to decode is counted and
        dropped: the frame is never produced, so it can never leave unmasked."""
        if packet is None:
            if self._flushed:
                return []
            self._flushed = True
        try:
            frames = self.video.decode(packet)
        except av.error.EOFError:
            return []
        except av.error.InvalidDataError as exc:
            self.decode_errors += 1
            log.warning("dropped an undecodable video packet: %s", _ffmsg(exc))
            return []
        if frames and not self._first_seen:
            self._first_seen = True
            self.display_matrix = display_matrix_of(frames[0])
        return frames

    def close(self) -> None:
        self.container.close()


def _is_attached_picture(stream) -> bool:
    try:
        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except Exception:
        return False


def _ffmsg(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return str(msg).splitlines()[0] if msg else type(exc).__name__
