"""Anonymized frames -> what the video encoder takes: its pixel format and picture size.

Most runs need nothing, or one swscale call to another pixel format. Two cases need FFmpeg's
filters (through :class:`av.filter.Graph`): a palette encoder (GIF, ``pal8``) gets a palette made
from each frame's own colours (``palettegen`` + ``paletteuse``: a GIF comes out in its own colours,
not in a fixed 256-colour cube or gray), and an encoder that refuses odd sizes in a subsampled
format gets the last column/row repeated (``pad`` + ``fillborders``), never a black line and
never a lost one. Timestamps are kept frame for frame.
"""

from __future__ import annotations

from fractions import Fraction

import av

from .filtergraph import drain, end_of_stream

__all__ = ["FrameConverter"]


class FrameConverter:
    """Converts frames of one format and size to the encoder's ``pix_fmt`` and ``size``.

    Args:
        src_fmt, width, height: the frames that will be pushed (the anonymized ones).
        time_base: their time base.
        pix_fmt: the encoder's pixel format (``pal8``: a palette per frame).
        size: the encoder's picture size, ``(width, height)`` or larger by the padding.
    """

    def __init__(self, src_fmt: str, width: int, height: int, time_base: Fraction,
                 pix_fmt: str, size: tuple[int, int]):
        self.pix_fmt = pix_fmt
        self._graph = None
        pad_w, pad_h = size[0] - width, size[1] - height
        if pix_fmt != "pal8" and not (pad_w or pad_h):
            return  # same size: swscale alone (in convert)
        g = av.filter.Graph()
        chain = [g.add_buffer(width=width, height=height, format=src_fmt, time_base=time_base)]
        if pad_w or pad_h:
            chain.append(g.add("pad", f"{size[0]}:{size[1]}:0:0"))
            chain.append(g.add("fillborders", f"right={pad_w}:bottom={pad_h}:mode=smear"))
        if pix_fmt != "pal8":
            chain.append(g.add("format", pix_fmt))
        for a, b in zip(chain, chain[1:]):
            a.link_to(b)
        last = chain[-1]
        if pix_fmt == "pal8":
            split = g.add("split")
            gen = g.add("palettegen", "stats_mode=single")
            last = g.add("paletteuse", "new=1")
            chain[-1].link_to(split)
            split.link_to(last, 0, 0)
            split.link_to(gen, 1, 0)
            gen.link_to(last, 0, 1)
        last.link_to(g.add("buffersink"))
        g.configure()
        self._graph = g

    def convert(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """The frame(s) ready for the encoder (pts and time base kept)."""
        if self._graph is None:
            if frame.format.name == self.pix_fmt:
                return [frame]
            out = frame.reformat(format=self.pix_fmt)
            out.pts = frame.pts
            out.time_base = frame.time_base
            return [out]
        self._graph.push(frame)
        return self._drain()

    def flush(self) -> list[av.VideoFrame]:
        """Frames still inside the filter graph at the end of the stream."""
        if self._graph is None or not end_of_stream(self._graph):
            return []
        return self._drain()

    def _drain(self) -> list[av.VideoFrame]:
        return drain(self._graph)
