"""How a pixel format lays its samples out in planes, as far as the mask kernels care.

:func:`plane_layout` says, for one pixel format, which planes hold colour samples, at which
subsampling and sample type, and which component each channel of a plane carries. Formats the
kernels cannot work on in place (packed RGB/YUV, palette, bitstream, Bayer, float, big-endian
high bit depth) get ``None`` and :func:`planar_equivalent` names the planar format the masker
converts them to instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import av
import numpy as np

__all__ = ["PlaneSpec", "Layout", "luma", "luma_and_bits", "plane_layout", "plane_rows",
           "planar_equivalent"]

# Probe size used to read the subsampling off component plane widths (a power of two, so
# every log2 subsampling FFmpeg has divides it exactly).
_PROBE = 1024

# Semi-planar formats whose interleaved chroma plane starts with V (Cr) rather than U (Cb).
_VU_FORMATS = ("nv21", "nv42")

# MSB-aligned high-bit-depth formats: P010/P012/P016, P210, P410, ... and FFmpeg's *msb formats.
_MSB_ALIGNED = re.compile(r"^p\d{3}(le|be)$|msb")

_FLOAT = re.compile(r"f(16|32)(le|be)?$")

_SUBSAMPLING_NAMES = {(0, 0): "444", (1, 0): "422", (1, 1): "420", (0, 1): "440",
                      (2, 0): "411", (2, 2): "410"}


@dataclass(frozen=True)
class PlaneSpec:
    """One plane the masker writes to.

    Attributes:
        index: index into ``frame.planes``.
        components: pixel-format component index carried by each channel of the plane, in
            memory order (one entry for ordinary planes, two for interleaved chroma such as
            NV12's UV plane). Components are 0, 1, 2 = Y, U, V for YUV and R, G, B for RGB.
        sx: log2 horizontal subsampling relative to the frame.
        sy: log2 vertical subsampling relative to the frame.
    """

    index: int
    components: tuple[int, ...]
    sx: int
    sy: int


@dataclass(frozen=True)
class Layout:
    """The planes of one pixel format that carry colour (alpha excluded).

    Attributes:
        planes: the planes to mask, in plane order.
        dtype: sample type of every plane (uint8, or native uint16 for 9..16 bits).
        bits: significant bits per sample.
        shift: unused low bits per sample (6 for P010, 0 for most formats).
        align: pixelation block alignment in luma pixels: the largest subsampling factor.
        is_rgb: the components are R, G, B rather than Y, U, V.
    """

    planes: tuple[PlaneSpec, ...]
    dtype: np.dtype
    bits: int
    shift: int
    align: int
    is_rgb: bool


def _log2_ratio(full: int, sub: int) -> int:
    return (full // sub).bit_length() - 1


def plane_layout(name: str) -> Layout | None:
    """Describe pixel format ``name`` for in-place masking, or None when it is not supported.

    Example:
        >>> lay = plane_layout("nv12")
        >>> [(p.index, p.components, p.sx, p.sy) for p in lay.planes]
        [(0, (0,), 0, 0), (1, (1, 2), 1, 1)]
        >>> plane_layout("rgb24") is None
        True
    """
    fmt = av.VideoFormat(name, _PROBE, _PROBE)
    comps = fmt.components
    if not comps or fmt.has_palette or fmt.is_bit_stream or fmt.is_bayer or _FLOAT.search(name):
        return None
    bits = max(c.bits for c in comps)
    if bits > 16 or (bits > 8 and fmt.is_big_endian):
        return None
    by_plane: dict[int, list[int]] = {}
    for i, comp in enumerate(comps):
        by_plane.setdefault(comp.plane, []).append(i)
    planes = []
    for index in sorted(by_plane):
        members = by_plane[index]
        if len(members) == 1:
            if comps[members[0]].is_alpha:
                continue
            order: tuple[int, ...] = (members[0],)
        elif sorted(members) == [1, 2] and not fmt.is_rgb:
            order = (2, 1) if name.startswith(_VU_FORMATS) else (1, 2)
        else:
            return None  # packed: several components share a plane
        comp = comps[members[0]]
        planes.append(PlaneSpec(index, order, _log2_ratio(_PROBE, comp.width),
                                _log2_ratio(_PROBE, comp.height)))
    align = 1 << max(max(p.sx, p.sy) for p in planes)
    return Layout(
        planes=tuple(planes),
        dtype=np.dtype(np.uint8 if bits <= 8 else np.uint16),
        bits=bits,
        shift=16 - bits if bits > 8 and _MSB_ALIGNED.search(name) else 0,
        align=align,
        is_rgb=fmt.is_rgb,
    )


def _first_known(names: list[str]) -> str:
    for candidate in names:
        try:
            av.VideoFormat(candidate)
        except ValueError:
            continue
        return candidate
    return names[-1]


def planar_equivalent(name: str) -> str:
    """A planar format the masker can work on in place that holds ``name`` without loss.

    RGB goes to ``gbrp``/``gbrap`` at the same or next higher depth, YUV to ``yuv*p``/``yuva*p``
    with the same subsampling where FFmpeg has one (else 4:4:4), gray to ``gray`` (``yuva444p``
    when it has alpha), big-endian formats to their little-endian twin. Float formats go to
    16 bits, which loses precision below 1/65535.
    """
    fmt = av.VideoFormat(name, _PROBE, _PROBE)
    comps = fmt.components
    bits = max(c.bits for c in comps)
    alpha = any(c.is_alpha for c in comps)
    depths = [""] if bits <= 8 else [f"{d}le" for d in (9, 10, 12, 14, 16) if d >= min(bits, 16)]
    if fmt.has_palette:
        bases = ["gbrap"]  # palette entries carry alpha
    elif fmt.is_rgb or fmt.is_bayer:
        bases = ["gbrap" if alpha else "gbrp"]
    elif len(comps) - alpha == 1:
        bases = ["yuva444p"] if alpha else ["gray"]
    else:
        sub = (_log2_ratio(_PROBE, comps[1].width), _log2_ratio(_PROBE, comps[1].height))
        a = "a" if alpha else ""
        bases = [f"yuv{a}{_SUBSAMPLING_NAMES[sub]}p"] if sub in _SUBSAMPLING_NAMES else []
        bases.append(f"yuv{a}444p")
    return _first_known([base + depth for base in bases for depth in depths])


def plane_rows(frame: av.VideoFrame, index: int, dtype) -> np.ndarray:
    """Plane ``index`` of ``frame`` as a writable (height, line_size / itemsize) array of
    ``dtype`` samples, padding included (no copy): the one way every stage reads planes."""
    plane = frame.planes[index]
    dtype = np.dtype(dtype)
    return np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)


@lru_cache(maxsize=64)
def _luma_plane(name: str) -> tuple[int, int] | None:
    """(shift, bits) when plane 0 of format ``name`` holds the luma alone at full size, else
    None."""
    layout = plane_layout(name)
    if layout is None or layout.is_rgb:
        return None
    first = layout.planes[0]
    if first.index != 0 or first.components != (0,) or first.sx or first.sy:
        return None
    return layout.shift, layout.bits


def luma_and_bits(frame: av.VideoFrame) -> tuple[np.ndarray, int]:
    """:func:`luma` and its bits per sample (8 after a conversion by FFmpeg)."""
    spec = _luma_plane(frame.format.name)
    if spec is None:
        return frame.reformat(format="gray").to_ndarray().copy(), 8
    shift, bits = spec
    dtype = np.dtype(np.uint8 if bits <= 8 else np.uint16)
    visible = plane_rows(frame, 0, dtype)[:, : frame.planes[0].width]
    if shift:
        return np.ascontiguousarray(visible >> shift), bits
    return visible.copy(), bits


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The frame's luma as a new contiguous 2-D array (height, width).

    Planar and semi-planar YUV and gray formats give a copy of plane 0 (line padding dropped):
    ``uint8`` at 8 bits, native ``uint16`` at 9 to 16 bits (MSB-aligned formats such as P010
    are shifted down, so 10-bit luma is 0..1023 either way). Other formats (packed RGB/YUV,
    planar RGB, palette, big-endian) are converted by FFmpeg to 8-bit ``gray``.

    Example:
        >>> import av, numpy as np
        >>> f = av.VideoFrame(1282, 722, "yuv420p")
        >>> f.planes[0].line_size > 1282, luma(f).shape, luma(f).dtype
        (True, (722, 1282), dtype('uint8'))
    """
    return luma_and_bits(frame)[0]
