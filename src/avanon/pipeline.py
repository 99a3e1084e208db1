"""File to file: media in -> detect -> track -> mask -> media out.

:func:`anonymize` opens the input, builds the stages from a :class:`~avanon.config.Config` (or
uses the ones given), streams every packet through, and writes the output to a temporary file
next to the destination that is renamed only when complete. On any error the temporary file is
removed and the destination is left as it was.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import av

from . import sidecar
from .anonymizer import Anonymizer
from .config import Config
from .detections import CLASS_NAMES, Detections
from .errors import AvanonError, ConfigError, OutputError, PipelineError
from .media.output import (check_destination, check_sidecar, is_stdout, is_url, name_output,
                           publish, temp_beside)
from .media.filtergraph import LazyChain, probe_chain
from .media.sink import MediaSink, _software_format
from .media.source import MediaSource, VideoInfo

__all__ = ["RunSummary", "Progress", "anonymize"]

log = logging.getLogger(__name__)


@dataclass
class Progress:
    frames: int
    total: int  # 0 when unknown
    elapsed: float


@dataclass
class RunSummary:
    """What a run did, for the one-line summary and for callers."""

    frames: int = 0
    boxes: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    copied_streams: list[str] = field(default_factory=list)
    dropped_streams: list[str] = field(default_factory=list)
    stripped_tags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    encoder: str = ""
    time_to_first_frame: float = 0.0
    decode_errors: int = 0
    #: Why the input looks cut short (a truncated file), or "" when it ended where it said.
    ended_early: str = ""
    #: Seconds spent in each phase of a split run (plan, segments, join); empty otherwise.
    timings: dict[str, float] = field(default_factory=dict)
    #: What each segment's worker did (:class:`avanon.segments.SegmentResult`; split runs).
    segments: list = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        boxes = ", ".join(f"{n} {c}" for c, n in self.boxes.items()) or "no detections"
        parts = [
            f"{self.frames} frames",
            boxes,
            f"{self.elapsed:.1f} s ({self.fps:.1f} fps)",
            f"video re-encoded with {self.encoder}",
            f"{len(self.copied_streams)} stream(s) copied",
            f"{len(self.stripped_tags)} identifying tag(s) stripped"
            + (f" ({', '.join(t.split(':', 1)[1] for t in self.stripped_tags)})" if self.stripped_tags else ""),
        ]
        if self.dropped_streams:
            parts.append(f"dropped: {'; '.join(self.dropped_streams)}")
        if self.decode_errors:
            parts.append(f"{self.decode_errors} undecodable packet(s) dropped")
        if self.ended_early:
            parts.append(f"WARNING: {self.ended_early}")
        notes = sorted(set(self.notes))
        if notes:
            parts.append("; ".join(notes))
        return "avanon: " + " | ".join(parts)


class _DetectionsWriter:
    """Streams per-frame detections to a JSON file without holding them in memory."""

    def __init__(self, path: Path, source: MediaSource, video: VideoInfo | None = None):
        video = video or source.info  # the frames the anonymizer gets (after vf_pre)
        self.path = path
        self.tmp = path.with_name(f".{path.name}.part")
        self.fh = open(self.tmp, "w", encoding="utf-8")
        self.tb = video.time_base
        self.first = True
        header = sidecar.header(source.path, source.video.index, video.width, video.height, self.tb)
        self.fh.write(json.dumps(header)[:-1] + ', "frames": [\n')

    def __call__(self, dets: Detections) -> None:
        rec = sidecar.frame_record(dets, self.tb)
        self.fh.write(("" if self.first else ",\n") + json.dumps(rec))
        self.first = False

    def close(self, ok: bool) -> None:
        self.fh.write("\n]}\n")
        self.fh.close()
        if ok:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


_END = ("end", None)
#: Items in flight between two stages, at most (decoded frames are the big ones).
QUEUE_SIZE = 8


class _Aborted(Exception):
    """Another stage failed; this one stops quietly."""


class _Run:
    """Three stages overlapping: read (demux + decode) | anonymize | write (encode + mux).

    The anonymize stage runs in the calling thread; reading and writing run in worker threads
    linked by bounded queues, so memory stays flat in video length. PyAV, onnxruntime and the
    Numba kernels release the GIL in their heavy calls, so the stages really overlap. Order is
    kept: every item passes through the anonymize stage, copied packets included. The first
    error in any stage stops all of them and is raised here.
    """

    def __init__(self, source: MediaSource, sink: MediaSink, progress, t0: float,
                 pre: LazyChain | None = None, post: LazyChain | None = None,
                 frame_size: tuple[int, int] | None = None, total: int | None = None):
        self.pre = pre
        self.post = post
        self.frame_size = frame_size
        self.total = source.info.frames if total is None else total
        self.frames_read = 0
        self.frames_written = 0
        self.source = source
        self.sink = sink
        self.progress = progress
        self.t0 = t0
        self.abort = threading.Event()
        self.errors: list[BaseException] = []
        self.q_in: queue.Queue = queue.Queue(QUEUE_SIZE)
        self.q_out: queue.Queue = queue.Queue(QUEUE_SIZE)
        self.time_to_first_frame = 0.0
        self._last_report = 0.0

    # -- plumbing -------------------------------------------------------------------------
    def _put(self, q: queue.Queue, item) -> None:
        while True:
            if self.abort.is_set():
                raise _Aborted
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _get(self, q: queue.Queue):
        while True:
            if self.abort.is_set():
                raise _Aborted
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue

    def _guard(self, fn, stage: str, frame: Callable[[], int]):
        """``fn`` as a thread body: its first error (wrapped in a :class:`PipelineError` naming
        ``stage`` and the frame it was at, unless it already is an avanon error) is handed to
        the main thread and stops every stage."""
        def body():
            try:
                fn()
            except _Aborted:
                pass
            except BaseException as exc:  # handed to the main thread
                if isinstance(exc, Exception) and not isinstance(exc, AvanonError):
                    wrapped = PipelineError(f"{stage} stage failed at frame {frame()}: "
                                            f"{type(exc).__name__}: {exc}")
                    wrapped.__cause__ = exc
                    exc = wrapped
                self.errors.append(exc)
                self.abort.set()
        return body

    # -- stages ---------------------------------------------------------------------------
    def _read(self) -> None:
        src = self.source
        vi = src.video.index
        for packet in src.demux():
            if packet.stream.index != vi:
                self._put(self.q_in, ("packet", packet))
                continue
            for frame in src.decode(packet if packet.size or packet.dts is not None else None):
                self._frame(frame)
        for frame in src.decode(None):
            self._frame(frame)
        if self.pre is not None:
            for filtered in self.pre.flush():
                self._put_frame(filtered)
        self._put(self.q_in, _END)

    def _frame(self, frame: av.VideoFrame) -> None:
        self.frames_read += 1
        if self.pre is None:
            self._put(self.q_in, ("frame", frame))
            return
        for filtered in self.pre.push(frame):
            self._put_frame(filtered)

    def _put_frame(self, frame: av.VideoFrame) -> None:
        """A --vf-pre frame, to the anonymizer built for its size (masks are placed in it)."""
        if self.frame_size and (frame.width, frame.height) != self.frame_size:
            raise PipelineError(
                f"{self.pre.option} {self.pre.text!r}: a frame came out {frame.width}x"
                f"{frame.height}, the anonymizer was set up for {self.frame_size[0]}x"
                f"{self.frame_size[1]} (a chain whose size changes mid-stream is not supported)")
        self._put(self.q_in, ("frame", frame))

    def _write(self) -> None:
        sink = self.sink
        while True:
            kind, obj = self._get(self.q_out)
            if kind == "end":
                if self.post is not None:
                    for filtered in self.post.flush():
                        self._encode(filtered)
                return
            if kind == "packet":
                sink.copy(obj)
                continue
            if self.post is None:
                self._encode(obj)
            else:
                for filtered in self.post.push(obj):
                    self._encode(filtered)

    def _encode(self, frame: av.VideoFrame) -> None:
        sink = self.sink
        sink.write(frame)
        self.frames_written += 1
        if not self.time_to_first_frame:
            self.time_to_first_frame = time.perf_counter() - self.t0
        if self.progress is not None:
            now = time.perf_counter()
            if now - self._last_report >= 0.5:
                self._last_report = now
                self.progress(Progress(sink.frames_encoded, self.total, now - self.t0))

    def execute(self, anon: Anonymizer) -> None:
        """Run every frame and packet through ``anon`` to the end."""
        reader = threading.Thread(target=self._guard(self._read, "read", lambda: self.frames_read),
                                  name="avanon-read", daemon=True)
        writer = threading.Thread(
            target=self._guard(self._write, "write", lambda: self.frames_written),
            name="avanon-write", daemon=True)
        reader.start()
        writer.start()
        try:
            while True:
                kind, obj = self._get(self.q_in)
                if kind == "end":
                    break
                if kind == "packet":
                    self._put(self.q_out, ("packet", obj))
                    continue
                for masked in anon.push(obj):
                    self._put(self.q_out, ("frame", masked))
            for masked in anon.flush():
                self._put(self.q_out, ("frame", masked))
            self._put(self.q_out, _END)
        except _Aborted:
            pass
        except BaseException:
            self.abort.set()
            raise
        finally:
            writer.join()
            reader.join()
        if self.errors:
            raise self.errors[0]
        for chain in (self.pre, self.post):
            if chain is not None:
                chain.check_output()


@dataclass
class _Filters:
    """The run's filter chains and what the frames look like after each (see :func:`_filters`)."""

    pre: LazyChain | None = None
    post: LazyChain | None = None
    #: the frames the anonymizer gets (after ``vf_pre``) and the encoder gets (after ``vf``)
    masked: VideoInfo | None = None
    encoded: VideoInfo | None = None
    encoded_fmt: str | None = None


def _filters(source: MediaSource, config: Config) -> _Filters:
    """Check ``config.vf_pre`` and ``config.vf`` on this source with FFmpeg (a few gray frames
    of its size and format through a copy of each chain, so a bad chain fails before anything is
    loaded or written) and learn what each outputs.

    Raises:
        ConfigError: a chain FFmpeg refuses, with its reason.
    """
    if not config.vf_pre and not config.vf:
        return _Filters()
    info = source.info
    sar = source.video.sample_aspect_ratio or None
    fmt = _software_format(source.video.codec_context) or "yuv420p"
    out = _Filters()
    current = info
    for name in ("vf_pre", "vf"):
        text = getattr(config, name)
        if not text:
            continue
        seen = probe_chain(text, width=current.width, height=current.height, pix_fmt=fmt,
                           time_base=current.time_base, rate=current.average_rate,
                           sample_aspect_ratio=sar, option=name)
        chain = LazyChain(text, option=name, sample_aspect_ratio=sar, time_base=current.time_base)
        sar = None  # after the first chain, the frames say their own
        if seen is not None:
            current = dataclasses.replace(
                current, width=seen.width, height=seen.height, time_base=seen.time_base,
                average_rate=seen.rate,
                frames=current.frames if seen.rate == current.average_rate else 0)
            fmt = seen.pix_fmt
        if name == "vf_pre":
            out.pre, out.masked = chain, current
        else:
            out.post = chain
    out.encoded, out.encoded_fmt = current, fmt
    return out


def anonymize(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    config: Config | None = None,
    *,
    overwrite: bool = False,
    detector=None,
    masker=None,
    tracker=None,
    export_detections: str | os.PathLike | None = None,
    progress: Callable[[Progress], None] | None = None,
    format_name: str | None = None,
    detections: str | os.PathLike | None = None,
) -> RunSummary:
    """Anonymize ``src`` into ``dst``.

    Args:
        src: input media (anything FFmpeg demuxes).
        dst: output path; the container format follows its extension unless ``format_name``.
        config: :class:`avanon.Config` (defaults when None).
        overwrite: replace an existing ``dst``.
        detector, masker, tracker: stage objects replacing the ones built from ``config``
            (e.g. your own detector implementing ``FrameDetector``).
        export_detections: write every frame's final boxes to this JSON file.
        progress: called about twice a second with a :class:`Progress`.
        format_name: output container format (FFmpeg's name); needed when ``dst`` is stdout
            (``-``), where ``mp4``/``mov`` are written as fragmented MP4.
        detections: render the boxes of this detections file (see :mod:`avanon.sidecar`)
            instead of detecting and tracking; ``config.mask`` still applies.

    Output files are regular files only, written beside ``dst`` and renamed when complete,
    with the umask's mode (or the mode of the file they replace); see
    :mod:`avanon.media.output`. The output's format and encoder, and the options for it, are
    checked before the models load.

    Returns:
        A :class:`RunSummary`.

    Raises:
        avanon.AvanonError: (one of its leaves) for bad input, options, output or a failed stage.
    """
    config = config or Config()
    if detections is not None and (detector is not None or tracker is not None):
        raise ConfigError("detections: a detections file replaces the detector and tracker; "
                          "give one or the other")
    dfile = sidecar.read_detections(detections) if detections is not None else None
    src_path, dst_path = Path(src), Path(dst)
    src_is_url = is_url(src)
    to_pipe = is_stdout(dst)
    if to_pipe:
        dst = "pipe:1"
        if not format_name:
            raise OutputError("writing to stdout needs a container format (format_name: matroska, mpegts...)")
    else:
        check_destination(src, dst, overwrite=overwrite, src_is_url=src_is_url)
    if export_detections is not None:
        check_sidecar(export_detections, src=None if src_is_url else src,
                      dst=None if to_pipe else dst)

    t0 = time.perf_counter()
    source = MediaSource(src_path if not src_is_url else str(src), config.video_stream,
                         hwaccel=config.hwaccel)
    sink_options = dict(format_name=format_name, keep_metadata=config.keep_metadata,
                        keep_other_video=config.keep_other_video,
                        name="stdout" if to_pipe else str(dst))
    try:
        filters = _filters(source, config)
        if filters.encoded is not None:
            sink_options.update(video=filters.encoded, pix_fmt=filters.encoded_fmt)
        # The output's format, encoder and its options, checked on the real name (nothing is
        # written before a header), then the stages (and the models), before anything is written.
        MediaSink(str(dst), source, config.encode, **sink_options).abort()
        info = filters.masked or source.info
        if dfile is not None:
            anon = sidecar.renderer(dfile, info.width, info.height, info.time_base, config,
                                    masker=masker)
        else:
            anon = Anonymizer.from_config(
                config, frame_size=(info.width, info.height),
                fps=float(info.average_rate) if info.average_rate else 25.0,
                detector=detector, masker=masker, tracker=tracker)
    except BaseException:
        source.close()
        raise
    try:
        tmp_name = "pipe:1" if to_pipe else temp_beside(dst_path)
    except BaseException:
        source.close()
        raise
    sink = None
    writer = None
    ok = False
    summary = RunSummary()
    try:
        sink = MediaSink(tmp_name, source, config.encode, **sink_options)
        try:
            writer = (_DetectionsWriter(Path(export_detections), source, info)
                      if export_detections else None)
        except OSError as exc:
            raise OutputError(f"cannot write detections file {export_detections}: "
                              f"{exc.strerror or exc}") from exc
        anon.on_detections = writer
        run = _Run(source, sink, progress, t0, pre=filters.pre, post=filters.post,
                   frame_size=(info.width, info.height) if filters.pre else None,
                   total=filters.encoded.frames if filters.encoded else None)
        run.execute(anon)
        if dfile is not None:
            anon.detector.finish(anon.frames_out)
        summary.time_to_first_frame = run.time_to_first_frame
        sink.finish()
        summary.frames = sink.frames_encoded
        summary.elapsed = time.perf_counter() - t0
        summary.boxes = {CLASS_NAMES[c]: n for c, n in sorted(anon.boxes_per_class.items())}
        rep = sink.report
        summary.copied_streams = rep.copied
        summary.dropped_streams = rep.dropped
        summary.stripped_tags = rep.stripped_tags
        summary.notes = rep.notes
        summary.encoder = rep.encoder
        summary.decode_errors = source.decode_errors
        summary.ended_early = source.ended_early() or ""
        if writer is not None:
            try:
                writer.close(True)
            except OSError as exc:
                raise OutputError(f"cannot write detections file {export_detections}: "
                                  f"{exc.strerror or exc}") from exc
            finally:
                writer = None
        if not to_pipe:
            publish(tmp_name, dst_path)
        ok = True
    except AvanonError as exc:
        raise name_output(exc, tmp_name, dst)
    except av.FFmpegError as exc:
        raise name_output(PipelineError(f"FFmpeg failed: {exc}"), tmp_name, dst) from exc
    except OSError as exc:  # the file system refused (full disk, quota...): name the output
        raise OutputError(f"cannot write {dst}: {exc.strerror or exc}") from exc
    finally:
        if writer is not None:
            writer.close(False)
        if not ok and sink is not None:
            sink.abort()
        source.close()
        if not to_pipe and not ok:
            Path(tmp_name).unlink(missing_ok=True)
    return summary
