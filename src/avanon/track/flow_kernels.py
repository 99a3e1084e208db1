"""Numba kernels for image-based motion between two luma pictures, with NumPy references.

Three kernels, each single-threaded, deterministic and compiled once (``cache=True``):

* :func:`downscale`: sum ``f x f`` blocks of a picture into a 16-bit copy (the small copies
  that global motion and large boxes are searched on).
* :func:`block_match`: for N rectangles of ``src``, the SAD-best displacement into ``dst`` within
  a square search window around a predicted displacement, refined to sub-pixel, with the two
  costs that say how trustworthy the match is. Every candidate is tried, from the centre
  outwards; one whose sum already exceeds what the best two can cost stops early.
* :func:`fit_pan_zoom`: a robust (Tukey IRLS) fit of pan + zoom about the picture centre to a set
  of patch displacements.

Each has a plain NumPy twin (``*_reference``), written independently of the kernel's loops, that
the tests compare it against on the same input.

Geometry: pixel ``(y, x)`` covers the continuous square ``[x, x + 1) x [y, y + 1)``; a rectangle
``x0, y0, x1, y1`` (integers, x1/y1 exclusive) holds columns ``x0 .. x1 - 1``. A displacement
``(dx, dy)`` says that the content at ``(x, y)`` in ``src`` is at ``(x + dx, y + dy)`` in ``dst``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "FLAG_VALID",
    "FLAG_EDGE",
    "downscale",
    "downscale_reference",
    "block_match",
    "block_match_reference",
    "fit_pan_zoom",
    "fit_pan_zoom_reference",
]

#: ``block_match`` flag: at least one candidate lay inside ``dst``.
FLAG_VALID = 1
#: ``block_match`` flag: the best candidate is on the border of the search window, or next to
#: a candidate outside ``dst`` (the true displacement may lie beyond it).
FLAG_EDGE = 2

#: Tukey biweight tuning constant (95 % efficiency under Gaussian noise).
_TUKEY = 4.685
#: MAD -> standard deviation under Gaussian noise.
_MAD = 1.4826


# -- downscale ------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def downscale(src: np.ndarray, f: int, shift: int) -> np.ndarray:
    """Sum of each ``f x f`` block of integer picture ``src``, rounded and shifted right by
    ``shift`` bits -> uint16 ``(h // f, w // f)``; the last ``h % f`` rows and ``w % f`` columns
    are dropped. The caller picks ``shift`` so that the result fits 16 bits."""
    h, w = src.shape
    oh, ow = h // f, w // f
    out = np.empty((oh, ow), np.uint16)
    acc = np.empty(ow * f, np.int64)
    half = (1 << shift) >> 1
    for j in range(oh):
        acc[:] = 0
        for y in range(j * f, j * f + f):
            row = src[y, : ow * f]
            for x in range(ow * f):
                acc[x] += np.int64(row[x])
        for i in range(ow):
            total = np.int64(0)
            for x in range(i * f, i * f + f):
                total += acc[x]
            out[j, i] = (total + half) >> shift
    return out


def downscale_reference(src: np.ndarray, f: int, shift: int) -> np.ndarray:
    """NumPy twin of :func:`downscale`."""
    h, w = src.shape
    oh, ow = h // f, w // f
    sums = np.asarray(src[: oh * f, : ow * f], np.int64).reshape(oh, f, ow, f).sum(axis=(1, 3))
    return ((sums + ((1 << shift) >> 1)) >> shift).astype(np.uint16)


# -- block matching -------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _rect_cost(src: np.ndarray, dst: np.ndarray, x0: int, y0: int, x1: int, y1: int, s: int,
               ox: int, oy: int, off: int, limit: int) -> int:
    """Sum of |src + off - (dst shifted by (ox, oy))| over the rectangle, sampled every ``s``
    pixels (integer samples; exact), or, once the sum of the rows so far exceeds ``limit``, that
    partial sum (the caller only needs to know the whole one is larger). Every index must be
    inside both pictures: they are cast to unsigned, which spares the negative-index check and
    lets the inner loop vectorise."""
    acc = np.int64(0)
    off32 = np.int32(off)
    for y in range(y0, y1, s):
        ya = np.uint64(y)
        yb = np.uint64(y + oy)
        r = np.int32(0)
        if s == 1:
            for x in range(x0, x1):
                r += abs(np.int32(src[ya, np.uint64(x)]) - np.int32(dst[yb, np.uint64(x + ox)])
                         + off32)
        else:
            for x in range(x0, x1, s):
                r += abs(np.int32(src[ya, np.uint64(x)]) - np.int32(dst[yb, np.uint64(x + ox)])
                         + off32)
        acc += r
        if acc > limit:
            return acc
    return acc


@njit(cache=True, nogil=True)
def _vertex(cm: float, c0: float, cp: float) -> float:
    """Sub-sample offset of the minimum of a V-shaped cost (``c0`` the smallest of three
    neighbours ``cm, c0, cp`` at -1, 0, +1), in -0.5 .. 0.5 (equiangular line fit, which suits
    SAD better than a parabola)."""
    denom = max(cm, cp) - c0
    if not (denom > 0.0) or not math.isfinite(cm) or not math.isfinite(cp):
        return 0.0
    return min(max(0.5 * (cm - cp) / denom, -0.5), 0.5)


@njit(cache=True, nogil=True)
def block_match(src: np.ndarray, dst: np.ndarray, rects: np.ndarray, steps: np.ndarray,
                pred: np.ndarray, radius: int, offset: int) -> np.ndarray:
    """Find where each rectangle of ``src`` went in ``dst``.

    Args:
        src: 2-D integer picture (uint8 or uint16) the rectangles are taken from.
        dst: 2-D picture of the same type searched (any size; candidates must lie fully
            inside it).
        rects: (N, 4) int64 ``x0, y0, x1, y1`` inside ``src`` (non-empty).
        steps: (N,) int64 sampling step inside each rectangle (1 = every pixel).
        pred: (N, 2) int64 predicted displacement ``dx, dy``; the search covers
            ``pred +- radius`` in both axes.
        radius: search radius in pixels (>= 1).
        offset: added to ``src`` samples before comparing: the change in mean brightness from
            ``src`` to ``dst`` (so that exposure changes and fades still match).

    Returns:
        (N, 5) float64 rows ``dx, dy, best, second, flags``: the displacement with the lowest
        mean absolute difference per sample, refined to sub-pixel on each axis; that cost; the
        lowest cost at least 2 pixels (Chebyshev) away from it (inf when none); and
        :data:`FLAG_VALID` | :data:`FLAG_EDGE`. Ties go to the first candidate in row-major order
        (dy, then dx ascending). Rows with no candidate inside ``dst`` are all zero but cost inf.
    """
    n = rects.shape[0]
    h, w = dst.shape
    side = 2 * radius + 1
    # Candidates from the window's centre outwards (ring by ring, row-major within a ring):
    # near the prediction first, so that a low cost is known early and the far candidates can
    # stop adding up rows once they cannot matter.
    ring = np.empty(side * side, np.int64)
    for v in range(side):
        for u in range(side):
            ring[v * side + u] = max(abs(v - radius), abs(u - radius))
    order = np.argsort(ring, kind="mergesort")  # stable: row-major within a ring
    sad = np.empty((side, side), np.int64)
    cost = np.empty((side, side), np.float64)
    out = np.zeros((n, 5), np.float64)
    never = np.iinfo(np.int64).max
    for k in range(n):
        x0, y0, x1, y1 = rects[k, 0], rects[k, 1], rects[k, 2], rects[k, 3]
        s = steps[k]
        count = ((x1 - x0 + s - 1) // s) * ((y1 - y0 + s - 1) // s)
        px, py = pred[k, 0], pred[k, 1]
        # ``limit`` bounds the second cost from above: of two candidates 3+ apart, at least one
        # is 2+ away from wherever the best one turns out to be, so the second cost is at most
        # the larger of theirs. A candidate whose rows already add up to more than that is
        # neither the best nor the second: its sum is left partial (``sad`` above ``limit``).
        limit = never
        best_sad = never
        bu, bv = -1, -1
        for i in order:
            v, u = i // side, i % side
            oy = py + v - radius
            ox = px + u - radius
            if x0 + ox < 0 or y0 + oy < 0 or x1 + ox > w or y1 + oy > h:
                sad[v, u] = -1
                cost[v, u] = np.inf
                continue
            c = _rect_cost(src, dst, x0, y0, x1, y1, s, ox, oy, offset, limit)
            sad[v, u] = c
            cost[v, u] = c / count
            if c > limit:
                continue
            if bu >= 0 and max(abs(u - bu), abs(v - bv)) >= 3:
                limit = min(limit, max(c, best_sad))
            if c < best_sad or (c == best_sad and i < bv * side + bu):
                best_sad = c
                bu, bv = u, v
        if bu < 0:
            out[k, 2] = np.inf
            out[k, 3] = np.inf
            continue
        best = cost[bv, bu]
        second = np.inf
        for v in range(side):
            for u in range(side):
                if (abs(u - bu) >= 2 or abs(v - bv) >= 2) and cost[v, u] < second:
                    second = cost[v, u]
        # The sub-pixel fit needs the four neighbours' whole costs.
        for dv, du in ((0, -1), (0, 1), (-1, 0), (1, 0)):
            v, u = bv + dv, bu + du
            if 0 <= v < side and 0 <= u < side and sad[v, u] > limit:
                c = _rect_cost(src, dst, x0, y0, x1, y1, s, px + u - radius, py + v - radius,
                               offset, never)
                cost[v, u] = c / count
        fx = 0.0
        fy = 0.0
        if 0 < bu < side - 1:
            fx = _vertex(cost[bv, bu - 1], best, cost[bv, bu + 1])
        if 0 < bv < side - 1:
            fy = _vertex(cost[bv - 1, bu], best, cost[bv + 1, bu])
        flags = FLAG_VALID
        if (bu == 0 or bv == 0 or bu == side - 1 or bv == side - 1
                or not (math.isfinite(cost[bv, bu - 1]) and math.isfinite(cost[bv, bu + 1])
                        and math.isfinite(cost[bv - 1, bu]) and math.isfinite(cost[bv + 1, bu]))):
            flags |= FLAG_EDGE
        out[k, 0] = px + bu - radius + fx
        out[k, 1] = py + bv - radius + fy
        out[k, 2] = best
        out[k, 3] = second
        out[k, 4] = flags
    return out


def _vertex_reference(cm: float, c0: float, cp: float) -> float:
    denom = max(cm, cp) - c0
    if not (denom > 0) or not np.isfinite(cm) or not np.isfinite(cp):
        return 0.0
    return float(np.clip(0.5 * (cm - cp) / denom, -0.5, 0.5))


def block_match_reference(src: np.ndarray, dst: np.ndarray, rects: np.ndarray,
                          steps: np.ndarray, pred: np.ndarray, radius: int,
                          offset: int) -> np.ndarray:
    """NumPy twin of :func:`block_match`: the whole cost surface of each rectangle at once."""
    h, w = dst.shape
    src = np.asarray(src, np.int64)
    dst = np.asarray(dst, np.int64)
    offs = np.arange(-radius, radius + 1)
    out = np.zeros((len(rects), 5))
    for k, (x0, y0, x1, y1) in enumerate(np.asarray(rects, np.int64)):
        s = int(steps[k])
        ys, xs = np.arange(y0, y1, s), np.arange(x0, x1, s)
        patch = src[np.ix_(ys, xs)]
        oy = pred[k, 1] + offs  # candidate offsets, per axis
        ox = pred[k, 0] + offs
        inside = (((y0 + oy >= 0) & (y1 + oy <= h))[:, None]
                  & ((x0 + ox >= 0) & (x1 + ox <= w))[None])
        cost = np.full((len(offs), len(offs)), np.inf)
        for v, u in zip(*np.nonzero(inside)):
            cand = dst[np.ix_(ys + oy[v], xs + ox[u])]
            cost[v, u] = float(np.abs(patch + offset - cand).sum()) / patch.size
        if not inside.any():
            out[k, 2:4] = np.inf
            continue
        bv, bu = np.unravel_index(np.argmin(cost), cost.shape)  # first minimum, row-major
        vv, uu = np.meshgrid(np.arange(len(offs)), np.arange(len(offs)), indexing="ij")
        far = (np.abs(uu - bu) >= 2) | (np.abs(vv - bv) >= 2)
        second = cost[far].min() if far.any() else np.inf
        last = len(offs) - 1
        fx = fy = 0.0
        if 0 < bu < last:
            fx = _vertex_reference(cost[bv, bu - 1], cost[bv, bu], cost[bv, bu + 1])
        if 0 < bv < last:
            fy = _vertex_reference(cost[bv - 1, bu], cost[bv, bu], cost[bv + 1, bu])
        edge = (bu in (0, last) or bv in (0, last)
                or not np.isfinite(cost[[bv, bv, bv - 1, bv + 1], [bu - 1, bu + 1, bu, bu]]).all())
        out[k] = (ox[bu] + fx, oy[bv] + fy, cost[bv, bu], second,
                  FLAG_VALID | (FLAG_EDGE if edge else 0))
    return out


# -- robust pan + zoom fit ------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Lower weighted median: the smallest value whose cumulative weight reaches half."""
    order = np.argsort(values, kind="mergesort")
    total = 0.0
    for i in order:
        total += weights[i]
    acc = 0.0
    for i in order:
        acc += weights[i]
        if acc >= 0.5 * total:
            return values[i]
    return values[order[-1]]


@njit(cache=True, nogil=True)
def _solve(q: np.ndarray, d: np.ndarray, wt: np.ndarray) -> tuple[float, float, float, bool]:
    """Weighted least squares of ``d = a * q + t`` (both axes share ``a``) -> a, tx, ty, ok."""
    sw = 0.0
    sqx = 0.0
    sqy = 0.0
    sqq = 0.0
    sdx = 0.0
    sdy = 0.0
    sqd = 0.0
    for i in range(q.shape[0]):
        c = wt[i]
        sw += c
        sqx += c * q[i, 0]
        sqy += c * q[i, 1]
        sqq += c * (q[i, 0] * q[i, 0] + q[i, 1] * q[i, 1])
        sdx += c * d[i, 0]
        sdy += c * d[i, 1]
        sqd += c * (q[i, 0] * d[i, 0] + q[i, 1] * d[i, 1])
    if sw <= 0.0:
        return 0.0, 0.0, 0.0, False
    # Eliminate t: tx = (sdx - a sqx) / sw, ty likewise.
    den = sqq - (sqx * sqx + sqy * sqy) / sw
    if den <= 1e-9 * max(sqq, 1e-30):
        return 0.0, sdx / sw, sdy / sw, True  # all points at one place: translation only
    a = (sqd - (sqx * sdx + sqy * sdy) / sw) / den
    return a, (sdx - a * sqx) / sw, (sdy - a * sqy) / sw, True


@njit(cache=True, nogil=True)
def fit_pan_zoom(q: np.ndarray, d: np.ndarray, weight: np.ndarray, min_sigma: float,
                 iters: int) -> np.ndarray:
    """Fit ``d = (scale - 1) * q + t`` robustly.

    Args:
        q: (N, 2) point positions relative to the centre of the zoom.
        d: (N, 2) measured displacements at those points.
        weight: (N,) prior weight of each point (0 = ignore).
        min_sigma: floor of the residual scale (the measurement noise), same unit as ``d``.
        iters: Tukey IRLS iterations after the median start.

    Returns:
        float64 ``[scale - 1, tx, ty, sigma, inlier]``: ``sigma`` the robust residual scale,
        ``inlier`` the share of the prior weight kept by the final Tukey weights (0 .. 1).
        All zero when no point has weight.
    """
    n = q.shape[0]
    out = np.zeros(5, np.float64)
    total = weight.sum()
    if n == 0 or not (total > 0.0):
        return out
    pos = weight > 0.0
    qw = q[pos]
    dw = d[pos]
    ww = weight[pos]
    m = qw.shape[0]
    # Start: median translation, then the median of per-point radial scale estimates.
    tx = _weighted_median(dw[:, 0].copy(), ww)
    ty = _weighted_median(dw[:, 1].copy(), ww)
    qq = qw[:, 0] * qw[:, 0] + qw[:, 1] * qw[:, 1]
    far = qq > 0.25 * qq.max()
    a = 0.0
    if far.sum() >= 2:
        ratios = ((dw[far, 0] - tx) * qw[far, 0] + (dw[far, 1] - ty) * qw[far, 1]) / qq[far]
        a = _weighted_median(ratios, ww[far])
    res = np.empty(m, np.float64)
    wt = np.empty(m, np.float64)
    sigma = min_sigma
    for _ in range(iters + 1):
        for i in range(m):
            rx = dw[i, 0] - a * qw[i, 0] - tx
            ry = dw[i, 1] - a * qw[i, 1] - ty
            res[i] = math.sqrt(rx * rx + ry * ry)
        sigma = max(_MAD * _weighted_median(res.copy(), ww), min_sigma)
        c = _TUKEY * sigma
        for i in range(m):
            r = res[i] / c
            wt[i] = ww[i] * (1.0 - r * r) ** 2 if r < 1.0 else 0.0
        a2, tx2, ty2, ok = _solve(qw, dw, wt)
        if not ok:
            break
        a, tx, ty = a2, tx2, ty2
    out[0] = a
    out[1] = tx
    out[2] = ty
    out[3] = sigma
    out[4] = min(wt.sum() / ww.sum(), 1.0)
    return out


def _weighted_median_reference(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][min(np.searchsorted(cum, 0.5 * cum[-1]), len(cum) - 1)])


def fit_pan_zoom_reference(q: np.ndarray, d: np.ndarray, weight: np.ndarray,
                           min_sigma: float, iters: int) -> np.ndarray:
    """NumPy twin of :func:`fit_pan_zoom` (the least squares solved with ``np.linalg.lstsq``)."""
    q, d, weight = (np.asarray(x, np.float64) for x in (q, d, weight))
    if len(q) == 0 or not weight.sum() > 0:
        return np.zeros(5)
    pos = weight > 0
    q, d, ww = q[pos], d[pos], weight[pos]
    tx = _weighted_median_reference(d[:, 0], ww)
    ty = _weighted_median_reference(d[:, 1], ww)
    qq = (q**2).sum(axis=1)
    far = qq > 0.25 * qq.max()
    a = 0.0
    if far.sum() >= 2:
        ratios = ((d[far] - [tx, ty]) * q[far]).sum(axis=1) / qq[far]
        a = _weighted_median_reference(ratios, ww[far])
    sigma = min_sigma
    wt = ww
    for _ in range(iters + 1):
        res = np.hypot(*(d - a * q - [tx, ty]).T)
        sigma = max(_MAD * _weighted_median_reference(res, ww), min_sigma)
        r = res / (_TUKEY * sigma)
        wt = np.where(r < 1, ww * (1 - r * r) ** 2, 0.0)
        if not wt.sum() > 0:
            break
        # Rows: x equations then y equations; unknowns a, tx, ty.
        design = np.concatenate([np.stack([q[:, 0], np.ones(len(q)), np.zeros(len(q))], 1),
                                 np.stack([q[:, 1], np.zeros(len(q)), np.ones(len(q))], 1)])
        sw = np.sqrt(np.concatenate([wt, wt]))
        if np.ptp(q, axis=0).max() == 0:
            tx, ty = (wt[:, None] * d).sum(axis=0) / wt.sum()
            a = 0.0
            continue
        a, tx, ty = np.linalg.lstsq(design * sw[:, None], np.concatenate([d[:, 0], d[:, 1]]) * sw,
                                    rcond=None)[0]
    return np.array([a, tx, ty, sigma, min(wt.sum() / ww.sum(), 1.0)])
