"""Convert an RGB fill colour to the sample codes of a frame's own colour space.

The solid mask writes codes straight into the decoded planes, so the colour has to be expressed
the way the frame stores it: YUV matrix (BT.601 / BT.709 / BT.2020 / ...), limited ("MPEG",
16..235 at 8 bits) or full ("JPEG", 0..255) range, and bit depth.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["MATRICES", "rgb_to_codes", "frame_matrix", "frame_full_range"]

#: Luma coefficients (Kr, Kb) of the YUV matrices avanon knows.
MATRICES: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
    "smpte240m": (0.212, 0.087),
    "fcc": (0.30, 0.11),
}

# FFmpeg's AVColorSpace values (frame.colorspace) mapped to a matrix name.
_COLORSPACES: dict[int, str] = {
    0: "rgb",  # AVCOL_SPC_RGB: GBR stored in the Y, U, V planes
    1: "bt709",
    4: "fcc",
    5: "bt601",  # BT470BG
    6: "bt601",  # SMPTE170M
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020",  # BT2020_NCL
    10: "bt2020",  # BT2020_CL: approximated by the non-constant-luminance matrix
}

_MPEG, _JPEG = 1, 2  # AVColorRange


def frame_matrix(colorspace: int, height: int) -> str:
    """Name of the YUV matrix a frame uses.

    Args:
        colorspace: the frame's ``colorspace`` (FFmpeg ``AVColorSpace``).
        height: the frame's height, used when the colour space is unspecified: BT.601 below 720
            lines (SD), BT.709 otherwise, as players do.

    Returns:
        A key of :data:`MATRICES`, or "rgb" / "ycgco".
    """
    name = _COLORSPACES.get(int(colorspace))
    if name is None:
        return "bt601" if height < 720 else "bt709"
    return name


def frame_full_range(color_range: int, format_name: str, is_rgb: bool) -> bool:
    """Whether a frame's samples use the full code range.

    RGB formats and the ``yuvj*`` formats are always full range. Otherwise the frame's
    ``color_range`` decides; when unspecified, YUV is limited (the video convention) and gray is
    full (as FFmpeg's scaler reads it).
    """
    if is_rgb or format_name.startswith("yuvj"):
        return True
    if color_range == _JPEG:
        return True
    if color_range == _MPEG:
        return False
    return format_name.startswith(("gray", "ya"))


def _quantise(value: float, bits: int) -> int:
    return min(max(int(value + 0.5) if value >= 0 else 0, 0), (1 << bits) - 1)


def _luma_code(y: float, full_range: bool, bits: int) -> int:
    if full_range:
        return _quantise(y * ((1 << bits) - 1), bits)
    return _quantise((16.0 + 219.0 * y) * (1 << (bits - 8)), bits)


def _chroma_code(c: float, full_range: bool, bits: int) -> int:
    if full_range:
        return _quantise((1 << (bits - 1)) + c * ((1 << bits) - 1), bits)
    return _quantise((128.0 + 224.0 * c) * (1 << (bits - 8)), bits)


def rgb_to_codes(rgb: Sequence[int], matrix: str, full_range: bool, bits: int
                 ) -> tuple[int, int, int]:
    """Codes of an 8-bit RGB colour for the three colour components of a frame.

    Args:
        rgb: ``(R, G, B)``, 0..255.
        matrix: a key of :data:`MATRICES`, "ycgco", "rgb" (GBR coded in a YUV format: returns
            ``(G, B, R)`` in the Y, U, V order) or "gbr" (an RGB pixel format: returns
            ``(R, G, B)`` scaled to ``bits``).
        full_range: full (JPEG) rather than limited (MPEG) code range.
        bits: bits per sample (8..16).

    Returns:
        Codes for components 0, 1, 2 of the pixel format (Y, U, V for YUV formats).

    Example:
        >>> rgb_to_codes((0, 0, 0), "bt709", full_range=False, bits=8)
        (16, 128, 128)
        >>> rgb_to_codes((255, 255, 255), "bt601", full_range=False, bits=10)
        (940, 512, 512)
    """
    r, g, b = (float(v) / 255.0 for v in rgb)
    if matrix in ("gbr", "rgb"):
        order = (r, g, b) if matrix == "gbr" else (g, b, r)
        return tuple(_luma_code(v, full_range, bits) for v in order)  # type: ignore[return-value]
    if matrix == "ycgco":
        y, u, v = 0.25 * r + 0.5 * g + 0.25 * b, -0.25 * r + 0.5 * g - 0.25 * b, 0.5 * (r - b)
    else:
        kr, kb = MATRICES[matrix]
        y = kr * r + (1.0 - kr - kb) * g + kb * b
        u = (b - y) / (2.0 * (1.0 - kb))
        v = (r - y) / (2.0 * (1.0 - kr))
    return (_luma_code(y, full_range, bits), _chroma_code(u, full_range, bits),
            _chroma_code(v, full_range, bits))
