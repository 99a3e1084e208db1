"""Numba kernel that cuts regions out of a frame's planes as resized upright RGB crops.

:func:`crop_rgb` is the kernel; :func:`crop_rgb_reference` is a plain NumPy version of the same
arithmetic, written for clarity (dense resampling matrices), that the tests compare against.
Both take the same arguments and fill ``out`` in place.

Sources. Up to three components (Y, U, V; or R, G, B; or one gray component) are read from 2-D
sample arrays ``p0, p1, p2`` (uint8 or uint16, a plane's rows including line padding). Row
``chan[c]`` describes component ``c``: sample ``(y, x)`` is ``p_c[y, x * step + offset]`` with
``offset, step, width, height, log2 sx, log2 sy = chan[c]``, so semi-planar chroma (NV12) and
packed RGB (three components in one plane, step 3) need no copy. With ``ncomp == 1`` only
component 0 is read and the others are taken as 0 (the matrix must then ignore them).

Geometry. Coordinates are continuous pixel edges in luma (coded-picture) pixels, as in
:mod:`avanon.detect.geometry`. Region ``r`` is ``regions[r] = x0, y0, x1, y1``; its resized
content is ``sizes[r] = nw, nh`` samples *in the coded orientation*, so one output sample spans
``(x1 - x0) / nw`` by ``(y1 - y0) / nh`` luma pixels. Output sample ``j`` has its centre at luma
``x0 + (j + 0.5) * scale``, which is plane coordinate ``centre / 2**s - 0.5`` on a plane
subsampled by ``2**s`` (chroma sited at the centre of the luma samples it covers, as JPEG and
FFmpeg's scaler by default).

Filter. A triangle (tent) filter of radius ``max(1, scale / 2**s)`` plane samples, normalised
over the taps inside the plane: plain bilinear interpolation when enlarging, an antialiased
(widened) tent when shrinking, like PIL's and torchvision's ``antialias=True`` bilinear. Taps
outside the plane are dropped (edge samples get the weight), so a region at the picture edge
never reads beyond it; taps outside the region but inside the picture are used.

Colour. ``rgb = mat @ (c0, c1, c2) + off`` on the resampled codes, already in 0..255 units (range,
matrix, bit depth and MSB alignment folded into ``mat`` and ``off`` by the caller), rounded half
up and clipped to 0..255. The kernel computes in float32 (the reference in float64), so the
two may differ by one code where a value falls near a rounding boundary.

Output. ``out`` is a C-contiguous ``(R, h, w, 3)`` uint8 array. The coded-orientation content
is turned ``k`` quarter turns like ``np.rot90(content, k)`` and written at the top left; the
rest of the crop is set to ``pad``.

Layout of the work (kernel only): output rows are produced in strips of :data:`STRIP`. The
vertical taps run along contiguous source rows; their results are stored transposed, so that
the horizontal taps and the colour conversion run across the strip as contiguous loops that
LLVM vectorises; the crop is written last, turned, in one pass.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["crop_rgb", "crop_rgb_reference"]


@njit(cache=True, nogil=True)
def _axis_weights(n_out: int, start: float, scale: float, sub: int, n_src: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tent-filter taps of ``n_out`` output samples along one axis of a plane.

    Returns ``first`` (first source index), ``count`` (number of taps) and ``weights``
    (``n_out x max_taps`` float32, each row summing to 1).
    """
    f = float(1 << sub)
    support = max(1.0, scale / f)
    taps = 2 * int(math.ceil(support)) + 1
    first = np.empty(n_out, np.int64)
    count = np.empty(n_out, np.int64)
    weights = np.zeros((n_out, taps), np.float32)
    for j in range(n_out):
        c = (start + (j + 0.5) * scale) / f - 0.5
        lo = max(int(math.floor(c - support)) + 1, 0)
        hi = min(int(math.ceil(c + support)) - 1, n_src - 1)
        total = 0.0
        for i in range(lo, hi + 1):
            total += 1.0 - abs(i - c) / support
        if total > 0.0:
            for i in range(lo, hi + 1):
                weights[j, i - lo] = (1.0 - abs(i - c) / support) / total
            first[j] = lo
            count[j] = hi - lo + 1
        else:  # centre beyond the plane by more than the support: nearest edge sample
            first[j] = min(max(int(math.floor(c + 0.5)), 0), n_src - 1)
            count[j] = 1
            weights[j, 0] = 1.0
    return first, count, weights


#: Output rows resampled together. The horizontal pass and the colour conversion run across
#: a strip as fixed-length, contiguous loops, which LLVM turns into SIMD code.
STRIP = 32


@njit(cache=True, nogil=True)
def _vertical_strip(plane: np.ndarray, off: int, step: int, yf: np.ndarray, yn: np.ndarray,
                    yw: np.ndarray, i0: int, n: int, c_lo: int, col: np.ndarray,
                    tmp_t: np.ndarray) -> None:
    """Vertical taps of output rows ``i0 .. i0 + n`` into the transposed strip ``tmp_t``.

    Each row is accumulated over contiguous source samples into ``col``, then stored as
    column ``s`` of ``tmp_t`` (``tmp_t[x, s]``: source column ``c_lo + x``, strip row ``s``).
    """
    ncol = col.shape[0]
    for s in range(n):
        i = i0 + s
        for t in range(yn[i]):
            wt = yw[i, t]
            row = plane[yf[i] + t]
            if step == 1:
                base = c_lo + off
                if t == 0:
                    for x in range(ncol):
                        col[x] = wt * np.float32(row[base + x])
                else:
                    for x in range(ncol):
                        col[x] += wt * np.float32(row[base + x])
            else:
                if t == 0:
                    for x in range(ncol):
                        col[x] = wt * np.float32(row[(c_lo + x) * step + off])
                else:
                    for x in range(ncol):
                        col[x] += wt * np.float32(row[(c_lo + x) * step + off])
        for x in range(ncol):
            tmp_t[x, s] = col[x]


@njit(cache=True, nogil=True)
def _horizontal_strip(tmp_t: np.ndarray, xf: np.ndarray, xw: np.ndarray, c_lo: int,
                      dst: np.ndarray) -> None:
    """Horizontal taps of a strip: ``dst[j, s] = sum_t xw[j, t] * tmp_t[xf[j] - c_lo + t, s]``.

    Every output sample takes the full tap width (unused taps weigh 0, and ``tmp_t`` has that
    many zero rows past the span), so the inner loop runs across the strip, contiguous and of
    one length (read from the array, so LLVM vectorises it with a runtime overlap check rather
    than unrolling it into scalar code).
    """
    taps = xw.shape[1]
    lanes = tmp_t.shape[1]
    for j in range(dst.shape[0]):
        d = dst[j]
        b = xf[j] - c_lo
        wt = xw[j, 0]
        src = tmp_t[b]
        for s in range(lanes):
            d[s] = wt * src[s]
        for t in range(1, taps):
            wt = xw[j, t]
            src = tmp_t[b + t]
            for s in range(lanes):
                d[s] += wt * src[s]


@njit(cache=True, nogil=True)
def _col_span(xf: np.ndarray, xn: np.ndarray) -> tuple[int, int]:
    lo = xf[0]
    hi = xf[0] + xn[0]
    for j in range(xf.shape[0]):
        lo = min(lo, xf[j])
        hi = max(hi, xf[j] + xn[j])
    return lo, hi


@njit(cache=True, nogil=True)
def _plan(nw: int, nh: int, x0: float, y0: float, sclx: float, scly: float, chan: np.ndarray):
    """Taps and scratch buffers of one component for one region."""
    xf, xn, xw = _axis_weights(nw, x0, sclx, chan[4], chan[2])
    yf, yn, yw = _axis_weights(nh, y0, scly, chan[5], chan[3])
    lo, hi = _col_span(xf, xn)
    col = np.empty(hi - lo, np.float32)
    tmp_t = np.zeros((hi - lo + xw.shape[1], STRIP), np.float32)
    return xf, xw, yf, yn, yw, lo, col, tmp_t


@njit(cache=True, nogil=True)
def _strip(plane: np.ndarray, chan: np.ndarray, plan, i0: int, n: int, dst: np.ndarray) -> None:
    """Resample output rows ``i0 .. i0 + n`` of one component into ``dst`` (nw x STRIP)."""
    xf, xw, yf, yn, yw, lo, col, tmp_t = plan
    _vertical_strip(plane, chan[0], chan[1], yf, yn, yw, i0, n, lo, col, tmp_t)
    _horizontal_strip(tmp_t, xf, xw, lo, dst)


@njit(cache=True, nogil=True)
def _colour(m: np.ndarray, o: np.ndarray, d0: np.ndarray, d1: np.ndarray, d2: np.ndarray,
            r0: np.ndarray, r1: np.ndarray, r2: np.ndarray) -> None:
    """``r = clip(m @ d + o, 0.5, 255.5)`` element-wise over flat arrays (one SIMD loop)."""
    lo = np.float32(0.5)
    hi = np.float32(255.5)
    m00, m01, m02 = m[0, 0], m[0, 1], m[0, 2]
    m10, m11, m12 = m[1, 0], m[1, 1], m[1, 2]
    m20, m21, m22 = m[2, 0], m[2, 1], m[2, 2]
    o0, o1, o2 = o[0], o[1], o[2]
    for q in range(d0.shape[0]):
        y, u, v = d0[q], d1[q], d2[q]
        r0[q] = min(max(m00 * y + m01 * u + m02 * v + o0, lo), hi)
        r1[q] = min(max(m10 * y + m11 * u + m12 * v + o1, lo), hi)
        r2[q] = min(max(m20 * y + m21 * u + m22 * v + o2, lo), hi)


@njit(cache=True, nogil=True)
def crop_rgb(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, chan: np.ndarray, ncomp: int,
             mat: np.ndarray, off: np.ndarray, regions: np.ndarray, sizes: np.ndarray, k: int,
             pad: int, out: np.ndarray) -> None:
    """Fill ``out`` (R, h, w, 3) with the resized upright RGB crops of ``regions``.

    Args:
        p0, p1, p2: sample arrays holding components 0, 1, 2 (may be the same array).
        chan: (3, 6) int64 ``offset, step, width, height, log2 sx, log2 sy`` per component.
        ncomp: 3, or 1 for gray (components 1 and 2 read as 0).
        mat: (3, 3) float64 codes -> 0..255 RGB.
        off: (3,) float64 added after ``mat``.
        regions: (R, 4) float64 coded luma boxes, inside the picture, non-empty.
        sizes: (R, 2) int64 ``nw, nh`` content size in the coded orientation (>= 1).
        k: quarter turns 0..3 applied like ``np.rot90``.
        pad: value of the samples outside the content.
        out: (R, h, w, 3) uint8, written.
    """
    h = out.shape[1]
    w = out.shape[2]
    padv = np.uint8(pad)
    m = mat.astype(np.float32)
    # Rounding half up is +0.5 then truncation: fold the 0.5 into the offset and clip to
    # [0.5, 255.5] so the truncation is a floor and lands in 0..255.
    o = (off + 0.5).astype(np.float32)
    nc = 3 if ncomp == 3 else 1
    for r in range(regions.shape[0]):
        x0, y0, x1, y1 = regions[r, 0], regions[r, 1], regions[r, 2], regions[r, 3]
        nw, nh = sizes[r, 0], sizes[r, 1]
        sclx = (x1 - x0) / nw
        scly = (y1 - y0) / nh
        ow, oh = (nh, nw) if k % 2 else (nw, nh)
        for i in range(h):
            for j in range(0 if i >= oh else ow, w):
                out[r, i, j, 0] = padv
                out[r, i, j, 1] = padv
                out[r, i, j, 2] = padv
        # Coded sample (i, j) lands at upright (a, b) of rot90(content, k), i.e. at flat index
        # start + i * d_i + j * d_j of this crop.
        flat = out[r].reshape(h * w * 3)
        row = w * 3
        if k == 0:  # a, b = i, j
            start, d_i, d_j = 0, row, 3
        elif k == 1:  # a, b = nw - 1 - j, i
            start, d_i, d_j = (nw - 1) * row, 3, -row
        elif k == 2:  # a, b = nh - 1 - i, nw - 1 - j
            start, d_i, d_j = (nh - 1) * row + (nw - 1) * 3, -row, -3
        else:  # a, b = j, nh - 1 - i
            start, d_i, d_j = (nh - 1) * 3, -3, row
        # Taps of every component (chroma may be subsampled) and per-component scratch.
        q0 = _plan(nw, nh, x0, y0, sclx, scly, chan[0])
        q1 = _plan(nw, nh, x0, y0, sclx, scly, chan[1]) if nc == 3 else q0
        q2 = _plan(nw, nh, x0, y0, sclx, scly, chan[2]) if nc == 3 else q0
        d0 = np.zeros((nw, STRIP), np.float32)
        d1 = np.zeros((nw, STRIP), np.float32)
        d2 = np.zeros((nw, STRIP), np.float32)
        rgb = np.empty((3, nw, STRIP), np.float32)
        for i0 in range(0, nh, STRIP):
            n = min(STRIP, nh - i0)
            _strip(p0, chan[0], q0, i0, n, d0)
            if nc == 3:
                _strip(p1, chan[1], q1, i0, n, d1)
                _strip(p2, chan[2], q2, i0, n, d2)
            _colour(m, o, d0.ravel(), d1.ravel(), d2.ravel(), rgb[0].ravel(), rgb[1].ravel(),
                    rgb[2].ravel())
            for s in range(n):
                at = start + (i0 + s) * d_i
                for j in range(nw):
                    flat[at] = np.int32(rgb[0, j, s])
                    flat[at + 1] = np.int32(rgb[1, j, s])
                    flat[at + 2] = np.int32(rgb[2, j, s])
                    at += d_j


# --- Plain NumPy reference ------------------------------------------------------------------


def _axis_matrix(n_out: int, start: float, scale: float, sub: int, n_src: int) -> np.ndarray:
    """Dense ``n_out x n_src`` tent-filter resampling matrix (rows sum to 1)."""
    f = float(2**sub)
    support = max(1.0, scale / f)
    centre = (start + (np.arange(n_out) + 0.5) * scale) / f - 0.5
    src = np.arange(n_src)
    wts = np.maximum(1.0 - np.abs(src[None, :] - centre[:, None]) / support, 0.0)
    total = wts.sum(axis=1)
    for j in np.flatnonzero(total == 0.0):  # beyond the plane: nearest edge sample
        wts[j, min(max(int(np.floor(centre[j] + 0.5)), 0), n_src - 1)] = 1.0
    return wts / wts.sum(axis=1, keepdims=True)


def _component(plane: np.ndarray, chan: np.ndarray) -> np.ndarray:
    off, step, pw, ph = (int(v) for v in chan[:4])
    return plane[:ph, off : off + pw * step : step].astype(np.float64)


def crop_rgb_reference(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, chan: np.ndarray,
                       ncomp: int, mat: np.ndarray, off: np.ndarray, regions: np.ndarray,
                       sizes: np.ndarray, k: int, pad: int, out: np.ndarray) -> None:
    """:func:`crop_rgb` in plain NumPy: same arguments, same result up to float rounding."""
    comps = [_component(p, chan[c]) for c, p in enumerate((p0, p1, p2)[:ncomp])]
    out[...] = pad
    for r, (x0, y0, x1, y1) in enumerate(np.asarray(regions, np.float64)):
        nw, nh = int(sizes[r, 0]), int(sizes[r, 1])
        sclx, scly = (x1 - x0) / nw, (y1 - y0) / nh
        codes = np.zeros((3, nh, nw))
        for c, comp in enumerate(comps):
            sx, sy = int(chan[c, 4]), int(chan[c, 5])
            mx = _axis_matrix(nw, x0, sclx, sx, comp.shape[1])
            my = _axis_matrix(nh, y0, scly, sy, comp.shape[0])
            codes[c] = my @ comp @ mx.T
        rgb = np.einsum("cd,dhw->hwc", mat, codes) + off
        rgb = np.clip(np.floor(rgb + 0.5), 0, 255).astype(np.uint8)
        up = np.rot90(rgb, k)
        out[r, : up.shape[0], : up.shape[1]] = up
