"""A user's FFmpeg filter chain on the anonymized video stream (``--vf-pre`` / ``--vf``).

The chain is written as for ``ffmpeg -vf`` (``crop=640:360:0:0``, ``yadif,scale=1280:-2``,
``fps=10``) and runs in an :class:`av.filter.Graph`: buffer source -> the user's filters ->
buffersink. Frames come out with the pts and time base the graph gives them (``crop`` keeps
every pts; ``fps``, ``setpts`` and ``select`` change them), and those are what is encoded.

Only a single chain is taken: filters separated by ``,``, each ``name`` or ``name=args``,
quoted and escaped as FFmpeg's graph parser does (``select='not(mod(n,2))'`` or
``select=not(mod(n\\,2))``). Labels (``[in]``) and several chains (``;``) are refused: the chain
has one input and one output.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import av.logging

from ..errors import ConfigError, PipelineError

__all__ = ["FilterChain", "FilteredVideo", "LazyChain", "drain", "end_of_stream", "parse_chain",
           "probe_chain"]


def drain(graph) -> list[av.VideoFrame]:
    """Every frame an ``av.filter.Graph`` has ready now (FFmpeg's other errors propagate)."""
    out = []
    while True:
        try:
            out.append(graph.pull())
        except (av.BlockingIOError, av.EOFError):
            return out


def end_of_stream(graph) -> bool:
    """Tell ``graph`` its input ended; False when it had ended already (nothing more to pull)."""
    try:
        graph.push(None)
    except (av.EOFError, ValueError):
        return False
    return True

_SPACE = " \n\t\r"
#: Synthetic frames pushed through a copy of the chain to learn what it outputs.
PROBE_FRAMES = 4


def _token(text: str, pos: int, term: str) -> tuple[str, int]:
    """FFmpeg's ``av_get_token``: one token up to a character of ``term``, one level of quoting
    (``'...'``) and escaping (``\\x``) removed, outer white space trimmed. Returns (token, end)."""
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    out: list[str] = []
    end = 0  # length of the part that trailing-space trimming must keep
    while pos < len(text) and text[pos] not in term:
        c = text[pos]
        pos += 1
        if c == "\\" and pos < len(text):
            out.append(text[pos])
            pos += 1
            end = len(out)
        elif c == "'":
            while pos < len(text) and text[pos] != "'":
                out.append(text[pos])
                pos += 1
            if pos < len(text):
                pos += 1
                end = len(out)
        else:
            out.append(c)
    while len(out) > end and out[-1] in _SPACE:
        out.pop()
    return "".join(out), pos


def parse_chain(graph: str, option: str = "vf") -> list[tuple[str, str | None]]:
    """``"crop=64:32:0:0,hflip"`` -> ``[("crop", "64:32:0:0"), ("hflip", None)]``.

    Raises:
        ConfigError: empty, a label or ``;`` (not one chain), or a filter without a name.
    """
    if not isinstance(graph, str) or not graph.strip():
        raise ConfigError(f"{option}: expected a filter chain such as 'crop=640:360:0:0', got {graph!r}")
    chain: list[tuple[str, str | None]] = []
    pos = 0
    while True:
        name, pos = _token(graph, pos, "=,;[]")
        args = None
        if pos < len(graph) and graph[pos] == "=":
            args, pos = _token(graph, pos + 1, "[],;")
        if pos < len(graph) and graph[pos] in "[];":
            raise ConfigError(f"{option} {graph!r}: only one chain of filters separated by ',' "
                              "(no [labels], no ';')")
        if not name:
            raise ConfigError(f"{option} {graph!r}: a filter without a name")
        chain.append((name, args))
        if pos >= len(graph):
            return chain
        pos += 1  # the ','


@dataclass(frozen=True)
class FilteredVideo:
    """The frames a chain outputs: size, pixel format, time base."""

    width: int
    height: int
    pix_fmt: str
    time_base: Fraction
    #: frames per second, measured on the probe's output (None when it cannot tell)
    rate: Fraction | None


class FilterChain:
    """One configured chain: frames in with :meth:`push`, filtered frames out, in order.

    Args:
        graph: the chain, as for ``ffmpeg -vf``.
        width, height, pix_fmt, time_base: the frames that will be pushed.
        sample_aspect_ratio: theirs (``scale`` and ``setsar`` use it); None is 1:1.
        option: how messages name the chain (``--vf-pre``, ``--vf``).

    Raises:
        ConfigError: the chain does not parse, names no such filter, or FFmpeg refuses its
            options for these frames; the message carries FFmpeg's reason.
    """

    def __init__(self, graph: str, *, width: int, height: int, pix_fmt: str, time_base: Fraction,
                 sample_aspect_ratio: Fraction | None = None, option: str = "vf"):
        self.text = graph
        self.option = option
        self.frames_in = 0
        self.frames_out = 0
        self._done = False
        chain = parse_chain(graph, option)
        g = av.filter.Graph()
        old = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture(local=False) as logs:
                try:
                    nodes = [g.add_buffer(width=width, height=height, format=pix_fmt,
                                          time_base=time_base)]
                    if sample_aspect_ratio:
                        nodes.append(g.add("setsar", f"{sample_aspect_ratio.numerator}/"
                                                     f"{sample_aspect_ratio.denominator}"))
                    for name, args in chain:
                        if name not in av.filter.filters_available:
                            raise ConfigError(f"{option} {graph!r}: no filter named {name!r} "
                                              "in this FFmpeg build")
                        try:
                            nodes.append(g.add(name, args))
                        except (av.FFmpegError, ValueError) as exc:
                            raise ConfigError(self._why(name, args, logs, exc)) from exc
                    nodes.append(g.add("buffersink"))
                    for a, b in zip(nodes, nodes[1:]):
                        a.link_to(b)
                    try:
                        g.configure()
                    except (av.FFmpegError, ValueError) as exc:
                        raise ConfigError(self._why(None, None, logs, exc)) from exc
                except ConfigError:
                    raise
                except (av.FFmpegError, ValueError, TypeError) as exc:
                    raise ConfigError(self._why(None, None, logs, exc)) from exc
        finally:
            av.logging.set_level(old)
        self._graph = g

    def _why(self, name, args, logs, exc) -> str:
        said = [str(line[-1]).strip() for line in logs if str(line[-1]).strip()]
        reason = said[0] if said else (getattr(exc, "strerror", None) or str(exc))
        where = f" ({name}={args})" if name and args else (f" ({name})" if name else "")
        return f"{self.option} {self.text!r}{where}: {reason}"

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """The filtered frames that are ready after ``frame`` (maybe none, maybe several)."""
        self.frames_in += 1
        try:
            self._graph.push(frame)
        except (av.FFmpegError, ValueError) as exc:
            raise PipelineError(f"{self.option} {self.text!r} failed on frame pts={frame.pts}: "
                                f"{exc}") from exc
        return self._drain()

    def flush(self) -> list[av.VideoFrame]:
        """End of stream: the frames the chain still holds."""
        if self._done:
            return []
        self._done = True
        return self._drain() if end_of_stream(self._graph) else []

    def _drain(self) -> list[av.VideoFrame]:
        try:
            out = drain(self._graph)
        except av.FFmpegError as exc:
            raise PipelineError(f"{self.option} {self.text!r} failed: {exc}") from exc
        self.frames_out += len(out)
        return out


def probe_chain(graph: str, *, width: int, height: int, pix_fmt: str, time_base: Fraction,
                rate: Fraction | None, sample_aspect_ratio: Fraction | None = None,
                option: str = "vf") -> FilteredVideo | None:
    """What ``graph`` outputs for such frames, learned by pushing a few gray frames (spaced one
    frame duration apart) through a copy of it; None when it outputs none of them (a ``select``
    that skips the start): the real frames then tell.

    Raises:
        ConfigError: as :class:`FilterChain`.
    """
    chain = FilterChain(graph, width=width, height=height, pix_fmt=pix_fmt, time_base=time_base,
                        sample_aspect_ratio=sample_aspect_ratio, option=option)
    step = max(1, round(1 / (Fraction(rate or 25) * time_base)))
    out: list[av.VideoFrame] = []
    try:
        for i in range(PROBE_FRAMES):
            frame = av.VideoFrame(width, height, pix_fmt)
            for plane in frame.planes:
                plane.update(bytes([128]) * plane.buffer_size)
            frame.pts = i * step
            frame.time_base = time_base
            out += chain.push(frame)
        out += chain.flush()
    except PipelineError as exc:
        raise ConfigError(str(exc)) from exc
    if not out:
        return None
    first = out[0]
    tb = first.time_base or time_base
    out_rate = None
    steps = [b.pts - a.pts for a, b in zip(out, out[1:]) if a.pts is not None and b.pts is not None]
    if steps and min(steps) > 0:
        out_rate = (1 / (Fraction(min(steps)) * tb)).limit_denominator(1001)
    elif tb == time_base:
        out_rate = rate
    elif tb.numerator == 1 and tb.denominator <= 240:
        out_rate = Fraction(tb.denominator)  # fps= and framerate= count in 1/rate
    return FilteredVideo(first.width, first.height, first.format.name, tb, out_rate)


class LazyChain:
    """A :class:`FilterChain` built from the first frame pushed (its exact size, pixel format
    and time base, which a stream states only once decoded). Same verbs; counts frames."""

    def __init__(self, graph: str, *, option: str = "vf",
                 sample_aspect_ratio: Fraction | None = None,
                 time_base: Fraction | None = None):
        self.text = graph
        self.option = option
        self._sar = sample_aspect_ratio
        self._time_base = time_base
        self._chain: FilterChain | None = None
        self.frames_in = 0
        self.frames_out = 0

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        if self._chain is None:
            try:
                self._chain = FilterChain(
                    self.text, width=frame.width, height=frame.height,
                    pix_fmt=frame.format.name,
                    time_base=frame.time_base or self._time_base or Fraction(1, 90000),
                    sample_aspect_ratio=self._sar, option=self.option)
            except ConfigError as exc:  # the frames are not what the probe saw
                raise PipelineError(str(exc)) from exc
        self.frames_in += 1
        out = self._chain.push(frame)
        self.frames_out += len(out)
        return out

    def flush(self) -> list[av.VideoFrame]:
        if self._chain is None:
            return []
        out = self._chain.flush()
        self.frames_out += len(out)
        return out

    def check_output(self) -> None:
        """After the end of the stream: the chain must have output frames, or nothing is
        written (fail closed: no output at all rather than one without the video).

        Raises:
            PipelineError: it took frames and output none.
        """
        if self.frames_in and not self.frames_out:
            raise PipelineError(f"{self.option} {self.text!r}: the filter chain output none of "
                                f"the {self.frames_in} frames it got; no output written")
