"""Media out: encode the anonymized video stream and mux it with every other stream copied.

Stream order, languages, dispositions, chapters and (non-identifying) metadata follow the input.
The video encoder is configured from the first decoded frame (pixel format, colour tags), so
copied packets that arrive before it are held back until then.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
from dataclasses import dataclass, field

import av

from ..errors import EncoderError, OutputError, PipelineError
from .convert import FrameConverter
from .encode import Container, EncodeConfig, EncoderPlan, plan_encoder
from .metadata import split_metadata
from .source import MediaSource, VideoInfo, display_matrix_of

__all__ = ["MediaSink", "SinkReport", "container_of", "open_output"]

log = logging.getLogger(__name__)

#: Copied packets held back while waiting for the first video frame, at most.
MAX_PENDING = 20000
#: The ISO-BMFF muxers (their moov index is written at the end, by seeking back).
MOV_FAMILY = frozenset({"mp4", "mov", "ipod", "3gp", "3g2", "psp", "ismv", "f4v"})
#: movflags for a stream that cannot seek (stdout): fragments, with the moov written after the
#: first fragment so that it still holds every track's start (edit lists), which an empty moov
#: written up front cannot (the start of B-frame video and of AAC priming would be lost).
FRAGMENTED = ("frag_keyframe", "delay_moov", "default_base_moof")


@dataclass
class SinkReport:
    copied: list[str] = field(default_factory=list)  # "#1 audio aac (eng)"
    dropped: list[str] = field(default_factory=list)  # "#3 data: reason"
    stripped_tags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    encoder: str = ""
    pix_fmt: str = ""


class MediaSink:
    """An output file being written.

    Args:
        path: where to write (a temporary file; the caller renames it when complete).
        source: the opened input.
        config: encoder settings.
        format_name: container format (None = guess from ``path``'s extension).
        keep_metadata: keep identifying tags too.
        keep_other_video: copy video streams other than the anonymized one (they are NOT
            anonymized, so by default they are dropped).
        name: how messages name the output (the destination ``path`` is a temporary file for).
        video, pix_fmt: the anonymized stream as it reaches the encoder when a filter chain
            (``vf_pre``/``vf``) changed it: size, time base, frame rate, pixel format (None:
            the source's). With them the encoder takes the time base of the first frame it gets,
            which is the chain's.
        video_only: write the anonymized stream alone (no copied streams, chapters or
            container tags): one segment of a split run (:mod:`avanon.segments`).
        video_template: an already encoded video stream (a segment's) whose packets are muxed
            with :meth:`write_packet` instead of encoding frames: the join of a split run.
    """

    def __init__(
        self,
        path: str,
        source: MediaSource,
        config: EncodeConfig,
        *,
        format_name: str | None = None,
        keep_metadata: bool = False,
        keep_other_video: bool = False,
        name: str | None = None,
        video: VideoInfo | None = None,
        pix_fmt: str | None = None,
        video_only: bool = False,
        video_template=None,
    ):
        self.source = source
        self._template = video_template
        #: the encoded stream's size, time base and rate (the source's unless filtered)
        self.info = video or source.info
        self._filtered = video is not None
        self._filtered_fmt = pix_fmt
        self.config = config
        self.report = SinkReport()
        self.name = name or path
        self._to_pipe = path.startswith("pipe:")
        self.out = open_output(path, format_name, self.name)
        self._converter: FrameConverter | None = None
        self._keys: dict[int | None, bool] = {}
        self._keep_metadata = keep_metadata
        self._pending: list[av.Packet] = []
        self._started = False
        self._map: dict[int, av.stream.Stream] = {}
        self._last_pts: int | None = None
        self._last_src_pts: int | None = None
        self._plan: EncoderPlan | None = None
        self.frames_encoded = 0
        self._pts_map: dict[int, int] = {}
        self._last_dts: int | None = None
        self._pts_origin: int | None = None
        #: (pts, dts, time base) of every video packet muxed, when set to a list: what a
        #: segment's container may not keep exactly (Matroska has no dts, and a 1 ms clock)
        self.video_log: list | None = None

        kept, stripped = split_metadata(source.container.metadata, keep_metadata)
        self.report.stripped_tags += [f"container:{k}" for k in stripped]
        self._container_metadata = kept

        for stream in source.container.streams:
            if stream.index == source.video.index:
                if video_template is not None:
                    self.video = self.out.add_stream_from_template(video_template)
                    self.report.encoder = video_template.codec_context.name
                    # the segments' clock (the movie time scale is worked out from it)
                    self.info = dataclasses.replace(self.info,
                                                    time_base=video_template.time_base)
                else:
                    self.video = self.out.add_stream(self._choose_encoder_name(),
                                                     rate=self.info.average_rate)
                self._map[stream.index] = self.video
                self._copy_stream_props(stream, self.video)
                continue
            if video_only:
                continue
            label = _label(stream)
            if stream.type == "video" and not keep_other_video:
                self.report.dropped.append(f"{label}: video not anonymized (keep_other_video copies it)")
                continue
            try:
                out_stream = self.out.add_stream_from_template(stream)
            except (ValueError, av.FFmpegError, TypeError) as exc:
                self.report.dropped.append(f"{label}: {self.out.format.name} cannot carry it ({exc})")
                continue
            self._copy_stream_props(stream, out_stream)
            self._map[stream.index] = out_stream
            self.report.copied.append(label)
        try:
            chapters = [] if video_only else source.container.chapters()
            if chapters:
                self.out.set_chapters(chapters)
        except Exception as exc:  # containers without chapter support
            log.debug("chapters not copied: %s", exc)

    # -- set-up ---------------------------------------------------------------------------
    def _choose_encoder_name(self) -> str:
        info = self.info
        cc = self.source.video.codec_context
        self._planned_fmt = self._filtered_fmt or _software_format(cc)
        self._plan = plan_encoder(info.codec, self._planned_fmt or "yuv420p", info.time_base,
                                  info.average_rate, info.bit_rate, info.width, info.height,
                                  self.config, container_of(self.out))
        return self._plan.encoder

    def _copy_stream_props(self, src, dst) -> None:
        kept, stripped = split_metadata(src.metadata, self._keep_metadata)
        self.report.stripped_tags += [f"stream{src.index}:{k}" for k in stripped]
        if src is self.source.video:
            kept.pop("encoder", None)  # names the old encoder; the muxer writes the new one
        kept.pop("rotate", None)  # rotation travels as a display matrix
        dst.metadata.clear()
        dst.metadata.update(kept)
        try:
            dst.disposition = src.disposition
        except Exception:
            pass

    def _require_plan(self) -> EncoderPlan:
        if self._plan is None:
            raise EncoderError("no encoder plan for the video stream (the sink was not set up)")
        return self._plan

    def _start(self, first: av.VideoFrame) -> None:
        """Configure and open the encoder from the first frame, write the header, then the backlog."""
        plan = self._require_plan()
        cc = self.video.codec_context
        fmt = first.format.name
        if self._filtered and first.time_base:
            # The chain's own clock (fps=, setpts, yadif): the stream carries exactly its pts.
            self.info = dataclasses.replace(self.info, time_base=first.time_base)
        info = self.info
        if ((self._planned_fmt is None and fmt != self._plan.pix_fmt)
                or (first.width, first.height) != (info.width, info.height)
                or (self._filtered and (fmt != self._planned_fmt
                                        or (not plan.picture_clock
                                            and plan.time_base != info.time_base)))):
            # The stream did not say its pixel format (or size) up front: plan again from the
            # frame.
            plan = plan_encoder(info.codec, fmt if self._filtered else (self._planned_fmt or fmt),
                                info.time_base,
                                info.average_rate, info.bit_rate, first.width, first.height,
                                self.config, container_of(self.out))
            self._plan = plan
        cc.width, cc.height = plan.size
        self._converter = FrameConverter(fmt, first.width, first.height, first.time_base or
                                         info.time_base, plan.pix_fmt, plan.size)
        cc.pix_fmt = plan.pix_fmt
        cc.time_base = plan.time_base
        self.video.time_base = info.time_base
        if info.average_rate:
            cc.framerate = info.average_rate
        for attr in ("color_range", "color_primaries", "color_trc", "colorspace"):
            try:
                setattr(cc, attr, getattr(first, attr))
            except (AttributeError, ValueError, TypeError):
                pass
        sar = self.source.video.sample_aspect_ratio
        if self._filtered:
            sar = getattr(first, "sample_aspect_ratio", None) or sar
        if sar:
            try:
                cc.sample_aspect_ratio = sar
            except Exception:
                pass
        if plan.bit_rate is not None:
            cc.bit_rate = plan.bit_rate
        if self.config.threads:
            cc.thread_count = self.config.threads
        cc.options = dict(plan.options)
        self._write_head(first)
        self.report.encoder = plan.encoder
        self.report.pix_fmt = plan.pix_fmt
        self.report.notes += list(plan.notes)

    def _write_head(self, first: av.VideoFrame | None) -> None:
        """Rotation, tags and muxer options, then the header (the encoder opens with it), then
        the copied packets held back until now."""
        # The source's first *decoded* frame: a masked frame may no longer carry its side data.
        matrix = self.source.display_matrix
        if matrix is None and first is not None:
            matrix = display_matrix_of(first)
        if matrix and matrix != (65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30):
            self.video.set_display_matrix(matrix)
        self.out.metadata.clear()
        self.out.metadata.update(self._container_metadata)
        fmt_name = self.out.format.name
        if fmt_name in MOV_FAMILY or "mp4" in fmt_name:
            flags = []
            if any("." in k for k in self._container_metadata):
                flags.append("use_metadata_tags")
            if self._to_pipe and fmt_name != "ismv" and FRAGMENTED:
                flags += FRAGMENTED
                self.report.notes.append(f"fragmented {fmt_name} (stdout cannot seek)")
            options = self.out.container_options  # the muxer's, at the header
            if flags:
                options["movflags"] = "+".join(flags)
            timescale = self._movie_timescale()
            if timescale:
                options["movie_timescale"] = str(timescale)
        try:
            _write_header(self.out)
        except (av.FFmpegError, ValueError) as exc:
            if self._to_pipe and getattr(exc, "needs_seeking", False):
                raise OutputError(
                    f"cannot write {fmt_name} to {self.name}: the {fmt_name} muxer needs a "
                    "seekable output; write to a file, or use --format matroska or mpegts "
                    "for stdout") from exc
            cc = self.video.codec_context
            raise EncoderError(
                f"cannot open encoder {self.report.encoder or (self._plan and self._plan.encoder)} "
                f"({getattr(cc, 'pix_fmt', None) or '?'}, {cc.width}x{cc.height}) "
                f"or write the {fmt_name} header: {exc}"
            ) from exc
        self._started = True
        for pkt in self._pending:
            self._mux(pkt)
        self._pending.clear()

    def _movie_timescale(self) -> int | None:
        """A movie time scale in which every track's start is exact.

        The MP4 muxer writes a track that starts late (audio 0.020998 s after the video) as an
        empty edit in the movie time scale, rounded down: at its default of 1/1000 s the copied
        audio would start 1 ms early. A multiple of every track's time scale keeps it exact.
        """
        scales = []
        for index in self._map:
            stream = self.source.container.streams[index]
            tb = self.info.time_base if index == self.source.video.index else stream.time_base
            if stream.type == "audio" and getattr(stream.codec_context, "sample_rate", 0):
                scales.append(stream.codec_context.sample_rate)
            if tb:
                den = tb.denominator
                while stream.type == "video" and den < 10000:
                    den *= 2  # what the muxer does to a coarse video clock
                scales.append(den)
        if not scales:
            return None
        scale = math.lcm(*scales)
        return scale if scale <= 2**31 - 1 else None

    # -- writing --------------------------------------------------------------------------
    def copy(self, packet: av.Packet) -> None:
        """Copy one demuxed packet of a non-anonymized stream (bytes and timestamps untouched)."""
        out_stream = self._map.get(packet.stream.index)
        if out_stream is None or (packet.size == 0 and packet.dts is None):
            return
        packet.stream = out_stream
        if not self._started:
            if len(self._pending) >= MAX_PENDING:
                raise PipelineError(
                    f"no decodable frame in video stream #{self.source.video.index} within "
                    f"{MAX_PENDING} packets of the other streams"
                )
            self._pending.append(packet)
            return
        self._mux(packet)

    def write_packet(self, packet: av.Packet) -> None:
        """Mux one packet of the already encoded video (``video_template`` sinks only).

        Its pts is kept; a dts that does not increase (the first packet after a segment seam,
        whose encoder delay reaches back past the previous segment's last one) moves up by one
        tick, which keeps decode order and stays at or below its pts.

        Raises:
            PipelineError: that tick would put its dts past its pts (the segments overlap).
        """
        if self._template is None:
            raise PipelineError("write_packet is for a sink made with video_template")
        if not self._started:
            self._write_head(None)
        packet.stream = self.video
        dts = packet.dts
        if dts is not None and self._last_dts is not None:
            last = self._last_dts  # in the packet's time base (all from the same template clock)
            if dts <= last:
                dts = last + 1
                if packet.pts is not None and dts > packet.pts:
                    raise PipelineError(
                        f"cannot join the segments: a packet at pts {packet.pts} would decode "
                        f"after {last}")
                packet.dts = dts
        self._last_dts = dts if dts is not None else self._last_dts
        self._mux(packet)

    def write(self, frame: av.VideoFrame) -> None:
        """Encode one anonymized frame (its pts is the source frame's, in the source time base)."""
        if not self._started:
            self._start(frame)
        self._keys[frame.pts] = bool(frame.key_frame)
        for converted in self._converter.convert(frame):
            self._encode(converted)

    def _encode(self, frame: av.VideoFrame) -> None:
        plan = self._require_plan()
        src_tb = self.info.time_base
        src_pts = pts = frame.pts
        if plan.picture_clock and pts is not None:
            # Picture-counting encoders get a 1/fps clock; the exact source pts is restored
            # on the packets (see _restore_pts).
            if self._pts_origin is None:
                self._pts_origin = pts
            pts = round((pts - self._pts_origin) * src_tb / plan.time_base)
        if pts is not None and self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # encoders refuse non-increasing pts
            if not plan.picture_clock or (self._last_src_pts is not None
                                          and src_pts <= self._last_src_pts):
                # (Two VFR frames rounding to one 1/fps slot only move the encoder's clock:
                # both get their exact pts back, so that is no change to report.)
                self.report.notes.append("non-increasing timestamps in the source were bumped")
        if plan.picture_clock and pts is not None:
            # Keyed by the pts the encoder actually gets, after any bump: a bumped frame must
            # not overwrite the entry of the frame whose slot it shares.
            self._pts_map[pts] = src_pts
        self._last_pts = pts
        self._last_src_pts = src_pts
        key = self._keys.pop(src_pts, bool(frame.key_frame))
        frame.pts = pts
        frame.time_base = plan.time_base
        frame.pict_type = av.video.frame.PictureType.I if (key and self.config.keyframes_from_source) \
            else av.video.frame.PictureType.NONE
        try:
            packets = self.video.encode(frame)
        except (av.FFmpegError, ValueError) as exc:
            raise EncoderError(f"{plan.encoder} failed to encode frame pts={frame.pts}: {exc}") from exc
        self.frames_encoded += 1
        for p in packets:
            self._mux(self._restore_pts(p))

    def _restore_pts(self, packet: av.Packet) -> av.Packet:
        """Give a picture-clock packet its source pts back (exact, in the source time base)."""
        plan = self._plan
        if plan is None or not plan.picture_clock:
            return packet
        src_tb = self.info.time_base
        enc_tb = plan.time_base
        pts = packet.pts
        new_pts = self._pts_map.pop(pts, None) if pts is not None else None
        origin = self._pts_origin or 0
        if new_pts is None and pts is not None:
            new_pts = origin + round(pts * enc_tb / src_tb)
        dts = packet.dts
        new_dts = None if dts is None else origin + round(dts * enc_tb / src_tb)
        if (dts is not None and dts == pts) or not self.video.codec_context.max_b_frames:
            # Without B-frames nothing is reordered: decode time is presentation time. (The
            # MPEG encoders report dts one frame early, which would shift every stream.)
            new_dts = new_pts
        if new_dts is not None and new_pts is not None and new_dts > new_pts:
            new_dts = new_pts
        if new_dts is not None and self._last_dts is not None and new_dts <= self._last_dts:
            new_dts = self._last_dts + 1
        self._last_dts = new_dts
        packet.time_base = src_tb
        packet.pts = new_pts
        packet.dts = new_dts
        if packet.duration:
            packet.duration = round(packet.duration * enc_tb / src_tb)
        return packet

    def _mux(self, packet: av.Packet) -> None:
        if self.video_log is not None and packet.stream is self.video:
            self.video_log.append((packet.pts, packet.dts, packet.time_base))
        try:
            self.out.mux(packet)
        except av.FFmpegError as exc:
            raise PipelineError(f"cannot write a packet of stream #{packet.stream.index}: {exc}") from exc

    def finish(self) -> None:
        """Flush the encoder and write the trailer."""
        if not self._started:
            raise PipelineError(f"video stream #{self.source.video.index} has no decodable frame")
        if self._template is not None:
            self.out.close()
            return
        try:
            for frame in self._converter.flush():
                self._encode(frame)
            for p in self.video.encode(None):
                self._mux(self._restore_pts(p))
        except av.FFmpegError as exc:
            raise EncoderError(f"{self.report.encoder} failed while flushing: {exc}") from exc
        self.out.close()

    def abort(self) -> None:
        try:
            self.out.close()
        except Exception:
            pass


def open_output(path: str, format_name: str | None, name: str | None = None):
    """An output container for ``path`` (nothing is created before its header is written).

    Raises:
        OutputError: no such format, or none for ``path``'s extension (message names ``name``).
    """
    name = name or path
    # MPEG-PS muxers push every timestamp up by a 0.5 s "preload" unless told not to.
    options = {"preload": "0"} if (format_name or path).rsplit(".", 1)[-1].lower() in (
        "mpg", "mpeg", "vob", "dvd", "svcd", "vcd", "m2p", "ps") else {}
    try:
        return av.open(path, "w", format=format_name, options=options)
    except (av.FFmpegError, ValueError) as exc:
        if format_name:
            why = f"no output format {format_name!r} in this FFmpeg build"
        elif "." in name.rsplit("/", 1)[-1]:
            why = (f"no output format for the extension '.{name.rsplit('.', 1)[-1]}' "
                   "(name one with --format)")
        else:
            why = "no extension to choose the output format by (name one with --format)"
        if not isinstance(exc, ValueError) or "format" not in str(exc).lower():
            why = str(exc)
        raise OutputError(f"cannot write {name}: {why}") from exc


def container_of(out) -> Container:
    """What an opened output container can hold, for :func:`~avanon.media.encode.plan_encoder`.

    Asks PyAV the very question its ``add_stream`` asks, on a scratch container of the same
    format (so nothing is added to ``out``).
    """
    fmt = out.format.name
    cache: dict[str, bool] = {}

    def accepts(encoder: str) -> bool:
        if encoder not in cache:
            scratch = av.open(io.BytesIO(), "w", format=fmt)
            try:
                scratch.add_stream(encoder)
                cache[encoder] = True
            except ValueError:
                cache[encoder] = False
            except Exception:  # no such encoder here: it cannot be chosen anyway
                cache[encoder] = False
            finally:
                scratch.close()
        return cache[encoder]

    default = out.default_video_codec
    return Container(fmt, accepts, None if default in (None, "none") else default)


def _write_header(out) -> None:
    """Open the encoders and write the header. A failure is raised with ``needs_seeking`` set
    when the muxer refused because the output cannot seek: FFmpeg says so only in its log, which
    PyAV drops unless asked, so FFmpeg's error lines are captured (from every thread, and for
    this call only: none of them reaches the console)."""
    old = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    error = None
    try:
        with av.logging.Capture(local=False) as logs:
            try:
                out.start_encoding()
            except (av.FFmpegError, ValueError) as exc:
                error = exc
    finally:
        av.logging.set_level(old)
    if error is not None:
        said = " ".join(str(line[-1]) for line in logs) + " " + str(error)
        error.needs_seeking = "non seekable" in said or "non-seekable" in said
        raise error


def _software_format(cc) -> str | None:
    """The decoder's pixel format, or its software format when it decodes on a device
    (hardware formats such as "cuda" have no planes to encode); None when unknown."""
    for name in (cc.pix_fmt, getattr(cc, "sw_format", None)):
        try:
            if name and av.VideoFormat(name).components:
                return name
        except (ValueError, TypeError):
            continue
    return None


def _label(stream) -> str:
    lang = stream.metadata.get("language")
    name = getattr(getattr(stream, "codec_context", None), "name", None) or \
        getattr(getattr(stream, "codec", None), "name", None) or "?"
    return f"#{stream.index} {stream.type} {name}" + (f" ({lang})" if lang and lang != "und" else "")
