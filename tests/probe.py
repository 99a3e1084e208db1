"""Read back what a file holds, with PyAV, for assertions."""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import numpy as np


def video_frames(path, index: int | None = None):
    """[(pts, time_base, planes as numpy arrays)] of the (first) video stream."""
    with av.open(str(path)) as c:
        s = c.streams.video[0] if index is None else c.streams[index]
        out = []
        for f in c.decode(s):
            planes = [np.frombuffer(p, np.uint16 if f.format.components[0].bits > 8 else np.uint8)
                      .reshape(p.height, -1)[:, : p.width].copy() for p in f.planes]
            out.append((f.pts, f.time_base, planes, f))
        return out


def video_pts(path) -> list[Fraction]:
    """Video pts in seconds (exact fractions)."""
    return [pts * tb for pts, tb, _, _ in video_frames(path)]


def packets(path, stream_index: int):
    """[(bytes, pts seconds, dts seconds, duration seconds)] of one stream."""
    with av.open(str(path)) as c:
        s = c.streams[stream_index]
        rows = []
        for p in c.demux(s):
            if p.size == 0 and p.dts is None:
                continue
            tb = p.time_base
            sec = (lambda v: None if v is None else v * tb)
            rows.append((bytes(p), sec(p.pts), sec(p.dts), sec(p.duration)))
        return rows


def streams(path):
    with av.open(str(path)) as c:
        return [
            {
                "index": s.index,
                "type": s.type,
                "codec": getattr(s.codec_context, "name", None) if s.codec_context else None,
                "language": s.metadata.get("language"),
                "metadata": dict(s.metadata),
                "disposition": int(s.disposition),
            }
            for s in c.streams
        ], dict(c.metadata)


def first_frame(path):
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            return f


def display_matrix(path):
    f = first_frame(path)
    for sd in f.side_data:
        if "DISPLAYMATRIX" in str(sd.type).upper():
            return struct.unpack("<9i", bytes(sd)[:36])
    return None


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)
