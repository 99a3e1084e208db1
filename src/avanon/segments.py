"""One long file on many cores: split at keyframes, anonymize the segments at once, join them.

:func:`anonymize_segmented` is :func:`avanon.anonymize` for one file with the work spread over
an engine (:mod:`avanon.engine`: local processes or Ray tasks):

1. **Plan** (driver, demux only): the video packets' pts give every frame's presentation time
   and the keyframes. The video is cut at keyframes near equal shares of its frames; segment
   ``i`` owns the frames with ``start_i <= pts < start_(i+1)``.
2. **Anonymize** (workers, at once): a segment starts decoding at a keyframe before its start
   and pushes a *warm-up* of frames before it through the anonymizer (one whole-picture run of
   every class, then ``hold + min_hits x the longest detection interval``, at least one
   second): the detectors remember the same still parts as in one run, a track that crosses the seam was seen
   and confirmed before it, so it is held over the seam as in one run. It goes on past its end
   until its own last frame has left the tracker's lookahead, so boxes found just after the seam
   are carried back over it too. Frames are counted with the whole video's index, so the
   detection schedule falls on the same frames as in one run. Only the segment's own frames are
   encoded (same encoder, options and exact pts as one run), video only, into a temporary file.
3. **Join** (driver): every segment's packets, in order, are muxed with the input's other
   streams copied once, packet for packet, as one run does. The join checks that the segments
   carry the same codec headers and that each holds exactly its own frames, in order: no frame
   is duplicated or missing at a seam.

The output equals a single-process run in what it promises: the same frames with the same pts,
the same copied packets, the same stream tags. The encoded pictures differ slightly (each
segment's encoder starts afresh at its first frame, a keyframe in the source too).

What stays serial: the plan (one demux pass), the join (one remux pass) and the rename; both
passes copy packets without decoding, a small part of the work.

A file is run in one process when it cannot be split (too short for two segments, a filter
chain, frames without timestamps, output to a pipe...): the run's notes say why.
"""

from __future__ import annotations

import bisect
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from .config import Config
from .detections import CLASS_NAMES
from .errors import AvanonError, InputError, OutputError, PipelineError
from .media.output import (check_destination, is_stdout, is_url, name_output, publish,
                           temp_beside)

__all__ = ["Segment", "SegmentResult", "Timeline", "anonymize_segmented", "plan_segments",
           "scan_video"]

log = logging.getLogger(__name__)

#: Shortest segment worth a worker, in frames (below it, start-up and warm-up dominate).
MIN_SEGMENT_FRAMES = 48


@dataclass(frozen=True)
class Timeline:
    """The video stream's frames as its packets state them (presentation order)."""

    pts: tuple[int, ...]  # every frame's pts, increasing
    keys: tuple[int, ...]  # the keyframes' pts, increasing
    time_base: Fraction
    fps: float


@dataclass(frozen=True)
class Segment:
    """A piece of the video: the frames ``start <= pts < end`` (``end`` None: to the end)."""

    index: int
    start: int
    end: int | None
    #: the keyframe decoding starts at (None: the start of the file)
    seek: int | None
    #: the first frame pushed through the anonymizer (the warm-up starts here)
    warm: int
    #: that frame's index in the whole video
    first_index: int
    #: frames the segment owns
    frames: int


@dataclass
class SegmentResult:
    """What a worker did with one segment."""

    index: int
    path: str
    frames: int
    first_pts: int | None
    last_pts: int | None
    boxes: dict[int, int] = field(default_factory=dict)
    encoder: str = ""
    notes: list[str] = field(default_factory=list)
    display_matrix: tuple[int, ...] | None = None
    decode_errors: int = 0
    #: each video packet's exact (pts, dts, time base), in the order they were muxed
    timestamps: list = field(default_factory=list)
    #: frames pushed through the anonymizer (its own, the warm-up and the run-out past its end)
    frames_pushed: int = 0
    #: seconds from the worker's start to its first frame pushed (models loaded), and in all
    startup: float = 0.0
    seconds: float = 0.0


def scan_video(path: str | os.PathLike, video_stream: int = 0) -> Timeline | str:
    """Read the video packets' timestamps (no decoding); a reason string when the video cannot
    be split by them."""
    from .media.source import MediaSource

    source = MediaSource(path, video_stream)
    try:
        pts: list[int] = []
        keys: list[int] = []
        for packet in source.container.demux(source.video):  # that stream's packets only
            if not packet.size:
                continue
            if packet.pts is None:
                return "its video packets carry no timestamps"
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
        info = source.info
    except av.FFmpegError as exc:
        raise InputError(f"cannot demux {path}: {exc}") from exc
    finally:
        source.close()
    pts.sort()
    if any(a >= b for a, b in zip(pts, pts[1:])):
        return "two video frames share a timestamp"
    if not pts or not keys:
        return "no keyframe in the video"
    fps = float(info.average_rate) if info.average_rate else 25.0
    return Timeline(tuple(pts), tuple(sorted(set(keys))), info.time_base, fps)


def warmup_frames(config: Config, fps: float) -> int:
    """Frames pushed before a segment's start: enough for a track crossing the seam to be
    detected ``min_hits`` times and held as one run holds it (and at least a second)."""
    track = config.track
    if not track.enabled:
        return 0
    longest = config.schedule.longest
    # the first whole-picture run resets what the detectors remember of still parts; the
    # tracks are then confirmed as in one run
    return max(round(fps), config.schedule.settles + track.hold_frames(fps)
               + longest * (track.min_hits + 1))


def plan_segments(timeline: Timeline, parts: int, warmup: int,
                  min_frames: int = MIN_SEGMENT_FRAMES) -> list[Segment]:
    """Cut ``timeline`` at the keyframes nearest to ``parts`` equal shares of its frames.

    Cuts closer than ``min_frames`` to another are dropped: fewer, longer segments. One segment
    (the whole video) when no cut is left.
    """
    pts, n = timeline.pts, len(timeline.pts)
    key_idx = [bisect.bisect_left(pts, k) for k in timeline.keys]  # frame index of each key
    cuts: list[int] = []
    for i in range(1, max(1, parts)):
        target = round(i * n / parts)
        j = bisect.bisect_left(key_idx, target)
        near = [key_idx[x] for x in (j - 1, j) if 0 <= x < len(key_idx)]
        if not near:
            continue
        cut = min(near, key=lambda c: (abs(c - target), c))
        last = cuts[-1] if cuts else 0
        if cut - last >= min_frames and n - cut >= min_frames:
            cuts.append(cut)
    bounds = [0] + cuts + [n]
    segments = []
    for k in range(len(bounds) - 1):
        lo, hi = bounds[k], bounds[k + 1]
        if k == 0:
            segments.append(Segment(0, pts[0], pts[hi] if hi < n else None, None, pts[0], 0, hi))
            continue
        first = max(0, lo - warmup)
        # decoding starts at the last keyframe at or before the warm-up's first frame
        kx = bisect.bisect_right(timeline.keys, pts[first]) - 1
        seek = timeline.keys[max(0, kx)]
        segments.append(Segment(k, pts[lo], pts[hi] if hi < n else None, seek, pts[first],
                                first, hi - lo))
    return segments


def run_segment(config: Config, src: str, dst: str, segment: Segment,
                format_name: str | None = None, detector=None) -> SegmentResult:
    """Anonymize ``segment`` of ``src`` into ``dst`` (video only; a worker's piece)."""
    from .anonymizer import Anonymizer
    from .engine import report
    from .media.sink import MediaSink
    from .media.source import MediaSource

    t0 = time.perf_counter()
    source = MediaSource(src, config.video_stream, hwaccel=config.hwaccel)
    sink = None
    ok = False
    pushed = 0
    startup = 0.0
    try:
        info = source.info
        sink = MediaSink(dst, source, config.encode, format_name=format_name, video_only=True,
                         keep_metadata=config.keep_metadata, name=f"segment {segment.index}")
        sink.video_log = []
        anon = Anonymizer.from_config(
            config, frame_size=(info.width, info.height),
            fps=float(info.average_rate) if info.average_rate else 25.0,
            detector=detector, first_index=segment.first_index)
        boxes: dict[int, int] = {}

        def count(dets) -> None:  # the segment's own frames only (not its warm-up or run-out)
            if dets.pts is not None and dets.pts >= segment.start and (
                    segment.end is None or dets.pts < segment.end):
                for c in dets.class_ids.tolist():
                    boxes[c] = boxes.get(c, 0) + 1

        anon.on_detections = count
        first = last = None
        done = False
        reported = [time.perf_counter()]

        def emit(frames) -> bool:
            nonlocal first, last
            for out in frames:
                if out.pts < segment.start:
                    continue  # warm-up
                if segment.end is not None and out.pts >= segment.end:
                    return True
                sink.write(out)
                first = out.pts if first is None else first
                last = out.pts
                now = time.perf_counter()
                if now - reported[0] >= 0.5:
                    reported[0] = now
                    report(segment.index, sink.frames_encoded)
            return False

        for packet in _video_from(source, segment.seek):
            for frame in source.decode(packet if packet.size or packet.dts is not None else None):
                if frame.pts is None or frame.pts < segment.warm:
                    continue
                if not pushed:
                    startup = time.perf_counter() - t0
                pushed += 1
                if emit(anon.push(frame)):
                    done = True
                    break
            if done:
                break
        if not done:
            for frame in source.decode(None):
                if frame.pts is not None and frame.pts >= segment.warm and emit(anon.push(frame)):
                    done = True
                    break
        if not done:
            emit(anon.flush())
        if first is None:
            raise PipelineError(f"segment {segment.index} produced no frame")
        sink.finish()
        ok = True
        return SegmentResult(segment.index, dst, sink.frames_encoded, first, last,
                             boxes, sink.report.encoder,
                             list(sink.report.notes), source.display_matrix,
                             source.decode_errors, sink.video_log, pushed, startup,
                             time.perf_counter() - t0)
    finally:
        if not ok and sink is not None:
            sink.abort()
        source.close()


def _video_from(source, seek: int | None):
    """The video packets from the keyframe at pts ``seek`` on (None: all of them).

    A seek lands on a keyframe at or before its target in most containers; where it lands after
    (MPEG-TS and PS seek by bytes) it is tried again from further back, and at last from the
    start of the file."""
    stream = source.video
    if seek is None:
        yield from source.container.demux(stream)  # that stream's packets only
        return
    second = round(1 / stream.time_base) if stream.time_base else 90000
    targets = [seek] + [seek - second * 4 ** k for k in range(4)] + [None]
    for target in targets:
        if target is None:
            source.container.seek(0, backward=True)  # the start
        else:
            source.container.seek(target, stream=stream, backward=True)
        started = False
        for packet in source.container.demux(stream):
            if not started:
                if packet.pts is None or not packet.is_keyframe or packet.pts < seek:
                    continue
                if packet.pts != seek:
                    break  # landed after it: further back
                started = True
            yield packet
        if started:
            return
    raise PipelineError(f"cannot find the keyframe at pts {seek} again")


def join_segments(src: str, parts: list[SegmentResult], segments: list[Segment], dst: str,
                  config: Config, *, format_name: str | None = None, name: str | None = None):
    """Mux the segments' video with ``src``'s other streams (copied) into ``dst``; the sink's
    report."""
    from .media.sink import MediaSink
    from .media.source import MediaSource

    source = MediaSource(src, config.video_stream)
    inputs = [av.open(p.path) for p in parts]
    sink = None
    ok = False
    try:
        template = inputs[0].streams.video[0]
        headers = {bytes(c.streams.video[0].codec_context.extradata or b"") for c in inputs}
        if len(headers) > 1:
            raise PipelineError("cannot join the segments: their encoders wrote different "
                                "codec headers")
        source.display_matrix = parts[0].display_matrix
        sink = MediaSink(dst, source, config.encode, format_name=format_name,
                         keep_metadata=config.keep_metadata,
                         keep_other_video=config.keep_other_video, name=name,
                         video_template=template)
        src_tb = source.info.time_base

        def video():
            for seg, part, container in zip(segments, parts, inputs):
                stream = container.streams.video[0]
                lo = seg.start * src_tb
                hi = None if seg.end is None else seg.end * src_tb
                stamps = iter(part.timestamps)
                count = 0
                for packet in container.demux(stream):
                    if not packet.size:
                        continue
                    # the exact times the worker's encoder gave it (the container may round)
                    pts, dts, tb = next(stamps, (None, None, None))
                    if pts is None:
                        raise PipelineError(f"segment {seg.index} holds more packets than "
                                            "its encoder wrote")
                    packet.time_base, packet.pts, packet.dts = tb, pts, dts
                    t = pts * tb
                    if t < lo or (hi is not None and t >= hi):
                        raise PipelineError(f"segment {seg.index} holds a frame at {float(t):.6f} s, "
                                            "outside its share of the video")
                    count += 1
                    yield packet
                if count != len(part.timestamps) or count != part.frames:
                    raise PipelineError(f"segment {seg.index} holds {count} frames, "
                                        f"{part.frames} were encoded")

        def others():
            vi = source.video.index
            for packet in source.demux():
                if packet.stream.index != vi:
                    yield packet

        def when(packet) -> Fraction:
            t = packet.dts if packet.dts is not None else packet.pts
            return Fraction(-1) if t is None else t * packet.time_base

        vids, rest = video(), others()
        v, o = next(vids, None), next(rest, None)
        while v is not None or o is not None:
            if o is None or (v is not None and when(v) <= when(o)):
                sink.write_packet(v)
                v = next(vids, None)
            else:
                sink.copy(o)
                o = next(rest, None)
        sink.finish()
        ok = True
        return sink.report
    finally:
        if not ok and sink is not None:
            sink.abort()
        for c in inputs:
            c.close()
        source.close()


def _why_not_split(src, dst, config: Config, format_name, export_detections) -> str | None:
    if config.vf_pre or config.vf:
        return "a filter chain (vf_pre, vf) may change the frames' count and times"
    if export_detections is not None:
        return "exporting detections"
    if is_stdout(dst) or is_url(src):
        return "a pipe or URL"
    if Path(str(dst)).suffix.lower() in (".gif", ".apng") or format_name in ("gif", "apng", "image2"):
        return "an animated picture"
    return None


def anonymize_segmented(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    config: Config | None = None,
    *,
    jobs: int = 2,
    engine=None,
    segments: int | None = None,
    overwrite: bool = False,
    format_name: str | None = None,
    export_detections: str | os.PathLike | None = None,
    detector=None,
    progress=None,
):
    """Anonymize ``src`` into ``dst`` in segments run at once (see the module).

    Args:
        src, dst, config, overwrite, format_name, export_detections, detector, progress: as
            for :func:`avanon.anonymize` (a file or filter chain that cannot be split runs
            there). Progress counts the frames the segments have encoded (local engine: about
            twice a second; Ray: as segments finish).
        jobs: local worker processes (``engine`` None).
        engine: an engine from :mod:`avanon.engine` (it is closed by the caller), or None for
            ``jobs`` local processes.
        segments: pieces to cut the video into, each at least :data:`MIN_SEGMENT_FRAMES`
            long (default: as many as the engine runs at once, each at least 4 times its
            overlap with its neighbours long, so the overlap costs at most a quarter more).

    Returns:
        A :class:`~avanon.pipeline.RunSummary`; its notes say how the file was split.

    Raises:
        avanon.AvanonError: as :func:`avanon.anonymize`; a segment that failed (or whose worker
            died every time) fails the run, and nothing is written at ``dst``.
    """
    from .engine import LocalEngine
    from .pipeline import anonymize

    config = config or Config()
    t0 = time.perf_counter()
    why = _why_not_split(src, dst, config, format_name, export_detections)
    timeline = None
    if why is None:
        check_destination(src, dst, overwrite=overwrite, src_is_url=False)
        found = scan_video(src, config.video_stream)
        if isinstance(found, str):
            why = found
        else:
            timeline = found
    own = engine is None
    if own and why is None:
        engine = LocalEngine(jobs)
    try:
        parts = segments or (engine.slots if engine is not None else 1)
        plan = []
        if why is None:
            warmup = warmup_frames(config, timeline.fps)
            shortest = MIN_SEGMENT_FRAMES if segments else max(
                MIN_SEGMENT_FRAMES, 4 * (warmup + config.track.lookahead + config.schedule.longest))
            plan = plan_segments(timeline, parts, warmup, shortest)
            if len(plan) < 2:
                why = f"{len(timeline.pts)} frames make no two segments of {shortest}+"
        if why is not None:
            summary = anonymize(src, dst, config, overwrite=overwrite, format_name=format_name,
                                export_detections=export_detections, detector=detector,
                                progress=progress)
            summary.notes.append(f"not split ({why})")
            return summary
        return _run_split(src, Path(dst), config, plan, engine, format_name=format_name,
                          detector=detector, t0=t0, overwrite=overwrite,
                          planned=time.perf_counter() - t0, progress=progress,
                          total=len(timeline.pts))
    finally:
        if own and engine is not None:
            engine.close()


def _run_split(src, dst: Path, config: Config, plan: list[Segment], engine, *, format_name,
               detector, t0: float, overwrite: bool, planned: float, progress=None,
               total: int = 0):
    from .engine import ProgressPump, WorkerLost
    from .media.sink import MediaSink
    from .media.source import MediaSource
    from .pipeline import Progress, RunSummary

    # the output's format, encoder and options, checked before any worker starts
    probe = MediaSource(src, config.video_stream)
    try:
        MediaSink(str(dst), probe, config.encode, format_name=format_name,
                  keep_metadata=config.keep_metadata, name=str(dst)).abort()
    finally:
        probe.close()
    work_config = engine.prepare(config, models=detector is None)
    try:
        workdir = tempfile.mkdtemp(prefix=f".{dst.stem}.avanon-segments-", dir=dst.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {dst}: {exc.strerror or exc}") from exc
    tmp = None
    ok = False
    try:
        suffix = dst.suffix or ".mkv"
        items = [(str(src), os.path.join(workdir, f"segment-{s.index:04d}{suffix}"), s,
                  format_name, detector) for s in plan]
        results: list[SegmentResult | None] = [None] * len(plan)
        t1 = time.perf_counter()
        done: dict[int, int] = {}

        def emit() -> None:
            progress(Progress(sum(done.values()), total, time.perf_counter() - t0))

        with ProgressPump(engine.events, done, emit if progress is not None else None,
                          interval=0.5):
            for k, value in engine.run(run_segment, work_config, items):
                if isinstance(value, WorkerLost):
                    raise PipelineError(f"segment {k} of {len(plan)} failed: {value}")
                results[k] = value
                done[k] = value.frames
        t2 = time.perf_counter()
        tmp = temp_beside(dst)
        report = join_segments(str(src), results, plan, tmp, config, format_name=format_name,
                               name=str(dst))
        publish(tmp, dst)
        ok = True
        t3 = time.perf_counter()
    except AvanonError as exc:
        raise name_output(exc, tmp, dst) if tmp else exc
    except av.FFmpegError as exc:
        raise PipelineError(f"FFmpeg failed joining the segments: {exc}") from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if tmp is not None and not ok:
            Path(tmp).unlink(missing_ok=True)
    summary = RunSummary()
    summary.frames = sum(r.frames for r in results)
    boxes: dict[int, int] = {}
    for r in results:
        for c, n in r.boxes.items():
            boxes[c] = boxes.get(c, 0) + n
    summary.boxes = {CLASS_NAMES[c]: n for c, n in sorted(boxes.items())}
    summary.copied_streams = report.copied
    summary.dropped_streams = report.dropped
    summary.stripped_tags = report.stripped_tags
    summary.encoder = results[0].encoder
    summary.notes = sorted(set(report.notes + [n for r in results for n in r.notes]))
    summary.notes.append(f"{len(plan)} segments on {engine.name} ({engine.slots} at once)")
    summary.decode_errors = sum(r.decode_errors for r in results)
    summary.elapsed = time.perf_counter() - t0
    summary.segments = results
    summary.timings = {"plan": planned, "setup": t1 - t0 - planned, "segments": t2 - t1,
                       "join": t3 - t2}
    return summary
