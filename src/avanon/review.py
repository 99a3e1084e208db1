"""Detect without rendering: write the detections file of a video for review.

``avanon detect IN FILE.json`` runs the same detect and track stages as a full run, on the same
decoded frames, and writes every frame's final boxes (:mod:`avanon.sidecar`) instead of an
output video. After a person has fixed the file, ``avanon IN OUT --detections FILE.json``
renders it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import av

from .anonymizer import Anonymizer
from .config import Config
from .detections import CLASS_NAMES, Detections
from .errors import AvanonError, OutputError, PipelineError
from .media.output import check_destination, is_url
from .media.source import MediaSource
from .pipeline import Progress, _DetectionsWriter

__all__ = ["DetectSummary", "detect_to_file"]


@dataclass
class DetectSummary:
    """What a detect-only run did."""

    path: str = ""
    frames: int = 0
    boxes: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    decode_errors: int = 0

    def line(self) -> str:
        boxes = ", ".join(f"{n} {c}" for c, n in self.boxes.items()) or "no detections"
        fps = self.frames / self.elapsed if self.elapsed > 0 else 0.0
        parts = [f"{self.frames} frames", boxes, f"{self.elapsed:.1f} s ({fps:.1f} fps)",
                 f"detections written to {self.path}"]
        if self.decode_errors:
            parts.append(f"{self.decode_errors} undecodable packet(s) dropped")
        return "avanon: " + " | ".join(parts)


class _NoMask:
    """A masker that paints nothing (the frames are thrown away)."""

    def apply(self, frame: av.VideoFrame, dets: Detections) -> av.VideoFrame:
        return frame


def detect_to_file(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    config: Config | None = None,
    *,
    overwrite: bool = False,
    detector=None,
    tracker=None,
    progress: Callable[[Progress], None] | None = None,
) -> DetectSummary:
    """Write the detections file of ``src`` to ``dst`` without rendering a video.

    The boxes are exactly the ones :func:`avanon.anonymize` with the same ``config`` would mask
    (and export), so rendering the unedited file gives the same pixels.

    Args:
        src: input media.
        dst: the JSON file to write (written under a temporary name, renamed when complete).
        config: detection and tracking settings (mask and encode settings are not used).
        overwrite: replace an existing ``dst``.
        detector, tracker: stage objects replacing the ones built from ``config``.
        progress: called about twice a second with a :class:`~avanon.pipeline.Progress`.

    Raises:
        avanon.AvanonError: bad input, output or options, or a failed stage.
    """
    config = config or Config()
    dst_path = Path(dst)
    check_destination(src, dst_path, overwrite=overwrite, src_is_url=is_url(src))
    t0 = time.perf_counter()
    source = MediaSource(src, config.video_stream, hwaccel=config.hwaccel)
    writer = None
    ok = False
    try:
        info = source.info
        anon = Anonymizer.from_config(
            config, frame_size=(info.width, info.height),
            fps=float(info.average_rate) if info.average_rate else 25.0,
            detector=detector, masker=_NoMask(), tracker=tracker)
        try:
            writer = _DetectionsWriter(dst_path, source)
        except OSError as exc:
            raise OutputError(f"cannot write {dst}: {exc.strerror or exc}") from exc
        anon.on_detections = writer
        last = 0.0
        for packet in source.demux():
            if packet.stream.index != info.index:
                continue
            for frame in source.decode(packet if packet.size or packet.dts is not None else None):
                anon.push(frame)
            if progress is not None and time.perf_counter() - last >= 0.5:
                last = time.perf_counter()
                progress(Progress(anon.frames_out, info.frames, last - t0))
        for frame in source.decode(None):
            anon.push(frame)
        anon.flush()
        if not anon.frames_out:
            raise PipelineError(f"video stream #{info.index} has no decodable frame")
        ok = True
    except AvanonError:
        raise
    except av.FFmpegError as exc:
        raise PipelineError(f"FFmpeg failed: {exc}") from exc
    finally:
        if writer is not None:
            writer.close(ok)
        source.close()
    return DetectSummary(
        path=str(dst), frames=anon.frames_out,
        boxes={CLASS_NAMES[c]: n for c, n in sorted(anon.boxes_per_class.items())},
        elapsed=time.perf_counter() - t0, decode_errors=source.decode_errors)
