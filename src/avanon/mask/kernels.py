"""Numba kernels that mask boxes in place on one picture plane.

Every kernel takes one 2-D plane (``uint8`` or ``uint16``, any strides, so a channel of an
interleaved chroma plane works too), the boxes as an ``(N, 4)`` float64 array of *luma*
coordinates ``x0, y0, x1, y1`` (x1/y1 exclusive, not clipped), and the plane's log2 subsampling
``sx, sy`` (0 for luma and full-resolution planes, 1 for 4:2:0 chroma, ...). Boxes are applied
in order, so overlapping boxes give the same result on every run.

Geometry shared by all kernels (and by :mod:`avanon.mask.reference`):

* A box with ``x1 <= x0`` or ``y1 <= y0`` masks nothing. Otherwise its luma rectangle is
  ``X0 = floor(x0), X1 = ceil(x1)`` (same for y), so the masked area fully covers the box.
* On a plane the rectangle becomes ``X0 >> sx`` .. ``ceil(X1 / 2**sx)``: every chroma sample that
  touches a masked luma pixel is masked. It is then clipped to the plane.
* The ellipse is inscribed in the *unclipped* luma rectangle. A plane sample is inside when the
  nearest luma pixel centre it covers lies inside, so chroma coverage is again a superset.
* Pixelation blocks are squares of ``ceil(longer_side / blocks)`` luma pixels, rounded up to a
  multiple of ``align`` and laid on a grid whose origin is ``X0, Y0`` rounded down to a multiple
  of ``align``. With ``align`` a power of two >= every plane's subsampling factor, block edges
  fall on sample boundaries of every plane, so blocks line up between luma and chroma.
* Blur is ``passes`` horizontal + vertical box blurs of radius
  ``max(1, floor(blur_strength * short_side / 4 / 2**s + 0.5))`` plane samples, over the clipped
  rectangle only (edges replicated), in exact integer arithmetic.

``shift`` is the number of unused low bits of MSB-aligned formats (6 for P010): block means and
blurred values are computed on ``value >> shift`` and written back shifted, so those bits stay 0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["fill_boxes", "pixelate_boxes", "blur_boxes"]


@njit(cache=True, nogil=True)
def _luma_rect(boxes: np.ndarray, k: int) -> tuple[int, int, int, int]:
    """Integer luma rectangle covering box ``k``; X1 <= X0 when it is empty."""
    x0, y0, x1, y1 = boxes[k, 0], boxes[k, 1], boxes[k, 2], boxes[k, 3]
    if not (x1 > x0 and y1 > y0):
        return 0, 0, 0, 0
    return (int(math.floor(x0)), int(math.floor(y0)), int(math.ceil(x1)), int(math.ceil(y1)))


@njit(cache=True, nogil=True)
def _plane_span(a0: int, a1: int, s: int, n: int) -> tuple[int, int]:
    """Map luma span ``[a0, a1)`` to plane samples (superset) and clip it to ``[0, n)``."""
    p0 = a0 >> s
    p1 = -((-a1) >> s)
    return max(p0, 0), min(p1, n)


@njit(cache=True, nogil=True)
def _box_spans(boxes: np.ndarray, k: int, sx: int, sy: int, w: int, h: int):
    """Box ``k`` as its integer luma rectangle ``X0, Y0, X1, Y1`` and the plane samples it
    covers, ``px0, px1, py0, py1`` (clipped to the ``w`` x ``h`` plane; empty when px1 <= px0
    or py1 <= py0)."""
    X0, Y0, X1, Y1 = _luma_rect(boxes, k)
    if X1 <= X0:
        return X0, Y0, X1, Y1, 0, 0, 0, 0
    px0, px1 = _plane_span(X0, X1, sx, w)
    py0, py1 = _plane_span(Y0, Y1, sy, h)
    return X0, Y0, X1, Y1, px0, px1, py0, py1


@njit(cache=True, nogil=True)
def _axis_d2(p0: int, p1: int, s: int, a0: int, a1: int) -> np.ndarray:
    """Squared normalised distance to the ellipse centre along one axis, per plane sample.

    For sample ``i`` the nearest luma pixel centre in ``[i * 2**s + 0.5, (i + 1) * 2**s - 0.5]``
    to the centre is used, divided by the semi-axis.
    """
    f = 1 << s
    c = (a0 + a1) / 2.0
    semi = (a1 - a0) / 2.0
    out = np.empty(max(p1 - p0, 0), np.float64)
    for i in range(p0, p1):
        lo = i * f + 0.5
        hi = (i + 1) * f - 0.5
        nearest = min(max(c, lo), hi)
        d = (nearest - c) / semi
        out[i - p0] = d * d
    return out


@njit(cache=True, nogil=True)
def fill_boxes(plane: np.ndarray, boxes: np.ndarray, sx: int, sy: int, ellipse: bool,
               value: int) -> None:
    """Set every masked sample of ``plane`` to ``value`` (already in the plane's coding)."""
    h, w = plane.shape
    for k in range(boxes.shape[0]):
        X0, Y0, X1, Y1, px0, px1, py0, py1 = _box_spans(boxes, k, sx, sy, w, h)
        if px1 <= px0 or py1 <= py0:
            continue
        if ellipse:
            du2 = _axis_d2(px0, px1, sx, X0, X1)
            dv2 = _axis_d2(py0, py1, sy, Y0, Y1)
            for j in range(py0, py1):
                dv = dv2[j - py0]
                for i in range(px0, px1):
                    if du2[i - px0] + dv <= 1.0:
                        plane[j, i] = value
        else:
            for j in range(py0, py1):
                for i in range(px0, px1):
                    plane[j, i] = value


@njit(cache=True, nogil=True)
def pixelate_boxes(plane: np.ndarray, boxes: np.ndarray, sx: int, sy: int, ellipse: bool,
                   blocks: int, align: int, shift: int) -> None:
    """Replace each block of each box by the rounded mean of its masked samples.

    Args:
        plane: 2-D plane, modified in place.
        boxes: (N, 4) float64 luma boxes.
        sx: log2 horizontal subsampling of this plane.
        sy: log2 vertical subsampling of this plane.
        ellipse: mask only the inscribed ellipse.
        blocks: blocks across the longer side of the box (>= 1).
        align: block size and grid origin multiple in luma pixels (a power of two >= 2**sx, 2**sy).
        shift: unused low bits of the samples (0 for LSB-aligned formats).
    """
    h, w = plane.shape
    for k in range(boxes.shape[0]):
        X0, Y0, X1, Y1, px0, px1, py0, py1 = _box_spans(boxes, k, sx, sy, w, h)
        if px1 <= px0 or py1 <= py0:
            continue
        longer = max(X1 - X0, Y1 - Y0)
        bs = -(-longer // blocks)
        bs = -(-bs // align) * align
        bsx = bs >> sx
        bsy = bs >> sy
        gx0 = ((X0 // align) * align) >> sx
        gy0 = ((Y0 // align) * align) >> sy
        if ellipse:
            du2 = _axis_d2(px0, px1, sx, X0, X1)
            dv2 = _axis_d2(py0, py1, sy, Y0, Y1)
        else:
            du2 = np.zeros(px1 - px0, np.float64)
            dv2 = np.zeros(py1 - py0, np.float64)
        by = gy0 + ((py0 - gy0) // bsy) * bsy
        while by < py1:
            r0 = max(by, py0)
            r1 = min(by + bsy, py1)
            bx = gx0 + ((px0 - gx0) // bsx) * bsx
            while bx < px1:
                c0 = max(bx, px0)
                c1 = min(bx + bsx, px1)
                total = 0
                count = 0
                for j in range(r0, r1):
                    dv = dv2[j - py0]
                    for i in range(c0, c1):
                        if du2[i - px0] + dv <= 1.0:
                            total += np.int64(plane[j, i]) >> shift
                            count += 1
                if count > 0:
                    mean = ((total + count // 2) // count) << shift
                    for j in range(r0, r1):
                        dv = dv2[j - py0]
                        for i in range(c0, c1):
                            if du2[i - px0] + dv <= 1.0:
                                plane[j, i] = mean
                bx += bsx
            by += bsy


@njit(cache=True, nogil=True, inline="always")
def _div_round(total: int, n: int, inv: float) -> int:
    """``(total + n // 2) // n`` for ``total >= 0``, by a reciprocal multiply and a correction."""
    a = total + n // 2
    q = np.int64(a * inv)
    if q * n > a:
        q -= 1
    elif (q + 1) * n <= a:
        q += 1
    return q


@njit(cache=True, nogil=True)
def _blur_rows(src: np.ndarray, dst: np.ndarray, r: int) -> None:
    """Horizontal box blur of radius ``r``, edges replicated, rounded to integers."""
    h, w = src.shape
    n = 2 * r + 1
    inv = 1.0 / n
    last = w - 1
    for j in range(h):
        # Window of sample 0: (r + 1) copies of src[0], then src[1..r] clamped to the row.
        total = np.int64(src[j, 0]) * (r + 1)
        for t in range(1, min(r, last) + 1):
            total += src[j, t]
        if r > last:
            total += np.int64(src[j, last]) * (r - last)
        for i in range(w):
            dst[j, i] = _div_round(total, n, inv)
            total += np.int64(src[j, min(i + r + 1, last)]) - src[j, max(i - r, 0)]


@njit(cache=True, nogil=True)
def _blur_cols(src: np.ndarray, dst: np.ndarray, r: int) -> None:
    """Vertical box blur of radius ``r``, row by row over running column sums."""
    h, w = src.shape
    n = 2 * r + 1
    inv = 1.0 / n
    last = h - 1
    total = np.empty(w, np.int64)
    for i in range(w):
        total[i] = np.int64(src[0, i]) * (r + 1)
    for t in range(1, min(r, last) + 1):
        for i in range(w):
            total[i] += src[t, i]
    if r > last:
        for i in range(w):
            total[i] += np.int64(src[last, i]) * (r - last)
    for j in range(h):
        add = min(j + r + 1, last)
        sub = max(j - r, 0)
        for i in range(w):
            dst[j, i] = _div_round(total[i], n, inv)
            total[i] += np.int64(src[add, i]) - src[sub, i]


@njit(cache=True, nogil=True)
def blur_boxes(plane: np.ndarray, boxes: np.ndarray, sx: int, sy: int, ellipse: bool,
               strength: float, passes: int, shift: int) -> None:
    """Blur each box with ``passes`` separable box blurs whose radius scales with the box.

    Args:
        plane: 2-D plane, modified in place.
        boxes: (N, 4) float64 luma boxes.
        sx: log2 horizontal subsampling of this plane.
        sy: log2 vertical subsampling of this plane.
        ellipse: write only the inscribed ellipse (the blur itself runs over the rectangle).
        strength: radius in units of a quarter of the box's shorter luma side.
        passes: number of horizontal + vertical box-blur passes (3 approximates a Gaussian).
        shift: unused low bits of the samples (0 for LSB-aligned formats).
    """
    h, w = plane.shape
    for k in range(boxes.shape[0]):
        X0, Y0, X1, Y1, px0, px1, py0, py1 = _box_spans(boxes, k, sx, sy, w, h)
        if px1 <= px0 or py1 <= py0:
            continue
        radius = strength * min(X1 - X0, Y1 - Y0) / 4.0
        rx = max(1, int(math.floor(radius / (1 << sx) + 0.5)))
        ry = max(1, int(math.floor(radius / (1 << sy) + 0.5)))
        bh = py1 - py0
        bw = px1 - px0
        a = np.empty((bh, bw), np.int32)
        for j in range(bh):
            for i in range(bw):
                a[j, i] = np.int32(plane[py0 + j, px0 + i]) >> shift
        b = np.empty((bh, bw), np.int32)
        for _ in range(passes):
            _blur_rows(a, b, rx)
            _blur_cols(b, a, ry)
        if ellipse:
            du2 = _axis_d2(px0, px1, sx, X0, X1)
            dv2 = _axis_d2(py0, py1, sy, Y0, Y1)
            for j in range(bh):
                for i in range(bw):
                    if du2[i] + dv2[j] <= 1.0:
                        plane[py0 + j, px0 + i] = a[j, i] << shift
        else:
            for j in range(bh):
                for i in range(bw):
                    plane[py0 + j, px0 + i] = a[j, i] << shift
