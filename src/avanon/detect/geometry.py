"""Detector-input geometry: size of the downscaled upright copy, and boxes mapped back.

Coordinates are continuous pixel edges: a box ``x0, y0, x1, y1`` covers columns ``x0 .. x1``
with ``x1`` exclusive, so a full-frame box is ``0, 0, W, H`` in any orientation.

The *coded* picture is the frame as decoded (``W_c x H_c``). The display matrix rotates it
``rotation`` degrees counter-clockwise (PyAV's ``VideoFrame.rotation``), and the upright picture is
``np.rot90(coded, k)`` with ``k = round(rotation / 90) % 4``. Detectors see the upright picture
scaled to ``det_w x det_h``.
"""

from __future__ import annotations

import av
import numpy as np

__all__ = [
    "detector_input",
    "mirror_edges",
    "unmirror",
    "detector_size",
    "rotation_k",
    "to_coded",
    "to_upright",
    "upright_size",
]


def rotation_k(rotation: float | int | None) -> int:
    """Quarter turns (0..3) that make the coded picture upright, for PyAV's ``rotation``."""
    return int(round((rotation or 0) / 90.0)) % 4


def upright_size(width: int, height: int, k: int) -> tuple[int, int]:
    """Size of the upright picture of a ``width x height`` coded picture."""
    return (height, width) if k % 2 else (width, height)


def detector_size(width: int, height: int, det_size: int, multiple: int = 32) -> tuple[int, int]:
    """Detector input size for an upright ``width x height`` picture.

    The long side becomes ``det_size`` and the short side keeps the aspect ratio, both rounded
    to a multiple of ``multiple`` (the detectors' stride), so no padding is needed; the small
    aspect change this causes (under 3 % at 640) is undone when boxes are mapped back.
    """
    scale = det_size / max(width, height)

    def fit(v: float) -> int:
        return max(multiple, int(round(v * scale / multiple)) * multiple)

    return fit(width), fit(height)


def to_coded(
    xyxy: np.ndarray,
    det_wh: tuple[int, int],
    coded_wh: tuple[int, int],
    k: int,
) -> np.ndarray:
    """Map boxes from detector-input pixels back to coded-picture pixels.

    Args:
        xyxy: (N, 4) boxes in the ``det_w x det_h`` upright detector input.
        det_wh: ``(det_w, det_h)``.
        coded_wh: ``(W_c, H_c)`` of the coded picture.
        k: quarter turns from :func:`rotation_k`.

    Returns:
        (N, 4) float32 boxes in coded pixels, clipped to the picture.
    """
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    wc, hc = coded_wh
    uw, uh = upright_size(wc, hc, k)
    sx = uw / det_wh[0]
    sy = uh / det_wh[1]
    xu = xyxy[:, 0::2] * sx  # (N, 2): x0, x1 in upright pixels
    yu = xyxy[:, 1::2] * sy
    k %= 4
    if k == 0:
        xc, yc = xu, yu
    elif k == 1:  # upright = rot90(coded, 1): coded x = W_c - y_u, coded y = x_u
        xc, yc = wc - yu, xu
    elif k == 2:
        xc, yc = wc - xu, hc - yu
    else:  # upright = rot90(coded, 3): coded x = y_u, coded y = H_c - x_u
        xc, yc = yu, hc - xu
    out = np.stack(
        [xc.min(axis=1), yc.min(axis=1), xc.max(axis=1), yc.max(axis=1)], axis=1
    )
    np.clip(out[:, 0::2], 0, wc, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, hc, out=out[:, 1::2])
    return out.astype(np.float32, copy=False)


def to_upright(xyxy: np.ndarray, coded_wh: tuple[int, int], k: int) -> np.ndarray:
    """Map boxes from coded-picture pixels to pixels of the upright picture (the inverse of
    :func:`to_coded` at scale 1)."""
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    wc, hc = coded_wh
    xc, yc = xyxy[:, 0::2], xyxy[:, 1::2]
    k %= 4
    if k == 0:
        xu, yu = xc, yc
    elif k == 1:
        xu, yu = yc, wc - xc
    elif k == 2:
        xu, yu = wc - xc, hc - yc
    else:
        xu, yu = hc - yc, xc
    return np.stack([xu.min(axis=1), yu.min(axis=1), xu.max(axis=1), yu.max(axis=1)],
                    axis=1).astype(np.float32, copy=False)


def detector_input(frame: av.VideoFrame, det_wh: tuple[int, int], k: int) -> np.ndarray:
    """The upright RGB copy of ``frame`` at ``det_wh``, scaled by FFmpeg's swscale.

    The scaler works in the coded orientation (so its output is ``det_h x det_w`` when ``k`` is
    odd); the quarter turn is then done on the small RGB copy.

    Returns:
        (det_h, det_w, 3) uint8 RGB, possibly a non-contiguous view.
    """
    dw, dh = det_wh
    cw, ch = (dh, dw) if k % 2 else (dw, dh)
    down = cw * ch <= frame.width * frame.height
    small = frame.reformat(
        width=cw, height=ch, format="rgb24", interpolation="AREA" if down else "BILINEAR"
    ).to_ndarray()
    return np.rot90(small, k) if k else small


def mirror_edges(image: np.ndarray, pad: int,
                 sides: tuple[bool, bool, bool, bool] = (True, True, True, True),
                 ) -> tuple[np.ndarray, tuple[int, int]]:
    """``image`` (H, W, 3) with ``pad`` px of its own mirror image added past its left, top,
    right and bottom edges (``sides`` says which), and where the image now starts (x, y).

    An object cut by the picture's edge (a plate entering or leaving the frame) is half an
    object to a detector, which then misses it; mirrored across the edge it looks whole again
    (text stays text, half a plate and its mirror make a plate-shaped block). The mirror does
    not repeat the edge row (NumPy's ``"reflect"``); ``pad`` is limited to what the image holds.
    """
    pad = min(int(pad), image.shape[0] - 1, image.shape[1] - 1)
    if pad <= 0 or not any(sides):
        return image, (0, 0)
    left, top, right, bottom = (pad if s else 0 for s in sides)
    return np.pad(image, ((top, bottom), (left, right), (0, 0)), mode="reflect"), (left, top)


def unmirror(xyxy: np.ndarray, offset: tuple[float, float],
             wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Boxes found in a :func:`mirror_edges` image, back in pixels of the ``wh`` image it was
    made from: shifted by ``offset`` (the mirror added left and above) and cut at its edges.
    Returns the boxes and which of them keep some area (a box wholly in the mirror is the
    reflection of something whole in the picture)."""
    b = np.asarray(xyxy, np.float32).reshape(-1, 4) - np.float32([*offset, *offset])
    b = np.clip(b, 0, np.array([wh[0], wh[1], wh[0], wh[1]], np.float32))
    return b, (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
